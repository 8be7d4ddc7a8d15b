"""Issue 22 point 10: no import circles between the controlled-substance log and the infusion
session, nor inside either app (the services ⇄ compliance circle of `controlled`, the services ⇄
controlled_link circle of `infusions`), and one access helper module instead of copies.

The graph is read from the source (ast): every `import` / `from ... import` of an
`infusionclinic` module, at module level *and inside functions* (an import moved into a function
to dodge a circle is still a circle), leaving out `if TYPE_CHECKING:` blocks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "infusionclinic"
APPS = ("infusionclinic.controlled", "infusionclinic.infusions")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "tests" in parts or "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in MODULES}
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    out = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        out.add(candidate if candidate in MODULES else base)
    return out & MODULES.keys()


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import of one of ours."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function |= {id(child) for child in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            for target in _targets(module, node, path.name == "__init__.py") - {module}:
                out.append((target, id(node) in in_function))
    return out


GRAPH = {module: {target for target, _ in _imports(module)} for module in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in GRAPH:
        if module not in index:
            visit(module)
    return out


def test_no_import_circle_touches_the_controlled_or_infusions_apps():
    touching = [c for c in _cycles() if any(m.startswith(APPS) for m in c)]
    assert touching == []


def test_the_controlled_app_reaches_infusions_only_through_infusions_dose():
    """The log needs the session's pump dose (CS-32) and its open encounter (CS-42): one door."""
    used = {
        target
        for module in MODULES
        if module.startswith("infusionclinic.controlled")
        for target in GRAPH[module]
        if target.startswith("infusionclinic.infusions")
    }
    assert used <= {"infusionclinic.infusions.dose", "infusionclinic.infusions.models"}


def test_infusions_dose_imports_no_service_of_either_app():
    reached = _reachable("infusionclinic.infusions.dose")
    assert not reached & {
        "infusionclinic.controlled.services",
        "infusionclinic.controlled.compliance",
        "infusionclinic.infusions.services",
        "infusionclinic.infusions.controlled_link",
        "infusionclinic.infusions.selectors",
    }


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_function_level_import_between_controlled_and_infusions():
    hidden = [
        (module, target)
        for module in MODULES
        if module.startswith(APPS)
        for target, in_function in _imports(module)
        if in_function and target.startswith(APPS) and target.split(".")[1] != module.split(".")[1]
    ]
    assert hidden == []


def test_importing_the_ledger_services_does_not_load_the_session_services():
    """Run in a fresh interpreter: what `import infusionclinic.controlled.services` loads."""
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.test')\n"
        "django.setup()\n"
        "before = set(sys.modules)\n"
        "import infusionclinic.controlled.services\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert "infusionclinic.infusions.services" not in loaded
    assert "infusionclinic.infusions.controlled_link" not in loaded


def test_one_access_module_no_copies_of_require_denied_or_the_location_gate():
    """Point 10: `common/access.py` holds the location gate and the `denied` helper; the apps'
    `_require` / `_denied` copies and their own location gates are gone."""
    copies = []
    for module, path in MODULES.items():
        if module == "infusionclinic.common.access":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in {
                "_require",
                "_denied",
                "location_get_for_user",
                "cs_location_get_for_user",
            }:
                copies.append(f"{module}.{node.name}")
    assert copies == []
