"""Monitor specs: the demo spec parses; a bad spec names the file, the field path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelwatch.errors import SpecError
from modelwatch.spec import find_spec, load_spec, parse_spec

SPECS = Path(__file__).resolve().parents[2] / "deployments" / "specs"


def _demo() -> dict:
    return yaml.safe_load((SPECS / "credit.yaml").read_text())


def test_every_spec_in_the_repo_parses() -> None:
    for path in SPECS.glob("*.yaml"):
        spec = load_spec(path)
        assert spec.name == path.stem


def test_demo_spec_has_the_expected_columns() -> None:
    spec = find_spec("credit", SPECS)
    assert spec.task == "binary"
    assert spec.columns.features[:2] == ("age", "income")
    assert spec.columns.pii == ("email",)
    assert spec.degradation.k == 2 and spec.degradation.n == 3


def test_an_invalid_value_names_file_field_path_and_value(tmp_path: Path) -> None:
    data = _demo()
    data["degradation"]["k"] = 5
    data["drift"]["alpha"] = 3
    path = tmp_path / "credit.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    assert "drift.alpha" in message and "(got 3)" in message
    assert "k must be <= n" in message


def test_an_unknown_field_is_rejected() -> None:
    data = _demo()
    data["columns"]["featurez"] = ["x"]
    with pytest.raises(SpecError, match=r"columns\.featurez: Extra inputs are not permitted"):
        parse_spec(data, source="x.yaml")


def test_a_column_in_two_kinds_is_rejected() -> None:
    data = _demo()
    data["columns"]["categorical"].append("age")
    with pytest.raises(SpecError, match="column 'age' is listed in both numeric and categorical"):
        parse_spec(data, source="x.yaml")


def test_binary_needs_a_score_column() -> None:
    data = _demo()
    del data["columns"]["score"]
    with pytest.raises(SpecError, match=r"columns\.score is required for task 'binary'"):
        parse_spec(data, source="x.yaml")


def test_missing_file_and_unknown_model_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="monitor spec file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(
        SpecError, match=r"no monitor spec for model 'nope'.*available: \['credit'\]"
    ):
        find_spec("nope", SPECS)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: not valid YAML"):
        load_spec(path)
