"""The package's modules import each other bottom-up only (h11's strict module order), with no cycle.

Every ``import`` of every module counts: module level, inside functions, and under
``TYPE_CHECKING``. Run this file as a script to print the module graph (``python -m tests.test_layers``).
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = "airflow_import_status"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("errors", (r"errors", r"scrubbing")),
    ("values", (r"result", r"parsing", r"polling", r"events", r"refusals")),
    ("transport", (r"transport", r"responses")),
    ("specs", (r"vendors\.spec", r"vendors\.\w+\.spec")),
    ("codecs", (r"vendors\.\w+\.codec",)),
    ("registry", (r"vendors(\.\w+)?", r"get_provider_info")),
    ("airflow", (r"version_compat", r"runtime", r"metrics", r"lineage", r"outcome", r"rejected")),
    ("hooks", (r"hooks(\..+)?",)),
    ("triggers", (r"triggers(\..+)?",)),
    ("waiting", (r"waiting",)),
    ("sensors", (r"sensors(\..+)?",)),
    ("operators", (r"operators(\..+)?",)),
    ("plugins", (r"plugins(\..+)?",)),
    ("simulators", (r"simulators(\..+)?", r"demo")),
)
"""Bottom-up: a module may import its own layer (without a cycle) or a lower one, never a higher one.
The simulators and the demo are shipped for users' tests; no runtime module imports them."""

RUNTIME_TOP = "plugins"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, *, run_time_only: bool = False) -> set[str]:
    """The package modules ``path`` imports (``from pkg import mod`` counts as importing ``mod``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    type_only = {id(inner) for node in ast.walk(tree) if _is_type_checking(node) for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if run_time_only and id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(
                    [PACKAGE, *package.split(".")][: len(package.split(".")) + 2 - node.level] if package else [PACKAGE]
                )
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    prefix = PACKAGE + "."
    return {imported[len(prefix) :] for imported in found if imported.startswith(prefix)}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def module_paths() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py")) if module_name(path)}


def module_graph() -> dict[str, set[str]]:
    """Each package module (``errors``, ``vendors.which50.codec``...) and the package modules it imports."""
    paths = module_paths()
    return {name: imports_of(path) & set(paths) - {name} for name, path in sorted(paths.items())}


KNOWN_TYPE_ONLY: frozenset[tuple[str, str]] = frozenset()
"""Type-only imports against the layer order (they never run, but close cycles for a reader and for
mypy); this list only shrinks: each must stay type-only, and a new one fails the test."""


KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset()
"""Run-time imports against the layer order not yet removed; this list only shrinks."""


def checked_graph() -> dict[str, set[str]]:
    """The module graph the order and cycle checks read: every import but the known exceptions."""
    known = KNOWN_TYPE_ONLY | KNOWN_UPWARD
    return {module: {i for i in deps if (module, i) not in known} for module, deps in GRAPH.items()}


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(re.fullmatch(pattern, module) for pattern in patterns):
            return index
    raise LookupError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (module, imported)
        for module, deps in graph.items()
        for imported in deps
        if layer_of(imported) > layer_of(module)
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, as found by a depth-first walk (one path per back edge)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                found.append([*stack[stack.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module)
    return found


GRAPH = module_graph()


def test_every_module_has_a_layer():
    for module in GRAPH:
        layer_of(module)


def test_no_import_points_upward():
    upward = upward_imports(checked_graph())
    assert not upward, f"imports against the layer order {[name for name, _ in LAYERS]}: {sorted(upward)}"


def test_no_import_cycle():
    assert cycles(checked_graph()) == []


def test_the_known_exceptions_are_still_there():
    assert all(imported in GRAPH[module] for module, imported in KNOWN_UPWARD), "drop it from KNOWN_UPWARD"


def test_the_known_type_only_imports_are_type_only_and_still_there():
    paths = module_paths()
    for module, imported in KNOWN_TYPE_ONLY:
        assert imported in GRAPH[module], f"{module} no longer imports {imported}: drop it from KNOWN_TYPE_ONLY"
        assert imported not in imports_of(paths[module], run_time_only=True), f"{module} imports {imported} at run time"


def test_runtime_never_imports_the_simulators_or_the_demo():
    top = [name for name, _ in LAYERS].index(RUNTIME_TOP)
    simulators = {m for m in GRAPH if layer_of(m) > top}
    leaks = {(m, i) for m in GRAPH if layer_of(m) <= top for i in GRAPH[m] & simulators}
    assert not leaks


def test_layers_below_airflow_import_nothing_from_airflow_at_run_time():
    """Errors, transport, specs, codecs and the registry (type-only imports aside: they never run)."""
    below = [name for name, _ in LAYERS].index("airflow")
    for module, path in module_paths().items():
        if layer_of(module) < below:
            tree = ast.parse(path.read_text())
            type_only = {
                id(inner)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                for inner in ast.walk(node)
            }
            airflow = sorted(
                name
                for node in ast.walk(tree)
                if id(node) not in type_only
                for name in (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if name.split(".")[0] == "airflow"
            )
            assert not airflow, f"{module} imports Airflow ({airflow})"


def test_each_spec_names_its_parts_in_their_layers():
    """The dotted paths of ``VendorClasses`` (loaded on use) point where each part belongs, and resolve."""
    from airflow_import_status.vendors import builtin_specs

    prefix = PACKAGE + "."
    for spec in builtin_specs():
        named = {"codecs": spec.classes.codec, "hooks": spec.classes.hook, "sensors": spec.classes.sensor}
        named |= {"simulators": spec.classes.simulator}
        if spec.classes.operator:
            named["operators"] = spec.classes.operator
        for layer, path in named.items():
            assert path.startswith(prefix) and LAYERS[layer_of(path[len(prefix) :].rpartition(".")[0])][0] == layer
        assert spec.hook_class.spec is spec and spec.sensor_class.spec is spec
        assert spec.codec is importlib.import_module(spec.classes.codec.rpartition(".")[0]).CODEC


def test_the_check_catches_an_upward_import():
    graph = {**GRAPH, "errors": GRAPH["errors"] | {"hooks.base"}}
    assert ("errors", "hooks.base") in upward_imports(graph)
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from airflow_import_status.errors import snippet", {"errors", "errors.snippet"}),
        ("def f():\n    import airflow_import_status.transport", {"transport"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import result", {"hooks", "hooks.result"}),
    ],
)
def test_imports_of_reads_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    package = tmp_path / PACKAGE / "hooks"
    package.mkdir(parents=True)
    (package / "x.py").write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path / PACKAGE)
    assert imports_of(package / "x.py") == expected


def main() -> None:
    """Print which module imports which layer."""
    names = [name for name, _ in LAYERS]
    for module, deps in GRAPH.items():
        by_layer = sorted({layer_of(d) for d in deps})
        print(f"{names[layer_of(module)]:>10} {module:<34} -> {', '.join(names[i] for i in by_layer) or '-'}")


if __name__ == "__main__":
    main()
