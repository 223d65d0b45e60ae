"""Stage 8, monitoring: a window of served traffic against the model's training reference.

Inputs, none of them the training data: the prediction log (what was served: raw inputs, model
inputs, score, decision), the reference statistics stored in the bundle at training time
(`reference.json`: model inputs on the training rows, scores on the validation rows,
performance on the held-out test rows), the feedback partitions (delayed labels joined to the
logged predictions) and the per-batch data-quality records batch scoring writes beside the log.

The window is the last `monitor.window_days` of application time (ending at the latest logged
application, or at `until`). The report has four parts and a verdict:

* drift: per model input, PSI plus normed Wasserstein (numeric) or Jensen-Shannon distance
  (categorical), and the score distribution against the validation scores (`loopline.drift`);
  computed on the rows the monitored bundle scored, since model inputs depend on its own
  preprocessing;
* quality: missing rate per input column, share of values outside the training range, share
  of categories the model never saw, quarantine rate of batch scoring;
* performance: on the window's applications whose labels have arrived and that this bundle
  scored: ROC AUC against the reference AUC, calibration (realised default rate / mean score),
  expected profit (from the scores) vs realised profit (from the outcomes) of the approvals;
* periods: the same figures per month of application time, for plots over time.

Retraining is recommended for dataset drift (a share of drifted inputs), score drift, a data
quality breach or decayed realised performance; single drifted inputs are listed as warnings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from loopline import drift, evaluate, policy
from loopline.config import MonitorConfig, MonitorThresholds
from loopline.feedback import application_times
from loopline.io.predlog import FEATURE_PREFIX, INPUT_PREFIX
from loopline.labels import outcome
from loopline.preprocess import NumericRule, PreprocessState

HEALTHY, RETRAIN, INSUFFICIENT = "healthy", "retrain", "insufficient_data"


@dataclass(frozen=True)
class Reference:
    """A bundle's reference statistics (`reference.json`): what the window is judged against.

    `stats` is the whole document, as `loopline.drift` reads it.
    """

    numeric: dict[str, dict]  # per model input on the training rows: bins, quantiles
    categorical: dict[str, dict]  # per model input on the training rows: levels, shares
    score: dict | None  # the score distribution on the validation rows
    performance: dict[str, Any]  # roc_auc, positive_rate, ... on the held-out test rows
    rows: int | None
    stats: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reference:
        return cls(
            numeric=doc.get("numeric", {}),
            categorical=doc.get("categorical", {}),
            score=doc.get("score"),
            performance=doc.get("performance", {}),
            rows=doc.get("rows"),
            stats=doc,
        )


@dataclass(frozen=True)
class MonitoredModel:
    """The bundle under watch: its id, reference, learned preprocessing and input columns."""

    bundle_id: str
    reference: Reference
    state: PreprocessState  # preprocess.json: the clip bounds and category levels it learned
    input_columns: tuple[str, ...]
    info: dict[str, Any] | None = None  # name, version, dataset: the report's "model"


@dataclass(frozen=True)
class Outcomes:
    """How a label is read and what an approval earns or loses."""

    target: str
    positive_label: Any
    profit_good: float
    loss_default: float
    observed_at: str = "observed_at"  # the label column holding when it became known


@dataclass(frozen=True)
class MonitorInputs:
    """The evidence: served traffic, labels fed back, batch scoring's quality records."""

    log: pd.DataFrame  # the prediction log (`input.`, `feature.` columns, score, decision)
    labelled: pd.DataFrame  # feedback: labels joined to the logged predictions
    batches: tuple[dict, ...] = ()
    time_column: str | None = None  # the dataset's application time (None: serving time)


@dataclass(frozen=True)
class Window:
    """A span of application time, [start, end)."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True)
class MonitoringVerdict:
    """healthy, retrain (with reasons) or insufficient_data; warnings never retrain."""

    status: str
    reasons: list[str]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": self.reasons, "warnings": self.warnings}


@dataclass(frozen=True)
class WindowSummary:
    """One window's sections and verdict."""

    rows: int
    bundle_rows: int
    drift: dict[str, Any] | None
    quality: dict[str, Any]
    performance: dict[str, Any]
    served: dict[str, Any]  # realised performance of whatever served the window's rows
    verdict: MonitoringVerdict


@dataclass(frozen=True)
class _Timeline:
    """The evidence's timestamps, parsed once."""

    applied: pd.Series  # per log row: application time (or serving time)
    label_applied: pd.Series  # per label: application time
    observed: pd.Series  # per label: when it became known


def _rate(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def model_inputs(rows: pd.DataFrame) -> pd.DataFrame:
    """The logged model inputs (`feature.<name>` columns) under their own names."""
    columns = [c for c in rows.columns if c.startswith(FEATURE_PREFIX)]
    return rows[columns].rename(columns=lambda c: c[len(FEATURE_PREFIX) :])


def drift_section(rows: pd.DataFrame, ref: Reference, cfg: MonitorConfig) -> dict[str, Any]:
    """Per-input drift and score drift of the rows one bundle scored."""
    inputs = model_inputs(rows)
    ignored = set(cfg.ignore_features)
    reference = ref.stats | {
        kind: {c: v for c, v in ref.stats[kind].items() if c not in ignored}
        for kind in ("numeric", "categorical")
    }
    report = drift.compare(
        reference, drift.window_stats(inputs, reference), thresholds=cfg.thresholds
    ).to_dict()
    score_ref = {"numeric": {"score": reference["score"]}, "categorical": {}}
    scores = pd.DataFrame({"score": rows["score"].to_numpy(dtype="float64")})
    score = drift.compare(score_ref, drift.window_stats(scores, score_ref)).columns[0]
    report["score"] = {
        "psi": drift._json(score.psi),
        "distance": drift._json(score.distance),
        "drifted": bool(score.psi >= cfg.thresholds.score_psi),
    }
    return report


def quality_section(
    rows: pd.DataFrame, model: MonitoredModel, batches: list[dict], cfg: MonitorConfig
) -> dict[str, Any]:
    """Missing rate per input, share of raw values outside the training range (the clip bounds
    preprocessing learned) and of categories training never saw (enough of), quarantine rate."""
    rows_in = sum(b["rows_in"] for b in batches)
    quarantined = sum(b["quarantined"] for b in batches)
    section = {
        "rows": len(rows),
        "batches": len(batches),
        "rows_in": rows_in,
        "quarantined": quarantined,
        "quarantine_rate": _rate(quarantined, rows_in),
        "missing_rate": _missing_rates(rows, model.input_columns),
        "out_of_range_rate": _out_of_range_rates(rows, model.state.numeric),
        "unknown_category_rate": _unknown_category_rates(rows, model.state.categorical),
    }
    section["breaches"] = _quality_breaches(section, cfg.thresholds)
    return section


def _missing_rates(rows: pd.DataFrame, input_columns: Iterable[str]) -> dict[str, float | None]:
    missing = {}
    for column in input_columns:
        values = rows.get(f"{INPUT_PREFIX}{column}")
        missing[column] = 1.0 if values is None else _rate(int(values.isna().sum()), len(rows))
    return missing


def _out_of_range_rates(
    rows: pd.DataFrame, numeric: Mapping[str, NumericRule]
) -> dict[str, float | None]:
    out_of_range = {}
    for column, rule in numeric.items():
        values = rows.get(f"{INPUT_PREFIX}{column}")
        if values is None:
            continue
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        x = x[np.isfinite(x)]
        low = -np.inf if rule.low is None else rule.low
        high = np.inf if rule.high is None else rule.high
        out_of_range[column] = _rate(int(((x < low) | (x > high)).sum()), len(x))
    return out_of_range


def _unknown_category_rates(
    rows: pd.DataFrame, categorical: Mapping[str, tuple[str, ...]]
) -> dict[str, float | None]:
    unknown = {}
    for column, levels in categorical.items():
        values = rows.get(f"{INPUT_PREFIX}{column}")
        if values is None:
            continue
        present = values.dropna().astype("str").to_numpy(dtype=object)
        known = set(levels)
        unseen = sum(1 for v in present if v not in known)
        unknown[column] = _rate(unseen, len(present))
    return unknown


def _quality_breaches(section: dict[str, Any], t: MonitorThresholds) -> list[str]:
    breaches = []
    if (section["quarantine_rate"] or 0) > t.max_quarantine_rate:
        breaches.append(
            f"quarantine rate {section['quarantine_rate']:.3f} > {t.max_quarantine_rate}"
        )
    for name, rates, ceiling in (
        ("unknown categories", section["unknown_category_rate"], t.max_unknown_category_rate),
        ("outside the training range", section["out_of_range_rate"], t.max_out_of_range_rate),
    ):
        for column, rate in rates.items():
            if rate is not None and rate > ceiling:
                breaches.append(f"{column}: {rate:.3f} {name} > {ceiling}")
    return breaches


def performance_section(
    labelled: pd.DataFrame, reference: Reference, outcomes: Outcomes, cfg: MonitorConfig
) -> dict[str, Any]:
    """Realised performance on labelled served applications (score and decision as logged)."""
    if len(labelled):  # labels of applications from before serving have no logged score
        labelled = labelled[pd.to_numeric(labelled["score"], errors="coerce").notna()]
    section: dict[str, Any] = {
        "labelled": len(labelled),
        "reference_auc": reference.performance.get("roc_auc"),
        "reference_positive_rate": reference.performance.get("positive_rate"),
    }
    if labelled.empty:
        return section | {"breaches": []}
    section |= _realised(labelled, outcomes)
    judged = len(labelled) >= cfg.min_labels
    section["breaches"] = _performance_breaches(section, cfg.thresholds) if judged else []
    return section


def _realised(labelled: pd.DataFrame, outcomes: Outcomes) -> dict[str, Any]:
    """AUC, calibration and profit of the logged scores and decisions against the outcomes."""
    y = outcome(labelled[outcomes.target], outcomes.positive_label)
    score = labelled["score"].to_numpy(dtype="float64")
    metrics = evaluate.binary_metrics(y, score)
    amount = (
        labelled["amount"].to_numpy(dtype="float64", na_value=0.0)
        if "amount" in labelled
        else np.ones(len(labelled))
    )
    approved = labelled["decision"].astype("str").to_numpy() == "approve"
    good, loss = outcomes.profit_good, outcomes.loss_default
    # summed over every row (zero where not approved), as the monitoring figures always were
    expected = np.sum(policy.expected_row_profit(score, amount, good, loss) * approved)
    realised = np.sum(policy.row_profit(y, amount, good, loss) * approved)
    positives = int(y.sum())
    expected_defaults = float(score.sum())
    spread = math.sqrt(float(np.sum(score * (1 - score)))) or math.nan
    return {
        "auc": metrics["roc_auc"],
        "ece": metrics["ece"],
        "default_rate": metrics["positive_rate"],
        "mean_score": metrics["mean_score"],
        "expected_profit": float(expected),
        "realised_profit": float(realised),
        "auc_se": auc_standard_error(metrics["roc_auc"], positives, len(y) - positives),
        "calibration_z": (float(y.sum()) - expected_defaults) / spread,
    }


def _performance_breaches(section: dict[str, Any], t: MonitorThresholds) -> list[str]:
    """A decayed AUC or a miscalibration, each only when the sample says it is real."""
    breaches = []
    auc, ref_auc, se = section["auc"], section["reference_auc"], section["auc_se"]
    # a drop counts when it is large and the sample says it is real (one-sided z test)
    if (
        auc is not None
        and ref_auc is not None
        and auc < ref_auc - t.auc_drop
        and auc + t.auc_z * (se or 0.0) < ref_auc
    ):
        breaches.append(
            f"realised AUC {auc:.3f} (±{se:.3f}) < reference {ref_auc:.3f} - {t.auc_drop}"
        )
    ratio = _rate(section["default_rate"], section["mean_score"])
    low, high = 1 / t.max_calibration_ratio, t.max_calibration_ratio
    z = section["calibration_z"]
    if ratio is not None and not low <= ratio <= high and abs(z) >= t.calibration_z:
        breaches.append(
            f"realised default rate {section['default_rate']:.3f} vs mean score "
            f"{section['mean_score']:.3f}: ratio {ratio:.2f} outside "
            f"[{low:.2f}, {high}] (z {z:.1f})"
        )
    return breaches


def auc_standard_error(auc: float | None, positives: int, negatives: int) -> float | None:
    """Hanley and McNeil's standard error of an AUC from its class counts."""
    if auc is None or positives < 1 or negatives < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def verdict(
    rows: int, drift_part: dict | None, quality: dict, performance: dict, cfg: MonitorConfig
) -> MonitoringVerdict:
    """healthy, retrain (with reasons) or insufficient_data; drifted inputs as warnings."""
    reasons: list[str] = []
    warnings: list[str] = []
    enough = rows >= cfg.min_rows
    if drift_part is not None and drift_part["rows"] >= cfg.min_rows:
        if drift_part["dataset_drift"]:
            reasons.append(
                f"dataset drift: {len(drift_part['drifted_columns'])} of "
                f"{len(drift_part['columns'])} inputs drifted "
                f"({', '.join(drift_part['drifted_columns'])})"
            )
        elif drift_part["drifted_columns"]:
            warnings.append(f"inputs drifted: {', '.join(drift_part['drifted_columns'])}")
        if drift_part["score"]["drifted"]:
            reasons.append(
                f"score drift: PSI {drift_part['score']['psi']:.3f} >= {cfg.thresholds.score_psi}"
            )
    if enough:
        reasons.extend(f"data quality: {b}" for b in quality["breaches"])
    reasons.extend(f"performance: {b}" for b in performance["breaches"])
    if performance["labelled"] < cfg.min_labels:
        warnings.append(
            f"{performance['labelled']} labelled applications in the window "
            f"(< {cfg.min_labels}): realised performance not judged"
        )
    if reasons:
        status = RETRAIN
    elif not enough:
        status = INSUFFICIENT
        warnings.append(f"{rows} rows in the window (< {cfg.min_rows})")
    else:
        status = HEALTHY
    return MonitoringVerdict(status, reasons, warnings)


def _in(times: pd.Series, window: Window) -> np.ndarray:
    return ((times >= window.start) & (times < window.end)).to_numpy()


def _batches_in(batches: Iterable[dict], window: Window) -> list[dict]:
    out = []
    for b in batches:
        stamp = pd.to_datetime(b.get("applied_to"), errors="coerce")
        if pd.notna(stamp) and window.start <= stamp < window.end:
            out.append(b)
    return out


@dataclass(frozen=True)
class _Evidence:
    """Everything one monitoring run judges, with its timestamps parsed once."""

    inputs: MonitorInputs
    model: MonitoredModel
    outcomes: Outcomes
    cfg: MonitorConfig
    timeline: _Timeline

    def performance(self, labelled: pd.DataFrame) -> dict[str, Any]:
        return performance_section(labelled, self.model.reference, self.outcomes, self.cfg)


def _timeline(inputs: MonitorInputs, outcomes: Outcomes) -> _Timeline:
    log, labelled = inputs.log, inputs.labelled
    if not len(log):
        times = pd.Series(dtype="datetime64[ns]")
    elif inputs.time_column:
        times = application_times(log[f"{INPUT_PREFIX}{inputs.time_column}"])
    else:  # a dataset without a time column: the window is by serving time
        times = application_times(log["logged_at"])
    none = pd.Series(dtype="datetime64[ns]")
    label_times = pd.to_datetime(labelled["applied_at"]) if len(labelled) else none
    observed_times = pd.to_datetime(labelled[outcomes.observed_at]) if len(labelled) else none
    return _Timeline(times, label_times, observed_times)


def _window(ev: _Evidence, until: datetime | None) -> Window:
    """The last `window_days` before `until`, else before the latest logged application."""
    times = ev.timeline.applied
    if until is not None:
        end = pd.Timestamp(until)
    elif len(ev.inputs.log) and times.notna().any():
        end = times.max() + pd.Timedelta(seconds=1)
    else:
        end = pd.Timestamp.now()
    return Window(end - pd.Timedelta(days=ev.cfg.window_days), end)


def _months(ev: _Evidence, window: Window) -> list[tuple[str, Window]]:
    """Each month from the first logged application to the window's end, cut at the end."""
    times = ev.timeline.applied
    if not (len(ev.inputs.log) and times.notna().any()):
        return []
    last = (window.end - pd.Timedelta(1)).to_period("M")
    months = pd.period_range(times.min().to_period("M"), last)
    return [(str(m), Window(m.start_time, min((m + 1).start_time, window.end))) for m in months]


def monitor(
    inputs: MonitorInputs,
    model: MonitoredModel,
    outcomes: Outcomes,
    cfg: MonitorConfig,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Return the monitoring report (strict JSON) of the window ending at `until` (or the end
    of the log)."""
    ev = _Evidence(inputs, model, outcomes, cfg, _timeline(inputs, outcomes))
    window = _window(ev, until)
    # realised performance of the window: this model's newest application months, pooled
    # until they hold enough labels arrived by the window's end (labels come months late; the
    # newest cohorts show decay sooner than whichever labels happen to arrive in the window);
    # per month: that month's applications whose labels have arrived so far
    current = _summarise(ev, window, newest_cohort=True)
    periods = [
        _period_row(month, _summarise(ev, part, newest_cohort=False))
        for month, part in _months(ev, window)
    ]
    return _report(ev, window, current, periods)


def _report(
    ev: _Evidence, window: Window, current: WindowSummary, periods: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report document (strict JSON)."""
    cfg, reference = ev.cfg, ev.model.reference
    return evaluate.json_safe(
        {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": (ev.model.info or {}) | {"bundle_id": ev.model.bundle_id},
            "window": {
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
                "days": cfg.window_days,
                "rows": current.rows,
                "rows_of_this_bundle": current.bundle_rows,
            },
            "reference": {"rows": reference.rows, **reference.performance},
            "drift": current.drift,
            "quality": current.quality,
            "performance": current.performance,
            "served_performance": current.served,
            "periods": periods,
            "thresholds": {
                "window_days": cfg.window_days,
                "min_rows": cfg.min_rows,
                "min_labels": cfg.min_labels,
                **vars(cfg.thresholds),
            },
            "verdict": current.verdict.to_dict(),
        }
    )


def _summarise(ev: _Evidence, window: Window, *, newest_cohort: bool) -> WindowSummary:
    """One window's report. With `newest_cohort`, performance is judged on the newest
    application months of this bundle with enough labels observed before the window's end;
    without, on the window's own applications whose labels have arrived."""
    log, labelled, bundle_id = ev.inputs.log, ev.inputs.labelled, ev.model.bundle_id
    rows = log[_in(ev.timeline.applied, window)] if len(log) else log
    own = rows[rows["bundle_id"].astype("str") == bundle_id] if len(rows) else rows
    drift_part = drift_section(own, ev.model.reference, ev.cfg) if len(own) else None
    batches = _batches_in(ev.inputs.batches, window)
    quality = quality_section(rows, ev.model, batches, ev.cfg)
    arrived = labelled[_in(ev.timeline.label_applied, window)] if len(labelled) else labelled
    served = ev.performance(arrived)
    if newest_cohort:
        performance = _latest_cohort(ev, window.end)
    else:
        own_labels = (
            arrived[arrived["bundle_id"].astype("str") == bundle_id] if len(arrived) else arrived
        )
        performance = ev.performance(own_labels)
    return WindowSummary(
        rows=len(rows),
        bundle_rows=len(own),
        drift=drift_part,
        quality=quality,
        performance=performance,
        served=served,
        verdict=verdict(len(own), drift_part, quality, performance, ev.cfg),
    )


def _latest_cohort(ev: _Evidence, end: pd.Timestamp) -> dict[str, Any]:
    """Performance of one bundle's newest application months, pooled from the newest back
    until they hold `min_labels` labels (all its labelled months when they hold fewer)."""
    labelled, applied = ev.inputs.labelled, ev.timeline.label_applied
    if not len(labelled):
        return ev.performance(labelled)
    mine = (
        (labelled["bundle_id"].astype("str") == ev.model.bundle_id).to_numpy()
        & (ev.timeline.observed < end).to_numpy()
        & applied.notna().to_numpy()
        & pd.to_numeric(labelled["score"], errors="coerce").notna().to_numpy()
    )
    if not mine.any():
        return ev.performance(labelled.iloc[:0]) | {"cohort": None}
    months = applied[mine].dt.to_period("M")
    counts = months.value_counts().sort_index(ascending=False)
    pooled, total = [], 0
    for month, count in counts.items():
        pooled.append(month)
        total += int(count)
        if total >= ev.cfg.min_labels:
            break
    rows = labelled[mine][months.isin(pooled).to_numpy()]
    cohort = str(pooled[0]) if len(pooled) == 1 else f"{pooled[-1]}..{pooled[0]}"
    return ev.performance(rows) | {"cohort": cohort}


def _mean_rate(rates: dict) -> float | None:
    values = [v for v in rates.values() if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _period_row(period: str, part: WindowSummary) -> dict[str, Any]:
    """One month's figures for plots (drift only where the monitored bundle served)."""
    d, q, p = part.drift, part.quality, part.served
    feature_psi = [c["psi"] for c in d["columns"] if c["psi"] is not None] if d else []
    return {
        "period": period,
        "rows": part.rows,
        "bundle_rows": part.bundle_rows,
        "score_psi": d["score"]["psi"] if d else None,
        "max_feature_psi": max(feature_psi) if feature_psi else None,
        "drifted_features": len(d["drifted_columns"]) if d else None,
        "missing_rate": _mean_rate(q["missing_rate"]),
        "unknown_category_rate": _mean_rate(q["unknown_category_rate"]),
        "out_of_range_rate": _mean_rate(q["out_of_range_rate"]),
        "quarantine_rate": q["quarantine_rate"],
        "labelled": p["labelled"],
        "auc": p.get("auc"),
        "default_rate": p.get("default_rate"),
        "mean_score": p.get("mean_score"),
        "expected_profit": p.get("expected_profit"),
        "realised_profit": p.get("realised_profit"),
    }
