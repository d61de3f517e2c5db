"""Import rules of the layers (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # imports for type checking only do not count
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("modelwatch"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_library_never_imports_prefect(path: Path) -> None:
    bad = {name for name in _imports(path) if name == "prefect" or name.startswith("prefect.")}
    assert not bad, f"{path} imports {sorted(bad)}"


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


@pytest.mark.parametrize("path", _files("modelwatch/stats"), ids=lambda p: str(p.relative_to(REPO)))
def test_stats_import_no_io_library(path: Path) -> None:
    bad = {n for n in _imports(path) if n.split(".")[0] in IO_LIBS or n.startswith("modelwatch.io")}
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("flows"), ids=lambda p: str(p.relative_to(REPO)))
def test_flows_use_tasks_not_io_adapters(path: Path) -> None:
    bad = {n for n in _imports(path) if n.startswith("modelwatch.io")}
    assert not bad, f"{path} imports {sorted(bad)} (go through tasks/)"
