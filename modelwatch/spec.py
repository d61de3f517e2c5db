"""The monitor spec: one YAML file per monitored model (``deployments/specs/<model>.yaml``).

Pydantic v2 models, frozen, ``extra="forbid"``. :func:`load_spec` turns any
validation problem into a :class:`~modelwatch.errors.SpecError` that names the
file, the field path and the bad value.

Relative paths in ``sources`` are resolved against the modelwatch home
(``MODELWATCH_HOME``), where the demo writes its data; absolute paths and
fsspec URLs (``s3://...``) are used as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from modelwatch.errors import SpecError

TaskType = Literal["binary", "multiclass", "regression"]
FileFormat = Literal["parquet", "csv"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileSource(_Frozen):
    """A folder (or glob) of Parquet/CSV files, local path or fsspec URL.

    Folders may be hive-partitioned by time (``date=2026-11-29/hour=10/``,
    ``year=/month=/day=/hour=``, ``dt=``): a window then lists and reads only the
    partitions that can hold its rows (partition values are UTC; see
    ``modelwatch.io.sources``). A source without ``kind`` is a file source.
    """

    kind: Literal["file"] = Field(default="file", description="file (the default) or sql.")
    path: str = Field(description="Folder, file or glob; relative paths are under MODELWATCH_HOME.")
    format: FileFormat = Field(default="parquet", description="File format of the source.")
    max_delay_hours: float | None = Field(
        default=None,
        gt=0,
        description="Labels only: a label arrives at most this many hours after the end of "
        "its prediction's window; only label rows/partitions in [window start, window end + "
        "max_delay_hours) are read. Unset: every label file is read (ids filtered).",
    )


#: an environment variable name (the SQL URL is a secret: the spec names only the variable)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class SqlSource(_Frozen):
    """A table or view in a database read with SQLAlchemy (any dialect with a driver installed).

    The URL (with its password) is a secret: it is read from the environment
    variable ``url_env``, never written in the spec. Identifiers are quoted by
    SQLAlchemy; window bounds are bound parameters.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kind: Literal["sql"] = Field(description="sql: a database table or view.")
    url_env: str = Field(
        pattern=_ENV_NAME,
        description="Environment variable holding the SQLAlchemy URL "
        "(e.g. postgresql+psycopg2://user:password@host:5432/db).",
    )
    table: str = Field(min_length=1, max_length=128, description="Table or view name.")
    db_schema: str | None = Field(
        default=None,
        alias="schema",
        min_length=1,
        max_length=128,
        description="Database schema of the table (default: the connection's search path).",
    )
    chunk_rows: int = Field(
        default=100_000, ge=1_000, description="Rows fetched per round trip (server-side cursor)."
    )
    max_delay_hours: float | None = Field(
        default=None,
        gt=0,
        description="Labels only: see FileSource.max_delay_hours (filters on label_timestamp "
        "when the table has it).",
    )

    @model_validator(mode="before")
    @classmethod
    def _url_env_is_a_name(cls, data: Any) -> Any:
        # checked on the whole mapping so the error shows "{...}", never the value: a URL
        # pasted here by mistake carries a password
        value = data.get("url_env") if isinstance(data, dict) else None
        if isinstance(value, str) and not re.fullmatch(_ENV_NAME, value):
            raise ValueError(
                "url_env must be the NAME of an environment variable holding the URL "
                f"(letters, digits, '_'; {len(value)} characters given, value not shown)"
            )
        return data

    @property
    def qualified_name(self) -> str:
        """``schema.table`` (or ``table``) for messages; never used to build SQL."""
        return f"{self.db_schema}.{self.table}" if self.db_schema else self.table


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("kind", "file")
        return kind if isinstance(kind, str) else repr(kind)
    return str(getattr(value, "kind", "file"))


#: a prediction log or label feed: files (the default when ``kind`` is absent) or a SQL table
LogSource = Annotated[
    Annotated[FileSource, Tag("file")] | Annotated[SqlSource, Tag("sql")],
    Discriminator(_kind),
]


class Sources(_Frozen):
    reference: FileSource = Field(description="Reference data (the champion's training data).")
    predictions: LogSource = Field(description="Prediction log, one row per prediction.")
    labels: LogSource | None = Field(
        default=None, description="Label feed joined on the prediction id (delayed feedback)."
    )

    @model_validator(mode="after")
    def _delay_on_labels_only(self) -> Sources:
        for name in ("reference", "predictions"):
            if getattr(self, name).max_delay_hours is not None:
                raise ValueError(
                    f"max_delay_hours applies to sources.labels only, not sources.{name}"
                )
        return self


class Columns(_Frozen):
    id: str = Field(description="Prediction id (unique per prediction; join key of the labels).")
    timestamp: str = Field(description="Prediction time (UTC).")
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = Field(
        default=None,
        description="Unit of integer (epoch) timestamps; without it an integer timestamp "
        "column is rejected (never read as nanoseconds).",
    )
    numeric: tuple[str, ...] = Field(default=(), description="Numeric feature columns.")
    categorical: tuple[str, ...] = Field(default=(), description="Categorical feature columns.")
    prediction: str = Field(description="Predicted label (classification) or value (regression).")
    score: str | None = Field(
        default=None, description="Positive-class probability (binary classification)."
    )
    class_scores: dict[str, str] | None = Field(
        default=None,
        description="Multiclass: class label -> column of its predicted probability "
        "(e.g. {stay: p_stay, churn: p_churn}); one entry per class of the target, labels "
        "compared as text. Needed for CBPE estimates and log loss.",
    )
    target: str = Field(description="True label column, in the label feed and the reference.")
    segments: tuple[str, ...] = Field(default=(), description="Segment columns for fairness.")
    variant: str | None = Field(default=None, description="Online A/B variant column.")
    latency_ms: str | None = Field(default=None, description="Serving latency in milliseconds.")
    error: str | None = Field(
        default=None,
        description="Serving error column: a row whose value is not missing, false, 0, empty "
        "or 'ok' is a failed request (serving health: error_share).",
    )
    pii: tuple[str, ...] = Field(
        default=(), description="PII columns: never logged, reported or sent to MLflow."
    )

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @model_validator(mode="after")
    def _no_overlap(self) -> Columns:
        seen: dict[str, str] = {}
        for kind in ("numeric", "categorical"):
            for col in getattr(self, kind):
                if col in seen:
                    raise ValueError(f"column {col!r} is listed in both {seen[col]} and {kind}")
                seen[col] = kind
        if not self.numeric and not self.categorical:
            raise ValueError("at least one numeric or categorical feature column is required")
        if self.class_scores is not None:
            if len(self.class_scores) < 3:
                raise ValueError(
                    "columns.class_scores must map at least 3 classes (multiclass) to score "
                    f"columns; got {len(self.class_scores)}"
                )
            used = list(self.class_scores.values())
            if len(set(used)) != len(used):
                raise ValueError(f"columns.class_scores maps two classes to one column: {used}")
        return self

    @property
    def score_columns(self) -> tuple[str, ...]:
        """The score column (binary) or the per-class score columns (multiclass)."""
        if self.class_scores is not None:
            return tuple(self.class_scores.values())
        return (self.score,) if self.score is not None else ()


DriftMethod = Literal["auto", "ks", "chi2", "psi"]


class DriftPolicy(_Frozen):
    method: DriftMethod = Field(default="auto", description="Default drift method per column.")
    methods: dict[str, DriftMethod] = Field(
        default_factory=dict, description="Per-column override of the drift method."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level of tests.")
    correction: Literal["none", "bonferroni", "benjamini-hochberg"] = Field(
        default="benjamini-hochberg",
        description="Multiple-testing correction of p-values across the features of a window.",
    )
    psi_threshold: float | None = Field(
        default=None,
        gt=0,
        description="Constant PSI threshold; default: the sample-size rule "
        "max(0.005, chi2 quantile 0.999 with K-1 dof x (1/n_ref + 1/n_cur)).",
    )
    dataset_drift_share: float = Field(
        default=0.5, gt=0, le=1, description="Share of drifted features that is dataset drift."
    )
    thresholds: Literal["constant", "calibrated"] = Field(
        default="constant",
        description="constant: alpha / the PSI rule; calibrated: per column, mean + k*std of the "
        "statistic of reference chunks (window-sized) against the rest of the reference.",
    )
    calibration_k: float = Field(
        default=3.0, gt=0, description="Calibrated thresholds: standard deviations above the mean."
    )
    calibration_chunks: int = Field(
        default=10, ge=4, description="Calibrated thresholds: reference chunks (at most)."
    )
    prediction_drift: bool = Field(
        default=True, description="Report drift of the scores (or predictions) vs the reference."
    )
    target_drift: bool = Field(
        default=True, description="Report drift of the label share when the window has labels."
    )
    multivariate: bool = Field(
        default=True,
        description="Domain classifier AUC and PCA reconstruction error (<= 5k rows per side).",
    )
    domain_classifier_threshold: float = Field(
        default=0.55,
        ge=0.5,
        lt=1,
        description="Multivariate drift when the domain classifier's AUC lower bound exceeds this.",
    )


MetricName = Literal[
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "f1_macro",
    "f1_weighted",
    "log_loss",
    "mae",
    "rmse",
    "r2",
    "mape",
]

#: metrics each task can be judged / compared on
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("mae", "rmse", "r2", "mape"),
}
#: lower is better: judged against ``baseline + max_increase`` (or ``max_value``)
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "mae", "rmse", "mape"})
#: metrics bounded in [0, 1] (``max_drop`` / ``min_value`` of these are at most 1)
BOUNDED_METRICS: frozenset[str] = frozenset(
    {"accuracy", "precision", "recall", "f1", "roc_auc", "f1_macro", "f1_weighted"}
)
#: the metric watched and compared when a spec names none
DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "mae",
}
#: A/B comparison metrics per task (regression: the MAE improvement)
AB_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("mae",),
}


def higher_is_better(metric: str) -> bool:
    """``False`` for the error / loss metrics of :data:`LOWER_IS_BETTER`."""
    return metric not in LOWER_IS_BETTER


_DEFAULT_MAX_DROP = 0.05


class DegradationPolicy(_Frozen):
    metric: MetricName = Field(default="roc_auc", description="Metric watched for degradation.")
    min_value: float | None = Field(
        default=None, description="Absolute floor of a higher-is-better metric."
    )
    max_drop: float = Field(
        default=_DEFAULT_MAX_DROP,
        ge=0,
        description="Higher-is-better metrics: largest allowed drop below the champion's "
        "validation value (at most 1 for metrics in [0, 1]).",
    )
    max_increase: float | None = Field(
        default=None,
        gt=0,
        description="Lower-is-better metrics (mae, rmse, mape, log_loss): largest allowed "
        "increase above the champion's validation value, in the metric's units.",
    )
    max_value: float | None = Field(
        default=None, description="Absolute ceiling of a lower-is-better metric."
    )
    k: int = Field(default=2, ge=1, description="Windows out of the last n that must be bad.")
    n: int = Field(default=3, ge=1, description="Number of recent windows looked at.")
    drift_counts: bool = Field(
        default=True,
        description="A window without labels counts as bad when it has dataset drift.",
    )
    estimated_counts: bool = Field(
        default=True,
        description="A window without labels is judged on the CBPE-estimated metric "
        "(classification; the champion's reference calibrates the scores).",
    )
    detector: Literal["k_of_n", "cusum", "page_hinkley"] = Field(
        default="k_of_n",
        description="Degraded when k of the last n windows are bad, or when a CUSUM / "
        "Page-Hinkley detector on the metric series of the champion raises an alarm.",
    )
    detector_slack: float | None = Field(
        default=None,
        ge=0,
        description="CUSUM / Page-Hinkley drift allowance per window; default max_drop / 2.",
    )
    detector_threshold: float | None = Field(
        default=None,
        gt=0,
        description="CUSUM / Page-Hinkley alarm level (metric units); default 2 * max_drop.",
    )

    @model_validator(mode="after")
    def _k_le_n(self) -> DegradationPolicy:
        if self.k > self.n:
            raise ValueError(f"k must be <= n; got k={self.k}, n={self.n}")
        metric = self.metric
        # judged on values, not on the fields written: a dumped spec (model_dump) carries
        # every field with its default and must parse again
        given = {
            name
            for name in ("min_value", "max_increase", "max_value")
            if getattr(self, name) is not None
        }
        if "max_drop" in self.model_fields_set and self.max_drop != _DEFAULT_MAX_DROP:
            given.add("max_drop")
        if metric in LOWER_IS_BETTER:
            wrong = sorted({"max_drop", "min_value"} & given)
            if wrong:
                raise ValueError(
                    f"{wrong[0]} applies to higher-is-better metrics; {metric!r} is lower-is-"
                    "better: set max_increase (or max_value) instead"
                )
            if self.max_increase is None and self.max_value is None:
                raise ValueError(
                    f"metric {metric!r} is lower-is-better: set max_increase (largest allowed "
                    "increase over the champion's validation value) or max_value"
                )
        else:
            wrong = sorted({"max_increase", "max_value"} & given)
            if wrong:
                raise ValueError(
                    f"{wrong[0]} applies to lower-is-better metrics ({sorted(LOWER_IS_BETTER)}); "
                    f"{metric!r} is higher-is-better: set max_drop (or min_value) instead"
                )
            if metric in BOUNDED_METRICS and self.max_drop > 1:
                raise ValueError(
                    f"max_drop must be <= 1 for {metric!r} (a value in [0, 1]); got {self.max_drop}"
                )
            bounded_floor = metric in BOUNDED_METRICS and self.min_value is not None
            if bounded_floor and not 0 <= (self.min_value or 0.0) <= 1:
                raise ValueError(
                    f"min_value must lie in [0, 1] for {metric!r}; got {self.min_value}"
                )
        return self

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.metric)


RetrainingMode = Literal["inline", "event", "off"]


class RetrainingPolicy(_Frozen):
    """How a degraded model is retrained: one path at a time.

    ``inline``: the monitor run calls the retrain flow itself; ``event``: the monitor
    emits ``modelwatch.model.degraded`` with the degraded windows and the generated
    ``<model>-on-degraded`` deployment retrains on them; ``off``: never. The former
    ``enabled: true | false`` is read as ``mode: inline | off``.
    """

    mode: RetrainingMode = Field(
        default="inline",
        description="inline: the monitor run retrains; event: the monitor emits "
        "modelwatch.model.degraded and the on-degraded deployment retrains; off: never.",
    )
    recent_windows: int = Field(
        default=6, ge=1, description="Most recent labeled windows added to the reference."
    )
    holdout_fraction: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Most recent share of labeled rows kept out of training for the A/B test.",
    )
    include_reference: bool = Field(
        default=True,
        description="Train on the champion's reference plus the recent windows; false: recent "
        "windows only (after concept drift the old regime can dominate the fit).",
    )
    min_labeled_rows: int = Field(default=500, ge=1, description="Fewer recent labels: no retrain.")
    cooldown_hours: float = Field(default=0, ge=0, description="No retrain within N hours.")
    seed: int = Field(default=0, description="Seed of the candidate's training.")
    trainer: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="'package.module:function' called as trainer(frame, spec, seed=seed) and "
        "returning a fitted estimator; default: clone and refit the champion's pipeline.",
    )

    @model_validator(mode="before")
    @classmethod
    def _enabled_is_mode(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "enabled" not in data:
            return data
        data = dict(data)
        enabled = data.pop("enabled")
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be true or false (use mode instead); got {enabled!r}")
        if "mode" in data:
            raise ValueError(
                "enabled and mode both set; enabled is replaced by mode (inline | event | off): "
                "remove enabled"
            )
        data["mode"] = "inline" if enabled else "off"
        return data

    @property
    def enabled(self) -> bool:
        """The monitor's inline retraining branch runs (``mode == "inline"``)."""
        return self.mode == "inline"


class ABPolicy(_Frozen):
    metric: MetricName = Field(default="roc_auc", description="Primary metric of the comparison.")
    rule: Literal["superiority", "non_inferiority"] = Field(
        default="superiority", description="What the challenger must show."
    )
    margin: float = Field(
        default=0.0,
        ge=0,
        description="Superiority: CI lower bound of the difference must exceed +margin; "
        "non-inferiority: it must exceed -margin.",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Confidence level.")
    n_bootstrap: int = Field(default=2000, ge=200, description="Paired bootstrap resamples.")
    seed: int = Field(default=0, description="Seed of the bootstrap.")
    max_ece_increase: float | None = Field(
        default=0.03,
        ge=0,
        description="Calibration guardrail (binary): fails when the challenger's expected "
        "calibration error exceeds the champion's by more than this and the paired bootstrap "
        "CI of the increase lies above 0; null turns it off.",
    )
    fairness_metric: Literal["demographic_parity_difference", "equal_opportunity_difference"] = (
        Field(
            default="equal_opportunity_difference",
            description="Gap across the values of each columns.segments column that is guarded.",
        )
    )
    max_fairness_gap_increase: float | None = Field(
        default=0.1,
        ge=0,
        description="Fairness guardrail (binary), per segment column: fails when the "
        "challenger's gap exceeds the champion's by more than this and the paired bootstrap CI "
        "of the increase lies above 0; null turns it off.",
    )
    max_latency_ratio: float | None = Field(
        default=2.0,
        ge=1,
        description="Latency guardrail: challenger ms per 1k holdout rows <= champion's x this; "
        "null turns it off.",
    )
    online_metric: Literal["accuracy", "brier_loss", "absolute_error"] = Field(
        default="accuracy",
        description="Per-row metric of the online A/B test (variant column): accuracy -> "
        "two-proportion z-test; brier_loss / absolute_error -> Welch's t-test.",
    )
    minimum_detectable_effect: float = Field(
        default=0.02,
        gt=0,
        description="Online A/B: smallest difference of online_metric worth detecting; sets "
        "the required rows per arm.",
    )
    power: float = Field(
        default=0.8, gt=0, lt=1, description="Online A/B: power at the minimum detectable effect."
    )
    staged_rollout: bool = Field(
        default=False,
        description="After an offline win, roll the challenger out in stages (shadow -> canary "
        "-> champion, decided on live traffic by the always-valid sequential test) instead of "
        "promoting it at once.",
    )
    shadow_hours: float = Field(
        default=24.0,
        ge=0,
        description="Staged rollout: hours the challenger is scored in shadow (answers logged, "
        "not served; guardrails checked on live rows) before it serves as canary; 0: straight "
        "to canary.",
    )
    canary_share: float = Field(
        default=0.1,
        gt=0,
        le=0.5,
        description="Staged rollout: share of the traffic the canary serves (chosen by a stable "
        "hash of the prediction id, see modelwatch.serving).",
    )
    max_canary_hours: float = Field(
        default=168.0,
        gt=0,
        description="Staged rollout: a canary without a decision after this many hours is "
        "rejected (rolled back).",
    )
    sequential_alpha: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Staged rollout: error rate of the always-valid sequential test (mSPRT) "
        "over every look at the canary, however often it is checked.",
    )
    sequential_tau: float | None = Field(
        default=None,
        gt=0,
        description="Staged rollout: standard deviation of the mSPRT's normal mixing "
        "distribution, in units of online_metric (most power for differences near it); null: "
        "minimum_detectable_effect.",
    )
    sequential_min_rows: int = Field(
        default=100,
        ge=2,
        description="Staged rollout: labeled rows per variant before a look of the sequential "
        "test counts (its plug-in variance needs them).",
    )

    @property
    def online_higher_is_better(self) -> bool:
        """accuracy: higher is better; the per-row losses (brier_loss, absolute_error): lower."""
        return self.online_metric == "accuracy"

    @property
    def mixing_tau(self) -> float:
        """The sequential test's tau: ``sequential_tau``, else ``minimum_detectable_effect``."""
        if self.sequential_tau is not None:
            return self.sequential_tau
        return self.minimum_detectable_effect


class ServingPolicy(_Frozen):
    """Optional limits on the window's serving health (reported, never a degradation)."""

    max_latency_p95_ms: float | None = Field(default=None, gt=0, description="p95 latency limit.")
    max_latency_p99_ms: float | None = Field(default=None, gt=0, description="p99 latency limit.")
    max_error_share: float | None = Field(
        default=None, ge=0, le=1, description="Largest share of failed requests."
    )
    max_null_share: float | None = Field(
        default=None, ge=0, le=1, description="Largest share of rows without a prediction."
    )
    min_rows_per_hour: float | None = Field(
        default=None, ge=0, description="Fewer predictions per hour is a breach (traffic drop)."
    )


class Schedule(_Frozen):
    cron: str = Field(default="0 * * * *", description="Cron of the monitor deployment (UTC).")
    window_hours: float = Field(default=1.0, gt=0, description="Length of one window.")
    catchup_max_windows: int = Field(
        default=0,
        ge=0,
        le=168,
        description="Each scheduled run first monitors up to this many earlier windows that "
        "have no run in the store (oldest first); 0: only its own window.",
    )


class ModelPolicy(_Frozen):
    """How the registered versions' model artifacts may be deserialized."""

    trust_pickle: bool = Field(
        default=False,
        description=(
            "Load (and log) models that are not skops with numpy/scipy/scikit-learn types "
            "only, e.g. cloudpickle: loading them runs code from the artifact. Only for "
            "models whose every registered version comes from someone you trust."
        ),
    )


class Execution(_Frozen):
    """Where and how a window's statistics are computed (see docs/architecture.md, data plane)."""

    engine: Literal["local", "dask"] = Field(
        default="local",
        description="local: in the flow run's process; dask: per-partition aggregation on a "
        "dask.distributed cluster (results identical to local).",
    )
    dask_address_env: str | None = Field(
        default=None,
        description="Environment variable holding a dask.distributed scheduler address "
        "(tcp://host:8786); unset: a LocalCluster in the worker process.",
    )
    dask_workers: int = Field(
        default=2, ge=1, le=64, description="Workers of the LocalCluster when no address is set."
    )
    stream_above_rows: int = Field(
        default=5_000_000,
        ge=1,
        description="A window with more rows than this is read in record batches into mergeable "
        "aggregates instead of one in-memory frame.",
    )
    batch_rows: int = Field(
        default=500_000, ge=1_000, description="Rows per record batch when streaming."
    )


AlertEvent = Literal[
    "degraded", "resolved", "promoted", "rejected", "validation_failed", "rolled_back"
]
_ALL_EVENTS: tuple[AlertEvent, ...] = (
    "degraded",
    "resolved",
    "promoted",
    "rejected",
    "validation_failed",
    "rolled_back",
)


class WebhookChannel(_Frozen):
    """POST a JSON alert to a URL. The URL is a secret: it comes from the environment."""

    type: Literal["webhook"]
    url_env: str = Field(description="Environment variable holding the webhook URL.")
    events: tuple[AlertEvent, ...] = Field(default=_ALL_EVENTS, description="Events to send.")
    timeout_s: float = Field(default=10.0, gt=0, description="HTTP timeout in seconds.")


class SmtpChannel(_Frozen):
    """E-mail an alert through an SMTP server; credentials come from the environment."""

    type: Literal["smtp"]
    host: str = Field(default="127.0.0.1", description="SMTP host.")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    sender: str = Field(description="From address.")
    to: tuple[str, ...] = Field(min_length=1, description="Recipients.")
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    username_env: str | None = Field(default=None, description="Env var of the SMTP user.")
    password_env: str | None = Field(default=None, description="Env var of the SMTP password.")
    events: tuple[AlertEvent, ...] = Field(default=_ALL_EVENTS, description="Events to send.")
    timeout_s: float = Field(default=10.0, gt=0, description="SMTP timeout in seconds.")


class AppriseChannel(_Frozen):
    """Any service Apprise knows (Slack, Teams, PagerDuty, Discord, Telegram, e-mail, ...).

    The Apprise URLs (``slack://…``, ``msteams://…``, ``pagerduty://…``, ``json://host/path``)
    are secrets: they come from the environment variable the spec names.
    """

    type: Literal["apprise"]
    urls_env: str = Field(
        description="Environment variable holding one or more Apprise URLs (comma or space "
        "separated)."
    )
    events: tuple[AlertEvent, ...] = Field(default=_ALL_EVENTS, description="Events to send.")


AlertChannel = Annotated[WebhookChannel | SmtpChannel | AppriseChannel, Field(discriminator="type")]


class Alerts(_Frozen):
    """Where alerts go, and how often a lasting degradation is repeated.

    ``alerts:`` may also be just the list of channels (the 0.1 form).
    """

    channels: tuple[AlertChannel, ...] = Field(default=(), description="Where alerts go.")
    repeat_hours: float = Field(
        default=24.0,
        gt=0,
        description="While a degradation episode is open, its alert is repeated at most this "
        "often (wall clock and window time); the windows in between send nothing.",
    )
    resolve: bool = Field(
        default=True,
        description="Send one 'resolved' alert when a window is healthy again after a "
        "degradation episode.",
    )

    @model_validator(mode="before")
    @classmethod
    def _channels_only(cls, data: Any) -> Any:
        return {"channels": data} if isinstance(data, list | tuple) else data


class MonitorSpec(_Frozen):
    """Everything modelwatch needs to monitor one model."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description="Model name = MLflow model (a stricter subset of MODEL_NAME_RULE).",
    )
    task: TaskType = Field(description="binary, multiclass or regression.")
    description: str = ""
    sources: Sources
    columns: Columns
    drift: DriftPolicy = Field(default_factory=DriftPolicy)
    degradation: DegradationPolicy = Field(default_factory=DegradationPolicy)
    retraining: RetrainingPolicy = Field(default_factory=RetrainingPolicy)
    ab: ABPolicy = Field(default_factory=ABPolicy)
    schedule: Schedule = Field(default_factory=Schedule)
    serving: ServingPolicy = Field(
        default_factory=ServingPolicy, description="Limits on latency, errors and traffic."
    )
    model: ModelPolicy = Field(
        default_factory=ModelPolicy, description="Trust in the model artifacts."
    )
    alerts: Alerts = Field(
        default_factory=Alerts, description="Alert channels and the repeat rule of episodes."
    )
    execution: Execution = Field(
        default_factory=Execution, description="Where the window's statistics are computed."
    )

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        """The watched / compared metric defaults by task (roc_auc, f1_macro, mae)."""
        if not isinstance(data, dict) or not isinstance(data.get("task"), str):
            return data  # (a list or mapping there is reported by the field's validation)
        if data["task"] not in DEFAULT_METRIC:
            return data
        metric = DEFAULT_METRIC[data["task"]]
        data = dict(data)
        for key in ("degradation", "ab"):
            section = data.get(key, {})
            if section is None:
                section = {}
            if isinstance(section, dict) and "metric" not in section:
                data[key] = {**section, "metric": metric}
        ab = data["ab"]
        if data["task"] == "regression" and isinstance(ab, dict) and "online_metric" not in ab:
            data["ab"] = {**ab, "online_metric": "absolute_error"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        if self.task == "binary" and self.columns.score is None:
            raise ValueError("columns.score is required for task 'binary'")
        if self.columns.class_scores is not None and self.task != "multiclass":
            raise ValueError(
                f"columns.class_scores is for task 'multiclass'; this spec's task is {self.task!r}"
            )
        if self.task == "regression" and self.columns.score is not None:
            raise ValueError("columns.score is for classification; task 'regression' has none")
        for where, metric, allowed in (
            ("degradation.metric", self.degradation.metric, TASK_METRICS[self.task]),
            ("ab.metric", self.ab.metric, AB_METRICS[self.task]),
        ):
            if metric not in allowed:
                raise ValueError(
                    f"{where} {metric!r} is not a {self.task} metric; use one of {list(allowed)}"
                )
        online = self.ab.online_metric
        if (self.task == "regression") != (online == "absolute_error") or (
            online == "brier_loss" and self.task != "binary"
        ):
            fits = {"binary": "accuracy or brier_loss", "multiclass": "accuracy"}
            raise ValueError(
                f"ab.online_metric {online!r} does not fit task {self.task!r}; use "
                f"{fits.get(self.task, 'absolute_error')}"
            )
        if self.task == "multiclass" and self.columns.class_scores is None:
            for where, metric in (
                ("degradation.metric", self.degradation.metric),
                ("ab.metric", self.ab.metric),
            ):
                if metric == "log_loss":
                    raise ValueError(f"{where} 'log_loss' needs columns.class_scores")
        unknown = set(self.drift.methods) - set(self.columns.features)
        if unknown:
            raise ValueError(f"drift.methods names unknown feature columns {sorted(unknown)}")
        return self


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def _shown(value: Any, limit: int = 80) -> str:
    """``repr`` of a value, mappings elided, cut to ``limit`` characters (control chars escaped)."""
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


#: top-level keys every monitor spec has; a mapping with none of them is not a spec at all
_SPEC_KEYS: tuple[str, ...] = ("name", "task", "sources", "columns")


def parse_spec(data: Any, *, source: str = "<spec>") -> MonitorSpec:
    """Validate a parsed spec mapping; errors name ``source``, field path and value.

    Errors never reproduce the file beyond a field path and its offending value
    (cut to 80 characters): the value of an unknown field is not shown, a mapping
    with none of the spec's top-level keys is reported as "not a monitor spec"
    without its content, and pydantic's own message (which quotes every input)
    is not chained.
    """
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a monitor spec must be a mapping, got {type(data).__name__}")
    if not any(key in data for key in _SPEC_KEYS):
        raise SpecError(
            f"{source}: not a monitor spec: it has none of the keys {', '.join(_SPEC_KEYS)} "
            f"({len(data)} other top-level key(s); content not shown)"
        )
    try:
        return MonitorSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if err["type"] == "extra_forbidden":
                shown = "value not shown"
            else:
                shown = f"got {_shown(err.get('input'))}"
            loc = _loc(err["loc"])
            loc = loc if len(loc) <= 100 else loc[:97] + "..."
            lines.append(f"  {loc}: {err['msg']} ({shown})")
        # not chained: the ValidationError's text quotes every input in full
        raise SpecError(f"{source}: invalid monitor spec\n" + "\n".join(lines)) from None


def load_spec(path: str | Path) -> MonitorSpec:
    """Read and validate a spec file; errors name the file, never reproduce its text.

    A YAML error gives the line, the column and the parser's problem (not the
    offending line, which PyYAML would quote); the parser's exception is not
    chained for the same reason.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: monitor spec file not found") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (invalid byte at position {exc.start})") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the monitor spec ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where, problem = "", type(exc).__name__
        if isinstance(exc, yaml.MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = (exc.problem or exc.context or problem)[:80]
        # not chained: PyYAML's message quotes the offending line of the file
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_spec(data, source=str(path))


#: the one rule for a model name wherever it becomes part of a path (spec file, suite,
#: reports, MLflow artifacts); names containing ".." are refused as well
MODEL_NAME_RULE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_MODEL_NAME = re.compile(MODEL_NAME_RULE)


def check_model_name(name: object) -> str:
    """``name`` if it is a safe model name, else a :class:`SpecError` naming the rule and value.

    Rule: :data:`MODEL_NAME_RULE` (1-64 ASCII letters, digits, ``_``, ``.``, ``-``;
    first a letter or digit) and no ``..``. So no path separator, no NUL, no
    ``.``/``..`` and no hidden file can come from a model name. Checked before
    any file is opened. A spec's own ``name`` is stricter (``^[a-z][a-z0-9_-]{0,63}$``),
    so every spec name passes this rule.
    """
    if isinstance(name, str) and _MODEL_NAME.fullmatch(name) and ".." not in name:
        return name
    if isinstance(name, str):
        shown = repr(name[:64]) + (f"... ({len(name)} characters)" if len(name) > 64 else "")
    else:
        shown = f"{type(name).__name__} {_shown(name, 40)}"
    raise SpecError(
        f"invalid model name {shown}: a model name must match {MODEL_NAME_RULE} "
        "(1-64 letters, digits, '_', '.' or '-', starting with a letter or digit) "
        "and must not contain '..'"
    )


def find_spec(model_name: str, specs_dir: str | Path) -> MonitorSpec:
    """Load ``<specs_dir>/<model_name>.yaml``; the error lists the available models.

    The name is checked with :func:`check_model_name` before any file is touched.
    """
    check_model_name(model_name)
    specs_dir = Path(specs_dir)
    path = specs_dir / f"{model_name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in specs_dir.glob("*.yaml"))
        raise SpecError(
            f"no monitor spec for model {model_name!r} in {specs_dir.resolve()}; "
            f"available: {available}"
        )
    spec = load_spec(path)
    if spec.name != model_name:
        raise SpecError(f"{path}: name is {spec.name!r} but the file is named {model_name!r}")
    return spec


def resolve_path(path: str, home: Path) -> str:
    """Resolve a source path: URLs and absolute paths as they are, others under ``home``."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str(home / path)
