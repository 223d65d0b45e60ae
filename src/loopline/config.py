"""Typed configuration: dataclasses that `params.yaml` (composed from `conf/`) must fit.

A typo or a wrong type in YAML fails when the config is loaded, not halfway through a stage.
Stages receive only their own slice (`cfg.model`, `cfg.dataset`, ...).
"""

from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf


@dataclass
class DriftKnob:
    """One simulator drift knob; off while `start_period` is null."""

    start_period: Optional[int] = None
    factor: float = 1.0
    online_share: float = 0.5
    column: str = "purpose"
    value: str = "crypto"
    strength: float = 1.0
    source: str = "branch"


@dataclass
class DriftConfig:
    income_shift: DriftKnob = field(default_factory=DriftKnob)
    channel_mix: DriftKnob = field(default_factory=DriftKnob)
    new_category: DriftKnob = field(default_factory=DriftKnob)
    concept_shift: DriftKnob = field(default_factory=DriftKnob)
    income_in_thousands: DriftKnob = field(default_factory=DriftKnob)


@dataclass
class SimulateConfig:
    seed: int = 42
    out_dir: str = "data/raw/loans/simulated"
    rows: int = 40000
    start: str = "2024-01-01"
    periods: int = 12
    repeat_customer_rate: float = 0.35
    source_mix: dict[str, float] = field(
        default_factory=lambda: {"api": 0.5, "branch": 0.3, "broker": 0.2}
    )
    label_delay_days: list[int] = field(default_factory=lambda: [60, 180])
    defect_rate: float = 0.02
    base_default_rate: float = 0.09
    drift: DriftConfig = field(default_factory=DriftConfig)
    # periods from this index on are "the future": not written to out_dir, served by
    # `loopline loop` period by period (labels observed from then on are held back too)
    release_until: Optional[int] = None


FORMATS = ("auto", "csv", "jsonl", "parquet")
WHITESPACE = "whitespace"  # the delimiter for fields separated by runs of spaces and tabs
# delimiters by name, for YAML where a bare tab is easy to lose ('\t' in single quotes is two
# characters, a backslash and a t)
DELIMITER_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "\\t": "\t",
    WHITESPACE: WHITESPACE,
}


@dataclass
class SourceConfig:
    """How one source writes its batches: a glob under the dataset's raw_dir plus its quirks.

    Compression (.gz, .bz2, .xz, .zip) follows the file name; `format: auto` reads the format
    from the extension inside it (`x.csv.gz` is CSV), other names need `format`.
    """

    pattern: str = "*"
    format: str = "auto"  # csv | jsonl | parquet | auto (from the extension)
    rename: dict[str, str] = field(default_factory=dict)  # source spelling -> canonical name
    date_format: Optional[str] = None  # strftime format; None = ISO 8601
    thousands: Optional[str] = None
    # one character, or comma | semicolon | tab | whitespace (runs of spaces and tabs);
    # a .tsv file with the default "," is read with tabs
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True  # False: the first line is data, and `names` names the columns
    names: list[str] = field(default_factory=list)  # a headerless CSV's columns, in file order
    decimal: str = "."  # "," for decimal commas ("1.234,5" with thousands ".")

    def __post_init__(self) -> None:
        """Refuse a dialect no file can be read in when the config loads, not mid-stage."""
        where = f"source {self.pattern!r}"
        if self.format not in FORMATS:
            raise ValueError(f"{where}: format {self.format!r} is not one of {', '.join(FORMATS)}")
        self.resolved_delimiter()  # raises for a delimiter the csv module cannot use
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"{where}: unknown encoding {self.encoding!r}") from None
        if not self.header and not self.names:
            raise ValueError(
                f"{where}: `header: false` needs `names`, the column names in file order"
            )
        if self.header and self.names:
            raise ValueError(
                f"{where}: `names` is for files without a header row (`header: false`); "
                "use `rename` to rename columns of a file with a header"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"{where}: `names` has duplicates: {self.names}")
        if self.decimal not in (".", ","):
            raise ValueError(f"{where}: decimal must be '.' or ',', got {self.decimal!r}")
        if self.thousands == self.decimal:
            raise ValueError(f"{where}: thousands and decimal separators are both {self.decimal!r}")

    def resolved_delimiter(self) -> str:
        """Return the delimiter as one character, or WHITESPACE; ValueError for anything else."""
        named = DELIMITER_NAMES.get(self.delimiter.lower(), self.delimiter)
        if named == WHITESPACE or (len(named) == 1 and named not in '"\r\n'):
            return named
        raise ValueError(
            f"source {self.pattern!r}: delimiter {self.delimiter!r} is not one character "
            "(other than a quote or line break) or comma, semicolon, tab or whitespace"
        )


@dataclass
class LabelsConfig:
    """Delayed label batches joined to the rows on the dataset's id column."""

    observed_at: str = "observed_at"
    sources: dict[str, SourceConfig] = field(default_factory=dict)


@dataclass
class SliceConfig:
    column: str = ""
    name: Optional[str] = None  # defaults to column
    bins: Optional[list[float]] = None  # numeric columns are cut into these bands


@dataclass
class DatasetConfig:
    name: str = "loans"
    raw_dir: str = "data/raw/loans"
    schema_path: str = "conf/schemas/loans.yaml"
    id_column: Optional[str] = None
    entity_column: Optional[str] = None
    time_column: Optional[str] = None
    target: str = "target"
    positive_label: Any = 1
    target_values: list[Any] = field(default_factory=list)  # allowed label values; [] = any
    amount_column: Optional[str] = None
    na_values: list[str] = field(default_factory=lambda: ["", "NA", "null"])
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    batch_period_regex: Optional[str] = None
    labels: Optional[LabelsConfig] = None
    derived: dict[str, str] = field(default_factory=dict)
    exclude_from_model: list[str] = field(default_factory=list)
    slices: list[SliceConfig] = field(default_factory=list)
    reason_texts: dict[str, str] = field(default_factory=dict)


@dataclass
class ValidateConfig:
    max_quarantine_rate: float = 0.25


@dataclass
class SplitConfig:
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    # with a time column, windows instead of fractions: test = the last test_days of labelled
    # applications, valid = the valid_days before (so retraining learns from recent months)
    valid_days: Optional[int] = None
    test_days: Optional[int] = None


@dataclass
class PreprocessConfig:
    clip_quantiles: list[float] = field(default_factory=lambda: [0.001, 0.999])
    impute: str = "median"  # median | none
    min_category_count: int = 10


@dataclass
class FeaturesConfig:
    time_features: list[str] = field(default_factory=lambda: ["hour", "weekday", "month"])
    entity_windows_days: list[int] = field(default_factory=lambda: [30, 90])
    days_since_previous: bool = True
    prior_positive_labels: bool = True


@dataclass
class ModelConfig:
    """XGBoost's own parameter names (`model.max_depth=8` on the command line).

    Every field except `num_boost_round` is passed to `xgboost.train` as a parameter; typed
    fields make a misspelt parameter fail when the config loads instead of being ignored.
    `extra` passes any other XGBoost parameter through unchanged.
    """

    num_boost_round: int = 400
    objective: str = "binary:logistic"
    eval_metric: list[str] = field(default_factory=lambda: ["logloss", "auc"])
    tree_method: str = "hist"
    device: str = "cpu"
    max_depth: int = 5
    eta: float = 0.05
    subsample: float = 0.9
    colsample_bytree: float = 0.8
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    max_cat_to_onehot: int = 8
    nthread: int = 2
    seed: int = 42
    extra: dict[str, Any] = field(default_factory=dict)

    def xgb_params(self) -> dict[str, Any]:
        """Return the parameters for `xgboost.train`."""
        params = {k: v for k, v in asdict(self).items() if k not in ("num_boost_round", "extra")}
        return params | dict(self.extra)


@dataclass
class TrainConfig:
    early_stopping_rounds: int = 30
    # the validation metric early stopping watches (one of model.eval_metric); logloss is a
    # proper scoring rule, so the kept trees give calibrated probabilities, not just ranks
    early_stopping_metric: str = "logloss"
    baseline_c: float = 1.0
    # "scratch": every retrain fits a new model; "champion": boosting continues from the
    # registry's champion (same features required), adding up to model.num_boost_round trees
    warm_start: str = "scratch"
    # weight training rows by age: halve every this many days back from the newest (null: off)
    recency_half_life_days: Optional[float] = None


@dataclass
class EvaluateConfig:
    calibration_bins: int = 10
    min_slice_rows: int = 50


@dataclass
class Rule:
    name: str = ""
    rule: str = ""  # an expression over the application's columns, e.g. "age < 18"
    reason: str = ""


@dataclass
class PolicyConfig:
    profit_good: float = 0.12
    loss_default: float = 0.65
    threshold_grid: int = 200
    uncertainty_band: float = 0.02
    reason_codes: int = 3
    # per-feature contributions behind reason codes: "approx" (Saabas, ~10x cheaper) or
    # "exact" (TreeSHAP); the same method on every path, so reasons agree everywhere
    contributions: str = "approx"
    hard_declines: list[Rule] = field(default_factory=list)
    referrals: list[Rule] = field(default_factory=list)


@dataclass
class DriftThresholds:
    """When an input column, and the dataset, count as drifted (defaults follow common
    practice). The one definition: `loopline.drift.compare` judges by it, `monitor.thresholds`
    extends it, and the monitoring report reads the values from the monitoring document."""

    psi: float = 0.2  # per-feature PSI: >= 0.2 significant
    wasserstein: float = 0.1  # normed Wasserstein, numeric features
    js: float = 0.1  # Jensen-Shannon distance, categorical features
    missing_rate_increase: float = 0.05
    share_of_drifted_columns: float = 0.5  # dataset drift


@dataclass
class MonitorThresholds(DriftThresholds):
    """When monitoring recommends retraining: the drift thresholds, then these."""

    score_psi: float = 0.2  # the score distribution against validation scores
    max_quarantine_rate: float = 0.05
    max_unknown_category_rate: float = 0.05
    max_out_of_range_rate: float = 0.05
    auc_drop: float = 0.04  # realised AUC below the reference AUC by this much (~5%)...
    auc_z: float = 1.64  # ...and below the reference by this many standard errors
    max_calibration_ratio: float = 1.3  # realised default rate / mean score, either way...
    calibration_z: float = 3.0  # ...and defaults this many standard deviations off expected


@dataclass
class MonitorConfig:
    window_days: int = 30  # the window ends at the latest application time in the log
    min_rows: int = 200  # fewer rows in the window: insufficient data, no verdict on drift
    # realised performance is judged on the newest labelled months pooled to this many labels
    # (about 100 defaults at a 10% rate: an AUC standard error near 0.03)
    min_labels: int = 1000
    # inputs whose window distribution differs from training by construction (calendar month)
    ignore_features: list[str] = field(default_factory=lambda: ["month"])
    thresholds: MonitorThresholds = field(default_factory=MonitorThresholds)


@dataclass
class GateConfig:
    """A challenger becomes champion only when it passes all of these on the same rows."""

    min_auc: float = 0.65  # absolute floor
    max_ece: float = 0.05  # absolute ceiling on calibration error
    min_auc_gain: float = 0.0  # challenger AUC - champion AUC must be at least this
    max_profit_loss: float = 0.02  # realised profit may not fall by more than this share
    slice_tolerance: float = 0.03  # no slice's AUC may fall by more than this...
    slice_z: float = 1.64  # ...beyond this many standard errors of the difference
    min_slice_rows: int = 200
    auto_promote: bool = True  # False: record the verdict only


@dataclass
class PathsConfig:
    """Where each stage reads and writes; dvc.yaml templates the same keys, so paths live once."""

    raw: str = "data/raw/loans"
    ingested: str = "data/interim/loans/ingested"
    validated: str = "data/interim/loans/validated"
    quarantine: str = "data/interim/loans/quarantine"
    split: str = "data/processed/loans/split.parquet"
    preprocessed: str = "data/processed/loans/preprocessed.parquet"
    features: str = "data/processed/loans/features.parquet"
    model_dir: str = "models/loans"
    reports: str = "reports/loans"
    feedback: str = "data/feedback/loans"  # immutable label partitions from `loopline feedback`
    predictions: str = "data/predictions/loans"  # the prediction log (REST and batch)


@dataclass
class ArtifactsConfig:
    """The file names of a model folder (`paths.model_dir`, and the bundle served from it);
    dvc.yaml templates the same keys (${artifacts.model}, ...), so each name lives once."""

    preprocess: str = "preprocess.json"  # fitted preprocessing state
    features: str = "features.json"  # the feature spec: names and categorical levels
    model: str = "model.ubj"  # the XGBoost booster
    baseline: str = "baseline.json"  # the logistic-regression baseline
    policy: str = "policy.json"  # threshold and decision rules
    history: str = "history.parquet"  # per-entity history for online features
    reference: str = "reference.json"  # training-time statistics monitoring compares with
    bundle: str = "bundle.json"  # the manifest tying the bundle's files together


@dataclass
class Config:
    seed: int = 42
    # the MLflow parent run of the sweep this run belongs to (`loopline sweep` sets it)
    sweep: Optional[str] = None
    paths: PathsConfig = field(default_factory=PathsConfig)
    artifacts: ArtifactsConfig = field(default_factory=ArtifactsConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    gate: GateConfig = field(default_factory=GateConfig)


def to_config(raw: DictConfig | dict[str, Any]) -> Config:
    """Return the typed Config for a raw mapping; unknown keys and wrong types raise."""
    merged = OmegaConf.merge(OmegaConf.structured(Config), raw)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def select(cfg: Config, keys: tuple[str, ...]) -> dict[str, Any]:
    """Return the values of dotted params keys (`dataset.sources`): what a stage declares in
    dvc.yaml, and the only config its partition fingerprint may depend on."""
    out: dict[str, Any] = {}
    for key in keys:
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part)
        out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def load_config(path: str | Path = "params.yaml") -> Config:
    """Return the typed Config stored in a params file."""
    return to_config(OmegaConf.load(path))
