"""The seams between packages hold (issue 16 item 7), read from the source with `ast`:

- `shared/` (the core) imports none of its adapters (`functions/`, `durable/`, `devhost/`,
  `containerapps/`, `function_app`) nor the Azure Functions SDKs, not even inside a function;
- `functions/` (HTTP routes) imports nothing from `durable/` but the package itself;
- `bench/` and `testsupport/` (their shared support code) import nothing from `tests/`;
- `shared/` has no import cycle among its modules, counting every import statement: at
  module level, inside functions (a deferred import that only dodges a cycle is still the
  cycle) and under `if TYPE_CHECKING:` (two modules that each need the other's types);
- `shared/backtest/` imports nothing inside a function or class (issue 16 item 4: the engine
  is layered so that every import can be at the top).

Today's exceptions are listed explicitly below. The lists can only shrink: an entry that is no
longer needed fails the test too, so whoever breaks a tie also deletes its line."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ADAPTERS = ("functions", "durable", "devhost", "containerapps", "function_app")
FUNCTIONS_SDKS = ("azure.functions", "azure.durable_functions")
PROJECT = {"shared", *ADAPTERS, "tests", "testsupport", "bench", "tools"}

# functions/ -> durable/ internals that exist today: none (the run service is in
# shared/backtest/runs/ since issue 16 item 1).
ALLOWED_FUNCTIONS_TO_DURABLE: frozenset[tuple[str, str]] = frozenset()

# Imports inside a function or class in shared/backtest/, as (module, imported module): only
# a third-party library too slow to import at start-up, never a module of the project.
ALLOWED_BACKTEST_LOCAL_IMPORTS: frozenset[tuple[str, str]] = frozenset(
    {
        # matplotlib costs about a second to import; only a sweep's results draw a chart
        ("shared.backtest.chart", "matplotlib"),
        ("shared.backtest.chart", "matplotlib.pyplot"),
    }
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.Module, module_level: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    if not module_level:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node
        return
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            pending.extend(node.orelse if _is_type_checking(node) else [*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With):
            pending.extend(node.body)


def imported_modules(name: str, path: Path, module_level: bool = False) -> set[str]:
    """Every module `path` imports, absolute. Inside the project, `from pkg import sub` names
    `pkg.sub` when `sub` is a module and `pkg` when it is a name defined there; outside it,
    both (the project's files say nothing about a library's layout)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text()), module_level):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = here[: len(here) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        for alias in node.names:
            candidate = f"{module}.{alias.name}"
            if module.split(".")[0] not in PROJECT:
                found.update({module, candidate})  # `from azure import functions` is caught
            elif _is_project_module(candidate):
                found.add(candidate)  # a submodule: its package is not imported again
            else:
                found.add(module)  # a name defined in `module`
    return found


def _is_project_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


def boundary_violations(package: str, forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    return {
        (name, imported)
        for name, path in _modules(package).items()
        for imported in imported_modules(name, path)
        if _within(imported, forbidden)
    }


def import_graph(modules: Mapping[str, Path], module_level: bool = False) -> dict[str, set[str]]:
    """Each module's imports among `modules` (every import statement, or only those that run
    when the module is imported)."""
    return {
        name: {m for m in imported_modules(name, path, module_level) if m in modules} - {name}
        for name, path in modules.items()
    }


def shared_import_graph(module_level: bool = False) -> dict[str, set[str]]:
    return import_graph(_modules("shared"), module_level)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def local_imports(path: Path) -> set[str]:
    """The modules `path` imports inside a function or class body, as written (`.x` for a
    relative import)."""
    found: set[str] = set()
    pending: list[tuple[ast.AST, bool]] = [(ast.parse(path.read_text()), False)]
    while pending:
        node, nested = pending.pop()
        for child in ast.iter_child_nodes(node):
            inside = nested or isinstance(child, _SCOPES)
            if inside and isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif inside and isinstance(child, ast.ImportFrom):
                found.add("." * child.level + (child.module or ""))
            pending.append((child, inside))
    return found


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_shared_imports_no_adapter_and_no_functions_sdk() -> None:
    violations = boundary_violations("shared", ADAPTERS + FUNCTIONS_SDKS)
    assert not violations, f"shared/ must not import adapters or azure.functions: {violations}"


def test_bench_and_testsupport_import_nothing_from_tests() -> None:
    for package in ("bench", "testsupport"):
        violations = boundary_violations(package, ("tests",))
        assert not violations, f"{package}/ imports tests/ (move it to testsupport/): {violations}"


def test_functions_import_no_durable_internals_beyond_the_allow_list() -> None:
    violations = {
        (name, imported)
        for name, imported in boundary_violations("functions", ("durable",))
        if imported != "durable"
    }
    new = violations - ALLOWED_FUNCTIONS_TO_DURABLE
    gone = ALLOWED_FUNCTIONS_TO_DURABLE - violations
    assert not new, f"functions/ imports durable/ internals (move the code to shared/): {new}"
    assert not gone, f"no longer imported: delete from ALLOWED_FUNCTIONS_TO_DURABLE: {gone}"


def test_shared_has_no_import_cycle() -> None:
    found = cycles(shared_import_graph())
    assert not found, (
        "import cycles in shared/ (module-level, function-local or TYPE_CHECKING imports; "
        f"move what both need into a module of its own): {sorted(sorted(c) for c in found)}"
    )


def test_backtest_imports_nothing_inside_functions_beyond_the_allow_list() -> None:
    found = {
        (name, imported)
        for name, path in _modules("shared/backtest").items()
        for imported in local_imports(path)
    }
    new = found - ALLOWED_BACKTEST_LOCAL_IMPORTS
    gone = ALLOWED_BACKTEST_LOCAL_IMPORTS - found
    assert not new, f"imports inside functions in shared/backtest/ (import at the top): {new}"
    assert not gone, f"no longer imported: delete from ALLOWED_BACKTEST_LOCAL_IMPORTS: {gone}"


# The checks themselves, on graphs and files whose answer is known.


def test_a_cycle_closed_by_a_deferred_or_type_checking_import_is_found(tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{x}.py" for x in "abcd")
    a.write_text("import shared.t.b\nimport shared.t.c\n")
    b.write_text("def later():\n    import shared.t.a\n")  # the deferred import closes a-b
    c.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import shared.t.a\n")
    d.write_text("import shared.t.a\n")  # imports the cycle, is not part of it
    modules = {"shared.t.a": a, "shared.t.b": b, "shared.t.c": c, "shared.t.d": d}
    assert cycles(import_graph(modules, module_level=True)) == set()
    assert cycles(import_graph(modules)) == {frozenset({"shared.t.a", "shared.t.b", "shared.t.c"})}


def test_local_imports_are_those_inside_a_function_or_class(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from shared.typed import Only\n"
        "def f():\n"
        "    import json\n"
        "    if True:\n"
        "        from ..pkg import thing\n"
        "    def g():\n"
        "        from shared.deep import x\n"
        "class C:\n"
        "    from shared.config import get_settings\n"
        "    async def m(self):\n"
        "        import shared.errors\n"
    )
    assert local_imports(source) == {
        "json",
        "..pkg",
        "shared.deep",
        "shared.config",
        "shared.errors",
    }


def test_cycles_finds_each_cycle_once_and_ignores_chains() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a"},
        "d": {"a", "e"},
        "e": {"f"},
        "f": {"e"},
        "g": set(),
    }
    assert cycles(graph) == {frozenset("abc"), frozenset("ef")}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == set()


def test_imports_are_resolved_and_type_checking_blocks_skipped(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..other import thing\n"
        "import shared.config\n"
        "if TYPE_CHECKING:\n"
        "    from shared.typed import Only\n"
        "else:\n"
        "    from shared.runtime import Real\n"
        "try:\n"
        "    import shared.optional\n"
        "except ImportError:\n"
        "    import shared.fallback\n"
        "def later():\n"
        "    import functions.backtests\n"
    )
    name = "shared.pkg.mod"
    top = imported_modules(name, source, module_level=True)
    # names defined in a module resolve to it; submodules to themselves
    assert {"shared.pkg", "shared.other", "shared.config", "shared.runtime"} <= top
    assert {"shared.optional", "shared.fallback"} <= top
    assert "shared.typed" not in top
    assert "functions.backtests" not in top
    every = imported_modules(name, source)
    assert {"functions.backtests", "shared.typed"} <= every
    real = ROOT / "shared" / "auth" / "tokens.py"
    tokens = imported_modules("shared.auth.tokens", real, module_level=True)
    assert "shared.auth.dev_issuer" in tokens  # `from shared.auth import dev_issuer`
    assert "shared.auth" not in tokens  # ... is not an import of the package's __init__
    assert {"shared.config", "shared.errors"} <= shared_import_graph()["shared.auth.tokens"]
    assert _within("azure.functions", FUNCTIONS_SDKS)
    assert not _within("azure.functionsx", FUNCTIONS_SDKS)
