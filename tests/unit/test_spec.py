"""Monitor specs: the demo spec parses; a bad spec names the file, the field path and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelwatch.errors import SpecError
from modelwatch.spec import MODEL_NAME_RULE, check_model_name, find_spec, load_spec, parse_spec

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
        SpecError, match=r"no monitor spec for model 'nope'.*available: \[.*'credit'.*\]"
    ):
        find_spec("nope", SPECS)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: not valid YAML"):
        load_spec(path)


# --------------------------------------------------------------------------- model names


@pytest.mark.parametrize(
    "name", ["credit", "Credit-2", "a", "9lives", "fraud_v2.1", "a" * 64, "x-y_z.w", "a.b"]
)
def test_a_safe_model_name_is_returned_as_it_is(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "../../tmp/secret",
        "a/b",
        "a\\b",
        "..",
        ".",
        "a..b",
        "x\x00",
        "a" * 65,
        ".hidden",
        "-rf",
        "_x",
        "",
        " credit",
        "credit\n",
        "cr€dit",
        "/etc/passwd",
    ],
)
def test_an_unsafe_model_name_is_refused_naming_the_rule_and_the_value(name: str) -> None:
    with pytest.raises(SpecError) as info:
        check_model_name(name)
    message = str(info.value)
    assert MODEL_NAME_RULE in message and "must not contain '..'" in message
    assert repr(name[:64]) in message  # the value, repr-escaped
    assert "\x00" not in message and "\n" not in message


def test_a_long_or_non_text_name_is_shown_truncated() -> None:
    with pytest.raises(SpecError) as info:
        check_model_name("b" * 5000)
    message = str(info.value)
    assert "b" * 65 not in message and "(5000 characters)" in message
    with pytest.raises(SpecError, match=r"invalid model name NoneType None"):
        check_model_name(None)


def test_every_spec_name_is_a_safe_model_name() -> None:
    """The spec's own name pattern is the stricter one: a 65-character name is refused too."""
    data = _demo()
    data["name"] = "a" * 64
    assert check_model_name(parse_spec(data).name)
    data["name"] = "a" * 65
    with pytest.raises(SpecError, match=r"name: String should match pattern"):
        parse_spec(data)


def test_find_spec_checks_the_name_before_touching_the_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tmp_path / "a" / "specs"
    specs.mkdir(parents=True)
    loot = tmp_path / "loot"
    loot.mkdir()
    (loot / "secret.yaml").write_text("api_token: hunter2-TOPSECRET\n")
    touched: list[str] = []
    for name in ("exists", "read_text", "glob"):
        original = getattr(Path, name)

        def spy(self: Path, *args: object, _original=original, **kwargs: object) -> object:  # type: ignore[no-untyped-def]
            touched.append(str(self))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Path, name, spy)
    with pytest.raises(SpecError) as info:
        find_spec("../../loot/secret", specs)
    assert touched == []
    assert "hunter2" not in str(info.value) and "TOPSECRET" not in str(info.value)
    assert MODEL_NAME_RULE in str(info.value)


# --------------------------------------------------------------------------- no echo of content


def _chain(exc: BaseException) -> str:
    """Every message a traceback of ``exc`` would print (causes and contexts included)."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts.append(str(seen))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(texts)


def test_a_yaml_error_gives_line_and_column_but_not_the_line(tmp_path: Path) -> None:
    path = tmp_path / "credit.yaml"
    path.write_text("name: credit\npassword: hunter2-TOPSECRET: [\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = _chain(info.value)
    assert str(path) in text and "not valid YAML at line 2, column" in text
    assert "hunter2" not in text and "TOPSECRET" not in text


def test_an_unknown_field_is_named_without_its_value(tmp_path: Path) -> None:
    data = _demo()
    data["api_token"] = "hunter2-TOPSECRET"
    data["drift"]["alpha"] = 3
    path = tmp_path / "credit.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = _chain(info.value)
    assert "api_token: Extra inputs are not permitted (value not shown)" in text
    assert "drift.alpha" in text and "(got 3)" in text  # the offending value of a known field
    assert "hunter2" not in text and "TOPSECRET" not in text


def test_a_file_that_is_no_spec_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "credit.yaml"
    path.write_text("db_password: hunter2-TOPSECRET\nuser: admin\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = _chain(info.value)
    assert "not a monitor spec" in text and "2 other top-level key(s)" in text
    assert "hunter2" not in text and "db_password" not in text
    path.write_text("hunter2-TOPSECRET\n")
    with pytest.raises(SpecError, match="must be a mapping, got str") as info:
        load_spec(path)
    assert "hunter2" not in _chain(info.value)


def test_a_binary_file_names_the_byte_position_only(tmp_path: Path) -> None:
    path = tmp_path / "credit.yaml"
    path.write_bytes(b"name: \xffhunter2-TOPSECRET\n")
    with pytest.raises(SpecError, match=r"not UTF-8 text \(invalid byte at position 6\)") as info:
        load_spec(path)
    assert "hunter2" not in _chain(info.value)


def test_timestamp_unit_is_declared_in_columns() -> None:
    data = _demo()
    assert parse_spec(data).columns.timestamp_unit is None
    data["columns"]["timestamp_unit"] = "ms"
    assert parse_spec(data).columns.timestamp_unit == "ms"
    data["columns"]["timestamp_unit"] = "minutes"
    with pytest.raises(SpecError, match=r"columns\.timestamp_unit: Input should be 's', 'ms'"):
        parse_spec(data)


def test_the_demo_spec_retrains_inline_and_does_not_catch_up() -> None:
    spec = find_spec("credit", SPECS)
    assert spec.retraining.mode == "inline"
    assert spec.retraining.enabled is True
    assert spec.schedule.catchup_max_windows == 0


@pytest.mark.parametrize(("enabled", "mode"), [(True, "inline"), (False, "off")])
def test_the_former_retraining_enabled_is_read_as_a_mode(enabled: bool, mode: str) -> None:
    data = _demo()
    data["retraining"].pop("mode")
    data["retraining"]["enabled"] = enabled
    spec = parse_spec(data, source="credit.yaml")
    assert spec.retraining.mode == mode
    assert spec.retraining.enabled is enabled


def test_retraining_enabled_and_mode_together_are_refused() -> None:
    data = _demo()
    data["retraining"]["enabled"] = True
    data["retraining"]["mode"] = "event"
    with pytest.raises(SpecError, match=r"retraining: .*enabled and mode both set.*remove enabled"):
        parse_spec(data, source="credit.yaml")


def test_an_unknown_retraining_mode_is_named_with_its_value() -> None:
    data = _demo()
    data["retraining"]["mode"] = "twice"
    with pytest.raises(
        SpecError,
        match=r"retraining\.mode: Input should be 'inline', 'event' or 'off' \(got 'twice'\)",
    ):
        parse_spec(data, source="credit.yaml")


def test_catchup_max_windows_is_bounded() -> None:
    data = _demo()
    data["schedule"]["catchup_max_windows"] = -1
    with pytest.raises(SpecError, match=r"schedule\.catchup_max_windows: .*(got -1)"):
        parse_spec(data, source="credit.yaml")
    data["schedule"]["catchup_max_windows"] = 3
    assert parse_spec(data, source="credit.yaml").schedule.catchup_max_windows == 3


# --------------------------------------------------------------------------- model kinds


def _kind(name: str) -> dict:
    return yaml.safe_load((SPECS / f"{name}.yaml").read_text())


def test_the_regression_and_multiclass_demo_specs_load_with_their_metrics() -> None:
    house = find_spec("house", SPECS)
    assert house.task == "regression" and house.degradation.metric == "mae"
    assert not house.degradation.higher_is_better and house.degradation.max_increase == 8.0
    churn = find_spec("churn3", SPECS)
    assert churn.columns.class_scores == {
        "stay": "p_stay",
        "downgrade": "p_downgrade",
        "churn": "p_churn",
    }
    assert churn.columns.score_columns == ("p_stay", "p_downgrade", "p_churn")


def test_the_watched_metric_defaults_by_task() -> None:
    data = _kind("house")
    data.pop("ab")
    data["degradation"] = {"max_increase": 5.0}
    spec = parse_spec(data, source="house.yaml")
    assert (spec.degradation.metric, spec.ab.metric) == ("mae", "mae")
    data = _kind("churn3")
    data.pop("ab")
    data.pop("degradation")
    spec = parse_spec(data, source="churn3.yaml")
    assert (spec.degradation.metric, spec.ab.metric) == ("f1_macro", "f1_macro")


def test_a_lower_is_better_metric_needs_max_increase_and_refuses_max_drop() -> None:
    data = _kind("house")
    data["degradation"] = {"metric": "rmse"}
    with pytest.raises(SpecError, match=r"'rmse' is lower-is-better: set max_increase"):
        parse_spec(data, source="house.yaml")
    data["degradation"] = {"metric": "mae", "max_drop": 0.1, "max_increase": 3.0}
    with pytest.raises(SpecError, match=r"max_drop applies to higher-is-better metrics; 'mae'"):
        parse_spec(data, source="house.yaml")
    data["degradation"] = {"metric": "mae", "max_increase": 25.0}  # not capped at 1
    assert parse_spec(data, source="house.yaml").degradation.max_increase == 25.0
    data["degradation"] = {"metric": "r2", "max_drop": 1.5}  # r2 is unbounded below
    assert parse_spec(data, source="house.yaml").degradation.max_drop == 1.5


def test_max_increase_on_a_higher_is_better_metric_and_bounded_drops_are_refused() -> None:
    data = _demo()
    data["degradation"] = {"metric": "roc_auc", "max_increase": 0.1}
    with pytest.raises(SpecError, match=r"max_increase applies to lower-is-better metrics"):
        parse_spec(data, source="credit.yaml")
    data["degradation"] = {"metric": "roc_auc", "max_drop": 1.5}
    with pytest.raises(SpecError, match=r"max_drop must be <= 1 for 'roc_auc'.*got 1.5"):
        parse_spec(data, source="credit.yaml")


def test_a_metric_of_another_task_is_named_with_the_allowed_ones() -> None:
    data = _demo()
    data["degradation"] = {"metric": "mae", "max_increase": 1.0}
    with pytest.raises(
        SpecError, match=r"degradation.metric 'mae' is not a binary metric; use one of \['accuracy'"
    ):
        parse_spec(data, source="credit.yaml")
    data = _kind("house")
    data["ab"] = {"metric": "roc_auc"}
    with pytest.raises(SpecError, match=r"ab.metric 'roc_auc' is not a regression metric"):
        parse_spec(data, source="house.yaml")


def test_class_scores_belong_to_multiclass_and_log_loss_needs_them() -> None:
    data = _demo()
    data["columns"]["class_scores"] = {"a": "p_a", "b": "p_b", "c": "p_c"}
    with pytest.raises(SpecError, match=r"columns.class_scores is for task 'multiclass'"):
        parse_spec(data, source="credit.yaml")
    data = _kind("churn3")
    data["columns"].pop("class_scores")
    data["degradation"] = {"metric": "log_loss", "max_increase": 0.1}
    with pytest.raises(
        SpecError, match=r"degradation.metric 'log_loss' needs columns.class_scores"
    ):
        parse_spec(data, source="churn3.yaml")
    data = _kind("churn3")
    data["columns"]["class_scores"] = {"stay": "p", "churn": "p", "downgrade": "q"}
    with pytest.raises(SpecError, match=r"maps two classes to one column"):
        parse_spec(data, source="churn3.yaml")


def test_the_online_metric_follows_the_task() -> None:
    assert find_spec("house", SPECS).ab.online_metric == "absolute_error"
    data = _kind("house")
    data["ab"] = {"metric": "mae", "online_metric": "accuracy"}
    with pytest.raises(SpecError, match=r"ab.online_metric 'accuracy' does not fit task"):
        parse_spec(data, source="house.yaml")
    data = _kind("churn3")
    data["ab"] = {"online_metric": "brier_loss"}
    with pytest.raises(
        SpecError, match=r"'brier_loss' does not fit task 'multiclass'; use accuracy"
    ):
        parse_spec(data, source="churn3.yaml")


@pytest.mark.parametrize("name", ["credit", "house", "churn3"])
def test_a_dumped_spec_of_every_kind_parses_again(name: str) -> None:
    spec = find_spec(name, SPECS)
    assert parse_spec(spec.model_dump(mode="json"), source=f"{name}.yaml") == spec


def test_the_spec_alert_events_are_the_alert_events_modelwatch_sends() -> None:
    import typing

    from modelwatch.outcomes import AlertEvent as SentEvent
    from modelwatch.spec import AlertEvent

    assert set(typing.get_args(AlertEvent)) == {str(e) for e in SentEvent}


# --------------------------------------------------------------------------- sources


def _with_source(role: str, source: dict[str, object]) -> dict[str, object]:
    data = _demo()
    data["sources"][role] = source
    return data


def test_a_source_without_kind_is_a_file_source_and_sql_sources_parse() -> None:
    from modelwatch.spec import FileSource, SqlSource

    assert isinstance(parse_spec(_demo()).sources.predictions, FileSource)
    sql = {
        "kind": "sql",
        "url_env": "MODELWATCH_LOG_DB",
        "table": "predictions",
        "schema": "public",
    }
    spec = parse_spec(_with_source("labels", {**sql, "table": "labels", "max_delay_hours": 72}))
    labels = spec.sources.labels
    assert isinstance(labels, SqlSource) and labels.qualified_name == "public.labels"
    assert labels.max_delay_hours == 72 and labels.chunk_rows == 100_000
    again = parse_spec(spec.model_dump(mode="json"))  # dumped (field names) parses again
    assert again.sources.labels == labels


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"kind": "parquet-ish", "path": "x"},
            "sources.predictions: Input tag 'parquet-ish' found using _kind() does not match "
            "any of the expected tags: 'file', 'sql'",
        ),
        ({"kind": "sql", "url_env": "DB"}, "sources.predictions.sql.table: Field required"),
        ({"kind": "sql", "table": "t"}, "sources.predictions.sql.url_env: Field required"),
        (
            {"kind": "sql", "table": "t", "url_env": "postgresql://u:secret@h/db"},
            "sources.predictions.sql: Value error, url_env must be the NAME of an environment "
            "variable holding the URL (letters, digits, '_'; 26 characters given, value not "
            "shown) (got {...})",
        ),
        (
            {"path": "logs", "max_delay_hours": 24},
            "sources: Value error, max_delay_hours applies to sources.labels only, "
            "not sources.predictions",
        ),
        ({"kind": "sql", "table": "", "url_env": "DB"}, "sources.predictions.sql.table: String"),
    ],
    ids=["unknown-kind", "no-table", "no-url-env", "url-in-url-env", "delay-on-log", "empty"],
)
def test_a_bad_source_names_the_field_and_the_problem(
    source: dict[str, object], expected: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_with_source("predictions", source), source="model.yaml")
    assert expected in str(info.value)
    assert "model.yaml: invalid monitor spec" in str(info.value)
    assert "secret" not in str(info.value)


def test_a_negative_label_delay_is_refused() -> None:
    with pytest.raises(SpecError, match=r"sources\.labels\.file\.max_delay_hours"):
        parse_spec(_with_source("labels", {"path": "labels", "max_delay_hours": -1}))


def test_a_list_where_the_task_belongs_is_a_spec_error_not_a_crash() -> None:
    data = _demo()
    data["task"] = ["not", "a", "task"]
    with pytest.raises(SpecError, match=r"task"):
        parse_spec(data, source="credit.yaml")
