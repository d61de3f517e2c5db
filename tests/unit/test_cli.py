"""The ``modelwatch`` suite and quarantine commands, run through ``main`` on tmp dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cli.main import main
from modelwatch.io.store import Store
from modelwatch.io.suites import load_suite, write_suite
from modelwatch.simulate import generate_reference

SPEC_PATH = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "credit.yaml"
START = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with the credit spec, its reference data and an empty expectations folder."""
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = yaml.safe_load(SPEC_PATH.read_text())
    spec["sources"]["reference"] = {"path": str(tmp_path / "reference.parquet")}
    (specs / "credit.yaml").write_text(yaml.safe_dump(spec))
    generate_reference(2000, seed=3).to_parquet(tmp_path / "reference.parquet", index=False)
    monkeypatch.setenv("MODELWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELWATCH_SPECS_DIR", str(specs))
    monkeypatch.setenv("MODELWATCH_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
    monkeypatch.delenv("MODELWATCH_STORE_URL", raising=False)
    return tmp_path


def _suite_path(home: Path) -> Path:
    return home / "expectations" / "credit.json"


def test_suite_build_writes_a_new_suite(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suite", "build", "credit", "--typical-rows", "1500"]) == 0
    suite = load_suite(_suite_path(home))
    out = capsys.readouterr().out
    assert f"{_suite_path(home)}: new suite, {len(suite['expectations'])} expectation(s)" in out
    assert len(suite["expectations"]) > 50


def test_suite_rebuild_shows_the_diff_and_keeps_hand_written_expectations(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["suite", "build", "credit", "--typical-rows", "1500"]) == 0
    path = _suite_path(home)
    suite = load_suite(path)
    hand_written = {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "prediction_id", "regex": "^[0-9T]+-[0-9]+$"},
        "meta": {"severity": "warning", "notes": "ids come from the serving gateway"},
    }
    unique = next(e for e in suite["expectations"] if "unique" in e["type"])
    suite["expectations"].remove(unique)  # a person deleted a generated expectation...
    suite["expectations"].append(hand_written)  # ...and wrote one
    write_suite(suite, path)
    capsys.readouterr()

    assert main(["suite", "build", "credit"]) == 0  # no typical size: row-count bounds go

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 1 added, 1 removed, 0 changed; 1 hand-written kept"
    assert out[1:] == [
        "  + expect_column_values_to_be_unique prediction_id",
        "  - expect_table_row_count_to_be_between #2",
    ]
    rebuilt = load_suite(path)
    assert hand_written in rebuilt["expectations"]
    assert unique in rebuilt["expectations"]

    before = path.read_text()
    assert main(["suite", "build", "credit"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["  (no change)"]
    assert path.read_text() == before


def test_suite_build_dry_run_writes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suite", "build", "credit", "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert not _suite_path(home).exists()


def test_suite_build_names_a_broken_suite_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _suite_path(home).parent.mkdir(parents=True)
    _suite_path(home).write_text("{not json")
    assert main(["suite", "build", "credit"]) == 1
    assert f"{_suite_path(home)}: not valid JSON" in capsys.readouterr().err
    assert _suite_path(home).read_text() == "{not json"


def _quarantine_twice(home: Path) -> Store:
    store = Store(f"sqlite:///{home / 'home' / 'store.db'}")
    (home / "home").mkdir(exist_ok=True)
    store.upgrade_schema()
    for run in ("run-1", "run-2"):  # the same window quarantined twice: both recorded
        store.quarantine_files(
            "credit",
            window_start=START,
            window_end=START + timedelta(hours=1),
            files=[("/data/a.parquet", "ab" * 32)],
            reason="1 critical expectation(s) failed\n - column 'score': ...",
            flow_run_id=run,
        )
    return store


def test_quarantine_list_and_release_keep_history(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _quarantine_twice(home)
    assert main(["quarantine", "list", "credit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("2026-11-23T10:00Z  held" in line for line in lines)
    assert "/data/a.parquet  sha256=abababababab  run=run-1" in lines[0]

    assert main(["quarantine", "release", "credit", "--window-start", "2026-11-23T10:00"]) == 0
    out = capsys.readouterr().out
    assert "released 2 file(s)" in out
    assert "modelwatch monitor credit --window-end 2026-11-23T11:00:00+00:00" in out

    assert store.quarantined("credit") == []
    history = store.quarantined("credit", include_released=True)
    assert [(q["flow_run_id"], q["released"]) for q in history] == [
        ("run-1", True),
        ("run-2", True),
    ]
    assert main(["quarantine", "list", "credit"]) == 0
    assert capsys.readouterr().out == "no held quarantined files for model credit\n"
    assert main(["quarantine", "list", "credit", "--all"]) == 0
    assert capsys.readouterr().out.count("released") == 2


def test_quarantine_release_needs_a_held_window(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _quarantine_twice(home)
    assert main(["quarantine", "release", "credit"]) == 2
    assert "needs --window-start" in capsys.readouterr().err
    assert main(["quarantine", "release", "credit", "--window-start", "2026-11-23T11:00"]) == 1
    assert "no held quarantine" in capsys.readouterr().out


def test_suite_json_stays_reviewable(home: Path) -> None:
    assert main(["suite", "build", "credit"]) == 0
    text = _suite_path(home).read_text()
    assert text.endswith("\n") and json.loads(text)["name"] == "credit"


@pytest.mark.parametrize(
    ("argv", "model"),
    [
        ([], "credit"),
        (["--task", "regression"], "house"),
        (["--task", "multiclass"], "churn3"),
        (["--task", "multiclass", "--model", "churn3"], "churn3"),
    ],
)
def test_demo_task_picks_the_demo_model(
    argv: list[str], model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli import commands

    seen: list[str] = []
    monkeypatch.setattr(commands, "cmd_demo", lambda args: seen.append(args.model) or 0)
    assert main(["demo", *argv]) == 0
    assert seen == [model]


def test_demo_task_that_does_not_match_the_model_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli import commands

    monkeypatch.setattr(commands, "cmd_demo", lambda args: 0)
    with pytest.raises(
        SystemExit, match=r"--model credit is a binary model, not --task regression"
    ):
        main(["demo", "--task", "regression", "--model", "credit"])


def test_every_command_starts_from_the_environment_bootstrap(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")  # the user's: kept
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")  # unset: the bootstrap's default
    assert main(["suite", "build", "credit", "--dry-run"]) == 0
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "30"


def test_the_command_line_starts_without_importing_prefect_or_the_flows() -> None:
    """`modelwatch --help` stays fast: flows (and Prefect) are imported by the commands."""
    code = (
        "import sys, cli.main; cli.main.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'prefect', 'flows', 'tasks'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.serial  # asserts a wall-clock bound: not beside another test
def test_an_unknown_model_is_refused_in_a_second_before_prefect_starts(home: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "monitor", "nosuch"],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},  # never reached
        timeout=60,
    )
    assert done.returncode == 2  # the command cannot start (like a usage error)
    assert done.stderr.strip() == (
        f"modelwatch: error: no monitor spec for model 'nosuch' in {home / 'specs'}; "
        "available: ['credit']"
    )
    assert time.monotonic() - started < 10  # a temporary Prefect server alone takes ~15 s


def test_runs_of_a_model_says_when_there_are_none(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "nosuch"]) == 1
    assert (
        "no monitored windows of model 'nosuch' in the store (models with a spec: ['credit'])"
        in (capsys.readouterr().err)
    )
    assert main(["runs", "credit"]) == 0  # a known model that has not run yet


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"modelwatch {version('modelwatch')}"


@pytest.mark.serial  # asserts a wall-clock bound: not beside another test
def test_fleet_checks_every_spec_before_prefect_starts(home: Path) -> None:
    """A broken spec and an unknown model are named together, in seconds, with no Prefect."""
    (home / "specs" / "broken.yaml").write_text("name: broken\ntask: nonsense\n")
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # never reached
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "fleet"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("modelwatch: error: ")
    assert "broken.yaml" in done.stderr and "credit" not in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "cli", "fleet", "credit", "nosuch", "../etc"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 2
    assert "2 of 3 specs are unusable" in listed.stderr
    assert "no monitor spec for model 'nosuch'" in listed.stderr
    assert "invalid model name '../etc'" in listed.stderr
    assert time.monotonic() - started < 20  # a temporary Prefect server alone takes ~15 s


def test_fleet_refuses_an_empty_specs_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "specs" / "credit.yaml").unlink()
    assert main(["fleet"]) == 2
    assert "no monitor spec (*.yaml) in" in capsys.readouterr().err


def test_fleet_and_serve_fleet_are_commands() -> None:
    from cli.main import build_parser

    args = build_parser().parse_args(["fleet", "a", "b", "--window-end", "2026-11-23T10:00+00:00"])
    assert args.models == ["a", "b"] and args.window_end == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert build_parser().parse_args(["serve", "--fleet"]).fleet is True
    assert build_parser().parse_args(["serve"]).fleet is False


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    import argparse

    from cli.main import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        assert parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter, path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
            elif action.help is None:
                missing.append(f"{path} {action.dest}")

    walk(build_parser(), "modelwatch")
    assert missing == []


def test_serve_refuses_a_temporary_prefect_server_and_a_dead_one(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("modelwatch: error: `modelwatch serve` needs a Prefect server")
    assert "prefect server start" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    started = time.monotonic()
    assert main(["serve"]) == 2
    assert main(["monitor", "credit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("PREFECT_API_URL=http://127.0.0.1:9/api is unreachable" in e
                                 for e in err)  # fmt: skip
    assert time.monotonic() - started < 10
