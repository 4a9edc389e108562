"""The architecture holds: no import cycles, methods never import each other, private helpers stay home.

Reads every import statement of the project (function-level ones included) with `ast`, so a
cycle hidden behind a function-level import is caught too; then imports every module in one
fresh interpreter.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("utilities", "models")
METHOD_MODULES = {f"utilities.explain.{name}" for name in (
    "saliency", "gradcam", "gradcam_plusplus", "scorecam", "smoothgrad", "integrated_gradients",
    "guided_backprop", "guided_gradcam", "baselines")}
# Guided Grad-CAM is, by definition, guided backprop times Grad-CAM: it composes the two.
COMPOSITIONS = {"utilities.explain.guided_gradcam": {"utilities.explain.guided_backprop",
                                                     "utilities.explain.gradcam"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (`from pkg import mod` resolves to the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_methods_never_import_other_methods():
    graph = import_graph()
    assert METHOD_MODULES <= set(graph), METHOD_MODULES - set(graph)
    for method in sorted(METHOD_MODULES):
        others = (graph[method] & METHOD_MODULES) - COMPOSITIONS.get(method, set())
        assert not others, f"{method} imports the method module(s) {sorted(others)}"


def test_private_modules_and_the_package_boundaries():
    graph = import_graph()
    for name, imported in graph.items():
        for target in imported:
            package, _, leaf = target.rpartition(".")
            if leaf.startswith("_") and not leaf.startswith("__"):
                assert name.startswith(package), f"{name} imports {target}, private to {package}"
        if name.startswith("models"):
            outside = {t for t in imported if t.startswith("utilities") and t != "utilities"
                       and not t.startswith("utilities.common")}
            assert not outside, f"{name} imports {sorted(outside)}: models/ may only use utilities.common"
        if name.startswith("utilities.common"):
            project = {t for t in imported if not t.startswith("utilities.common") and t != "utilities"}
            assert not project, f"{name} imports {sorted(project)}: utilities.common depends on nothing"


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in project_modules() if not n.endswith("__main__"))
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_script_starts_and_shows_its_help():
    """The CLIs and bench scripts import what they need (a moved module breaks them loudly here)."""
    scripts = [*sorted(ROOT.glob("*.py")), ROOT / "utilities" / "download_wikiart.py",
               *sorted((ROOT / "bench").glob("*.py"))]
    script = ("import contextlib, io, runpy, sys\n"
              "for path in sys.argv[1:]:\n"
              "    sys.argv = [path, '--help']\n"
              "    try:\n"
              "        with contextlib.redirect_stdout(io.StringIO()):\n"
              "            runpy.run_path(path, run_name='__main__')\n"
              "    except SystemExit as exc:\n"
              "        assert exc.code in (0, None), (path, exc.code)\n")
    result = subprocess.run([sys.executable, "-c", script, *map(str, scripts)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

