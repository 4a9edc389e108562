"""The docs against the code: flag tables, defaults, links and the commands they show.

README.md, docs/*.md and utilities/README.md are read as text; nothing is run, downloaded or built.
- A *flag table* is a Markdown table whose header is `flag | default | meaning`. It documents the
  program of its page (docs/gan.md: gan.py) unless a comment right above it names another one,
  e.g. `<!-- flags: python utilities/download_wikiart.py -->`. Every option in such tables must be
  one of the program's argparse parser, every option of the parser must be in a table, and the
  choices written as `{a,b}` must be the parser's.
- Defaults: a default written as one value (`` `0.01` ``, `` `vgg16` ``, `0`) must equal the parser's
  default (paths relative to the project, lists joined by commas, numbers compared as numbers). A
  parser default of None means the program computes it when it runs (`--epochs`: 40 for digits, 20
  for mnist); the table then describes it in words, and may not give a bare value. A switch
  (`--resume`, `--no-progress`) has the default `off` (or an empty cell).
- Every relative link and image resolves to a file of the project, and `#anchor`s of Markdown files
  to one of their headings (GitHub's slugs).
- Every `python <program>.py ...` and `python -m <project module> ...` command (fenced code blocks
  and inline code) names a file that exists, and its arguments parse with that program's parser.
  The top-level programs, the WikiArt downloader and `python -m utilities.explain` expose their
  parser; for the others (bench/ scripts, `python -m` modules that build the parser inside `main`)
  a parser is rebuilt from the `add_argument` calls of the source, which checks option names,
  arity and literal choices.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib
import io
import math
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from utilities.explain import model_args

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = sorted([ROOT / "README.md", ROOT / "utilities" / "README.md", *DOCS.glob("*.md")])
SYNTHESIS_PROGRAMS = ("class_visualisation", "fooling", "sweep")   # parsed with their own parsers
TOP_LEVEL_PROGRAMS = ("assignment_3a", "assignment_3b", "features_svm", "style_transfer", "autoencoder",
                      "domain_adaptation", "gan")
PROJECT_PACKAGES = ("utilities", "models", "tests", "bench")
NONE_WORDS = {"", "none", "off", "—", "-"}

# (program, option) -> why the table's default may differ from the parser's. Keep it short: a
# computed default is None in the parser and needs no entry here.
DEFAULT_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --------------------------------------------------------------------------- parsers


def _real_parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    """Program key (what follows `python` in a command) -> the program's own parser."""
    def top_level(name: str) -> Callable[[], argparse.ArgumentParser]:
        return lambda: importlib.import_module(name).build_parser()

    def download() -> argparse.ArgumentParser:
        from utilities.wikiart.download import build_parser
        return build_parser()

    def explain_single() -> argparse.ArgumentParser:
        from assignment_3b import METHOD_NAMES
        from utilities.explain.single import build_parser
        return build_parser(METHOD_NAMES)

    parsers = {f"{name}.py": top_level(name) for name in TOP_LEVEL_PROGRAMS}
    parsers["utilities/download_wikiart.py"] = download
    parsers["-m utilities.wikiart.download"] = download
    parsers["-m utilities.explain"] = explain_single
    parsers["-m utilities.digits.export"] = lambda: importlib.import_module("utilities.digits.export").build_parser()
    for name in SYNTHESIS_PROGRAMS:    # take the model names: models.ALL_MODEL_NAMES, model_args' copy
        parsers[f"-m utilities.explain.synthesis.{name}"] = functools.partial(
            lambda module: importlib.import_module(module).build_parser(model_args.ALL_MODEL_NAMES),
            f"utilities.explain.synthesis.{name}")
    return parsers


REAL_PARSERS = _real_parsers()
# the programs whose every flag must be in a docs table (one key per program)
DOCUMENTED_PROGRAMS = tuple(k for k in REAL_PARSERS
                            if k != "-m utilities.wikiart.download" and "synthesis" not in k)


@functools.cache
def real_parser(key: str) -> argparse.ArgumentParser:
    parser = REAL_PARSERS[key]()
    parser.prog = f"python {key}"
    return parser


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


@functools.cache
def static_parser(path: Path) -> argparse.ArgumentParser | None:
    """A parser rebuilt from the literal parts of the file's `add_argument` calls (None: it has none)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parser = argparse.ArgumentParser(prog=_rel(path), add_help=True, conflict_handler="resolve")
    found = False
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_argument"):
            continue
        names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if not names:
            continue
        kwargs: dict = {}
        for kw in node.keywords:
            if kw.arg in ("action", "nargs", "dest", "const", "required") and _literal(kw.value) is not None:
                kwargs[kw.arg] = _literal(kw.value)
            elif kw.arg == "choices" and isinstance(_literal(kw.value), (list, tuple)):
                kwargs["choices"] = [str(c) for c in _literal(kw.value)]
            elif kw.arg == "type" and isinstance(kw.value, ast.Name) and kw.value.id in ("int", "float"):
                kwargs["type"] = {"int": int, "float": float}[kw.value.id]
            elif (kw.arg == "action" and isinstance(kw.value, ast.Attribute)
                  and kw.value.attr == "BooleanOptionalAction"):
                kwargs["action"] = argparse.BooleanOptionalAction
        if "choices" in kwargs and kwargs.get("type") in (int, float):
            kwargs["choices"] = [kwargs["type"](c) for c in kwargs["choices"]]
        if names[0].startswith("-") and "dest" not in kwargs and kwargs.get("action") not in ("help", "version"):
            kwargs["dest"] = names[0].lstrip("-").replace("-", "_")  # several parsers in one file may clash
        if kwargs.get("action") == "help":
            continue
        parser.add_argument(*names, **kwargs)
        found = True
    return parser if found else None


def parse_problem(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """None when `args` parse, else argparse's message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(args)
    except SystemExit as exc:
        if exc.code not in (0, None):
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"
    return None


# --------------------------------------------------------------------------- Markdown


def split_fences(text: str) -> tuple[list[tuple[str, list[tuple[int, str]]]], list[str]]:
    """(fenced blocks as (info string, [(line number, line)]), the text's lines with fenced lines blanked)."""
    blocks, outside = [], []
    fence, info, current = None, "", []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if fence is None:
            match = re.match(r"(`{3,}|~{3,})(.*)", stripped)
            if match:
                fence, info, current = match.group(1), match.group(2).strip(), []
                outside.append("")
            else:
                outside.append(line)
        else:
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                blocks.append((info, current))
                fence = None
            else:
                current.append((number, line))
            outside.append("")
    return blocks, outside


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: the text without markup, lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links -> their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    _, lines = split_fences(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result = set()
    for line in lines:
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return frozenset(result)


def table_cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.replace("\\|", "|").strip() for cell in re.split(r"(?<!\\)\|", body)]


def code_spans(text: str) -> list[str]:
    return [m.group(2) for m in re.finditer(r"(`+)(.+?)\1", text)]


class FlagRow:
    def __init__(self, doc: Path, line: int, program: str, cells: list[str]):
        self.doc, self.line, self.program = doc, line, program
        self.flag_cell, self.default_cell = cells[0], cells[1]

    @property
    def where(self) -> str:
        return f"{_rel(self.doc)}:{self.line}"


def flag_tables() -> list[FlagRow]:
    rows = []
    for doc in DOC_FILES:
        page_program = f"{doc.stem}.py" if doc.parent == DOCS and (ROOT / f"{doc.stem}.py").is_file() else None
        _, lines = split_fences(doc.read_text(encoding="utf-8"))
        i = 0
        while i < len(lines):
            cells = table_cells(lines[i]) if lines[i].lstrip().startswith("|") else []
            if [c.lower() for c in cells] != ["flag", "default", "meaning"]:
                i += 1
                continue
            program = page_program
            for back in lines[max(0, i - 3):i]:
                marker = re.search(r"<!--\s*flags:\s*python\s+(.+?)\s*-->", back)
                if marker:
                    program = marker.group(1)
            i += 2  # header and |---|
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(FlagRow(doc, i + 1, program or f"(no program for {_rel(doc)})",
                                    table_cells(lines[i]) + ["", ""]))
                i += 1
    return rows


def row_actions(row: FlagRow, parser: argparse.ArgumentParser) -> tuple[list[argparse.Action], list[str]]:
    """The parser actions a row names, and problems (unknown options or positionals)."""
    by_option = {o: a for a in parser._actions for o in a.option_strings}
    positionals = {name: a for a in parser._actions if not a.option_strings
                   for name in (a.dest.upper(), str(a.metavar))}
    actions, problems = [], []
    for span in code_spans(row.flag_cell):
        first = span.split()[0].rstrip(",") if span.split() else ""
        if first.startswith("-"):
            if first in by_option:
                actions.append(by_option[first])
            else:
                problems.append(f"{row.where}: {first} is not an option of {row.program}")
        elif re.fullmatch(r"[A-Z][A-Z_]*", span):
            if span in positionals:
                actions.append(positionals[span])
            else:
                problems.append(f"{row.where}: {span} is not a positional argument of {row.program}")
    if not actions and not problems:
        problems.append(f"{row.where}: no option in the flag cell {row.flag_cell!r}")
    if len({id(a) for a in actions}) > 1:
        problems.append(f"{row.where}: one option per row (aliases of one option are fine): {row.flag_cell!r}")
    return actions, problems


def _normalise(value) -> str:
    if isinstance(value, Path):
        if value.is_absolute():
            with contextlib.suppress(ValueError):
                value = value.relative_to(ROOT)
        return value.as_posix()
    if isinstance(value, (list, tuple)):
        return ",".join(_normalise(v) for v in value)
    return str(value)


def same_value(documented: str, value) -> bool:
    a, b = documented.strip().rstrip("/"), _normalise(value).rstrip("/")
    if a == b:
        return True
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except ValueError:
        return False


def default_problem(row: FlagRow, action: argparse.Action) -> str | None:
    cell = row.default_cell.strip()
    bare = cell.replace("`", "").strip()
    option = action.option_strings[0] if action.option_strings else action.dest.upper()
    if (row.program, option) in DEFAULT_EXCEPTIONS:
        return None
    if action.nargs == 0:  # a switch
        return None if bare.lower() in NONE_WORDS else f"{row.where}: {option} is a switch: its default is 'off'"
    default = action.default
    unset = default is None or (isinstance(default, (list, tuple)) and not default)
    single = re.fullmatch(r"`([^`]+)`", cell)
    if bare.lower() in NONE_WORDS:
        kind, value = "none", None
    elif single and "<" not in single.group(1):
        kind, value = "value", single.group(1)
    elif re.fullmatch(r"[^\s`<>]+", cell):
        kind, value = "value", cell
    else:
        kind, value = "words", cell
    if unset:
        if kind == "value":
            return (f"{row.where}: {option}: the table says {value!r}, the parser's default is {default!r} "
                    "(computed by the program: describe it in words)")
        return None
    if kind == "value":
        return None if same_value(value, default) else (
            f"{row.where}: {option}: the table says {value!r}, the parser's default is {_normalise(default)!r}")
    if any(same_value(span, default) for span in code_spans(cell)):
        return None
    return f"{row.where}: {option}: the table says {cell!r}, the parser's default is {_normalise(default)!r}"


def choices_problem(row: FlagRow, action: argparse.Action) -> str | None:
    written = re.search(r"\{([^}]*)\}", " ".join(code_spans(row.flag_cell)))
    option = action.option_strings[0] if action.option_strings else action.dest
    if action.choices is not None:
        expected = {str(c) for c in action.choices}
    elif isinstance(action.metavar, str) and action.metavar.startswith("{"):
        expected = set(action.metavar.strip("{}").split(","))
    else:
        expected = None
    if expected is None:
        return f"{row.where}: {option} has no choices in the parser, the table lists some" if written else None
    if not written:
        return f"{row.where}: {option}: write its choices as {{{','.join(sorted(expected))}}}"
    documented = {c.strip() for c in written.group(1).split(",")}
    return None if documented == expected else (
        f"{row.where}: {option}: the table's choices {sorted(documented)} are not the parser's {sorted(expected)}")


ROWS = flag_tables()


# --------------------------------------------------------------------------- commands


def command_lines(doc: Path) -> list[tuple[int, str, bool]]:
    """(line, command text, inline) of the fenced code blocks (not Python ones) and inline code spans."""
    blocks, outside = split_fences(doc.read_text(encoding="utf-8"))
    found = []
    for info, lines in blocks:
        if info.split()[:1] in (["python"], ["py"]):
            continue
        pending, start = "", 0
        for number, line in lines:
            text = re.sub(r"^\s*\$\s+", "", line) if not pending else line
            start = start if pending else number
            if text.rstrip().endswith("\\"):
                pending += text.rstrip()[:-1] + " "
                continue
            found.append((start, pending + text, False))
            pending = ""
    for number, line in enumerate(outside, 1):
        found += [(number, span, True) for span in code_spans(line)]
    return found


def python_commands(text: str) -> list[tuple[str, list[str]]]:
    """(program key, arguments) of each `python X.py ...` / `python -m module ...` in a command line."""
    commands = []
    for segment in re.split(r"\s(?:&&|\|\||;|\|)\s", text):
        try:
            tokens = shlex.split(segment, comments=True)
        except ValueError:
            continue
        while tokens and re.fullmatch(r"\w+=\S*", tokens[0]):
            tokens = tokens[1:]
        if len(tokens) < 2 or not re.search(r"(^|/)python3?$", tokens[0]):
            continue
        if any("<" in token for token in tokens[1:3]):
            continue  # a placeholder such as `python <program>.py`
        if tokens[1] == "-m" and len(tokens) > 2:
            if tokens[2].split(".")[0] in PROJECT_PACKAGES:
                commands.append((f"-m {tokens[2]}", tokens[3:]))
        elif tokens[1].endswith(".py"):
            commands.append((tokens[1], tokens[2:]))
    return commands


def program_file(key: str) -> Path:
    if key.startswith("-m "):
        base = ROOT / key[3:].replace(".", "/")
        return base / "__main__.py" if base.is_dir() else base.with_suffix(".py")
    return ROOT / key


def all_commands() -> list[tuple[str, str, list[str] | None]]:
    """(where, program key, arguments); arguments None for a bare inline `python -m utilities.explain`,
    which names the program rather than running it."""
    return [(f"{_rel(doc)}:{number}", key, None if inline and not args else args)
            for doc in DOC_FILES for number, text, inline in command_lines(doc)
            for key, args in python_commands(text)]


COMMANDS = all_commands()


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("program", DOCUMENTED_PROGRAMS)
def test_flag_tables_match_the_parser(program):
    parser = real_parser(program)
    rows = [row for row in ROWS if row.program == program]
    assert rows, f"no flag table documents {program} (docs/<program>.md, or a '<!-- flags: python {program} -->')"
    problems, documented = [], set()
    for row in rows:
        actions, row_problems = row_actions(row, parser)
        problems += row_problems
        if len(actions) == 1 or len({id(a) for a in actions}) == 1:
            for action in actions[:1]:
                documented.add(id(action))
                problems += [p for p in (default_problem(row, action), choices_problem(row, action)) if p]
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction) and id(action) not in documented:
            name = "/".join(action.option_strings) or action.dest.upper()
            problems.append(f"{program}: {name} is not in any flag table")
    assert not problems, "\n".join(problems)


def test_every_flag_table_names_a_program_with_a_parser():
    unknown = sorted({f"{row.where}: {row.program}" for row in ROWS if row.program not in REAL_PARSERS})
    assert not unknown, "flag tables of programs without a known parser:\n" + "\n".join(unknown)


@pytest.mark.parametrize("doc", DOC_FILES, ids=_rel)
def test_links_and_images_resolve(doc):
    _, lines = split_fences(doc.read_text(encoding="utf-8"))
    problems = []
    for number, line in enumerate(lines, 1):
        targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line)
        targets += re.findall(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", line)
        for target in targets:
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:, file:
                continue
            path_part, _, anchor = target.partition("#")
            path = (doc.parent / path_part).resolve() if path_part else doc
            where = f"{_rel(doc)}:{number}: {target}"
            if not path.exists():
                problems.append(f"{where}: no such file")
            elif ROOT not in path.parents and path != ROOT:
                problems.append(f"{where}: outside the project")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{where}: no heading with the anchor #{anchor} in {_rel(path)}")
    assert not problems, "\n".join(problems)


def test_commands_name_existing_programs_and_parse():
    assert len(COMMANDS) > 50  # the extraction finds the docs' commands
    problems = []
    for where, key, args in COMMANDS:
        path = program_file(key)
        if not path.is_file():
            problems.append(f"{where}: python {key}: no such program ({_rel(path)})")
            continue
        parser = real_parser(key) if key in REAL_PARSERS else static_parser(path)
        if parser is None or args is None:
            continue  # reads sys.argv itself (tests/features_svm_data.py): existing is all we can check
        problem = parse_problem(parser, args)
        if problem:
            problems.append(f"{where}: python {key} {shlex.join(args)}: {problem}")
    assert not problems, "\n".join(problems)


def test_every_program_is_shown_with_a_command():
    shown = {key for _, key, _ in COMMANDS}
    missing = [key for key in DOCUMENTED_PROGRAMS if key not in shown]
    assert not missing, f"programs no command in the docs runs: {missing}"
