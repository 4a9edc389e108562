"""The option tables of docs/assignment_3b.md against the class-visualisation, sweep and fooling parsers.

tests/test_docs.py checks the `flag | default | meaning` tables of the programs it knows; these three
`python -m` programs build their parser from the model list, so their tables (`option | default |
meaning`, each under a `<!-- options: python -m MODULE -->` comment) are checked here with the same
rules: every option of the table is the parser's and every option of the parser is in the table,
choices written as `{a,b}` are the parser's, a default written as one value equals the parser's.
"""
from __future__ import annotations

import importlib
import re

import pytest

from tests.test_docs import DOCS, FlagRow, choices_problem, default_problem, row_actions, split_fences, table_cells

PAGE = DOCS / "assignment_3b.md"
PROGRAMS = ("utilities.explain.synthesis.class_visualisation", "utilities.explain.synthesis.sweep",
            "utilities.explain.synthesis.fooling")
# a default the table writes in words that test_docs' rules cannot compare
DEFAULT_WORDS = {("utilities.explain.synthesis.fooling", "--epsilon"): "8/255 (0.0314)"}


def option_rows() -> dict[str, list[FlagRow]]:
    _, lines = split_fences(PAGE.read_text(encoding="utf-8"))
    rows: dict[str, list[FlagRow]] = {}
    for i, line in enumerate(lines):
        marker = re.search(r"<!--\s*options:\s*python\s+-m\s+(\S+)\s*-->", line)
        if not marker:
            continue
        header = i + 1
        assert [c.lower() for c in table_cells(lines[header])] == ["option", "default", "meaning"], lines[header]
        j = header + 2
        while j < len(lines) and lines[j].lstrip().startswith("|"):
            rows.setdefault(marker.group(1), []).append(FlagRow(PAGE, j + 1, marker.group(1),
                                                                table_cells(lines[j]) + ["", ""]))
            j += 1
    return rows


@pytest.mark.parametrize("program", PROGRAMS)
def test_option_tables_match_the_parsers(program):
    import models
    parser = importlib.import_module(program).build_parser(models.ALL_MODEL_NAMES)
    rows = option_rows().get(program)
    assert rows, f"no '<!-- options: python -m {program} -->' table in {PAGE.name}"
    problems, documented = [], set()
    for row in rows:
        actions, row_problems = row_actions(row, parser)
        problems += row_problems
        for action in actions[:1]:
            documented.add(id(action))
            option = action.option_strings[0] if action.option_strings else action.dest.upper()
            if DEFAULT_WORDS.get((program, option)) == row.default_cell.strip():
                continue
            problems += [p for p in (default_problem(row, action), choices_problem(row, action)) if p]
    for action in parser._actions:
        if action.dest != "help" and id(action) not in documented:
            problems.append(f"{program}: {'/'.join(action.option_strings) or action.dest.upper()} is not in the table")
    assert not problems, "\n".join(problems)
