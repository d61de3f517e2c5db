"""Import rules of the layers (see docs/architecture.md).

::

    cli/         the command line          may import flows, tasks, modelwatch
    flows/       Prefect flows             may import tasks, modelwatch (not cli)
    tasks/       Prefect tasks             may import modelwatch (not flows, cli)
    modelwatch/  the library               never prefect, flows, tasks, cli
    tests/unit/  tests without Prefect     never prefect, flows, tasks

Every import statement counts, wherever it is: at module level, inside a function
(a lazy import), inside ``try``; relative imports are resolved, and
``importlib.import_module("...")`` / ``__import__("...")`` with a literal name
count too. Only ``if TYPE_CHECKING:`` blocks are skipped (never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of_source(source: str, *, module: str, is_package: bool = False) -> set[str]:
    """Every module a source imports; ``module`` resolves its relative imports."""
    tree = ast.parse(source)
    for node in ast.walk(tree):  # imports for type checking only do not count
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            node.body = []
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            # `from modelwatch import cli` imports the module modelwatch.cli
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in {"importlib.import_module", "import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return {name for name in names if name}


def _imports(path: Path) -> set[str]:
    return _imports_of_source(
        path.read_text(),
        module=_module_name(path),
        is_package=path.name == "__init__.py",
    )


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def _under(names: set[str], *packages: str) -> set[str]:
    return {n for n in names if n.split(".")[0] in packages}


def _ids(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_import_walk_sees_lazy_relative_and_dynamic_imports() -> None:
    """A rule is only as good as the walk: these must all be seen (and the type-only one not)."""
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import prefect.states
def command():
    from flows.monitor import monitor_model
    try:
        import tasks.store
    except ImportError:
        pass
def later():
    return importlib.import_module("flows.retrain"), __import__("prefect")
from . import cli
from ..io import store
"""
    seen = _imports_of_source(source, module="modelwatch.stats.drift")
    assert {
        "flows.monitor",
        "flows.monitor.monitor_model",
        "tasks.store",
        "flows.retrain",
        "prefect",
        "modelwatch.stats.cli",
        "modelwatch.io.store",
    } <= seen
    assert "prefect.states" not in seen
    assert "modelwatch.cli" in _imports_of_source("from modelwatch import cli", module="x")


@pytest.mark.parametrize("path", _files("modelwatch"), ids=_ids)
def test_the_library_never_imports_prefect(path: Path) -> None:
    bad = _under(_imports(path), "prefect")
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("modelwatch"), ids=_ids)
def test_the_library_never_imports_the_layers_above_it(path: Path) -> None:
    """modelwatch/ never imports flows, tasks or cli, not even lazily inside a function."""
    names = _imports(path)
    bad = _under(names, "flows", "tasks", "cli") | {
        n for n in names if n == "modelwatch.cli" or n.startswith("modelwatch.cli.")
    }
    assert not bad, f"{path} imports {sorted(bad)} (a layer above the library)"


@pytest.mark.parametrize("path", _files("tasks"), ids=_ids)
def test_tasks_never_import_flows_or_the_cli(path: Path) -> None:
    bad = _under(_imports(path), "flows", "cli")
    assert not bad, f"{path} imports {sorted(bad)} (tasks sit below flows)"


@pytest.mark.parametrize("path", _files("flows"), ids=_ids)
def test_flows_never_import_the_cli(path: Path) -> None:
    bad = _under(_imports(path), "cli")
    assert not bad, f"{path} imports {sorted(bad)} (the command line sits above flows)"


@pytest.mark.parametrize("path", _files("tests/unit"), ids=_ids)
def test_unit_tests_never_import_prefect_flows_or_tasks(path: Path) -> None:
    """tests/unit runs without Prefect; flow and task tests live in tests/flows."""
    bad = _under(_imports(path), "prefect", "flows", "tasks")
    assert not bad, f"{path} imports {sorted(bad)} (move the test to tests/flows)"


IO_LIBS = (
    "sqlalchemy",
    "mlflow",
    "great_expectations",
    "fsspec",
    "pyarrow",
    "requests",
    "sklearn",
    "httpx",
)


@pytest.mark.parametrize("path", _files("modelwatch/stats"), ids=_ids)
def test_stats_import_no_io_library(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in IO_LIBS or n.startswith("modelwatch.io")}
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("flows"), ids=_ids)
def test_flows_use_tasks_not_io_adapters(path: Path) -> None:
    bad = {n for n in _imports(path) if n.startswith("modelwatch.io")}
    assert not bad, f"{path} imports {sorted(bad)} (go through tasks/)"
