"""Shape rules of the Prefect layers (see docs/architecture.md, "Layers and import rules").

Read from the source with :mod:`ast` (nothing is imported): a task is a thin wrapper
over one library call, a flow reads as the pipeline, and no bundle of values travels
positionally.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_TASK_BODY_LINES = 15
MAX_POSITIONAL = 5


def _functions(folder: str) -> list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((path, node))
    return found


def _is_task(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "task":
            return True
    return False


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Source lines of the body without its docstring (blank lines and comments count)."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def _label(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"


def test_no_task_body_is_longer_than_fifteen_lines() -> None:
    long = [
        f"{_label(path, node)} {node.name}: {_body_lines(node)} lines"
        for path, node in _functions("tasks")
        if _is_task(node) and _body_lines(node) > MAX_TASK_BODY_LINES
    ]
    assert not long, "task bodies over 15 lines (move the rule into the library):\n" + "\n".join(
        long
    )


@pytest.mark.parametrize("folder", ["flows", "tasks"])
def test_no_function_takes_more_than_five_positional_parameters(folder: str) -> None:
    wide = []
    for path, node in _functions(folder):
        positional = [*node.args.posonlyargs, *node.args.args]
        names = [a.arg for a in positional if a.arg not in {"self", "cls"}]
        if len(names) > MAX_POSITIONAL:
            wide.append(f"{_label(path, node)} {node.name}({', '.join(names)})")
    assert not wide, "more than 5 positional parameters (make the rest keyword-only):\n" + (
        "\n".join(wide)
    )


@pytest.mark.parametrize("folder", ["flows", "tasks"])
def test_no_task_or_flow_calls_another_tasks_fn(folder: str) -> None:
    calls = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fn"
            ):
                calls.append(f"{_label(path, node)} {ast.unparse(node.func)}")
    assert not calls, "calls of a task's .fn (call the library function instead):\n" + (
        "\n".join(calls)
    )


def test_the_rules_see_what_they_check(tmp_path: Path) -> None:
    source = '''
@task(name="x")
def wrapper(a, b, c, d, e, f, *, g=1):
    """Doc."""
    return other.fn(a)
'''
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert _is_task(node)
    assert _body_lines(node) == 1
    assert len(node.args.args) == 6
