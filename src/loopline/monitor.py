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
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from loopline import drift, evaluate, policy
from loopline.config import MonitorConfig
from loopline.feedback import application_times
from loopline.io.predlog import FEATURE_PREFIX, INPUT_PREFIX
from loopline.labels import outcome

HEALTHY, RETRAIN, INSUFFICIENT = "healthy", "retrain", "insufficient_data"


def _rate(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def model_inputs(rows: pd.DataFrame) -> pd.DataFrame:
    """The logged model inputs (`feature.<name>` columns) under their own names."""
    columns = [c for c in rows.columns if c.startswith(FEATURE_PREFIX)]
    return rows[columns].rename(columns=lambda c: c[len(FEATURE_PREFIX) :])


def drift_section(rows: pd.DataFrame, reference: dict, cfg: MonitorConfig) -> dict[str, Any]:
    """Per-input drift and score drift of the rows one bundle scored."""
    inputs = model_inputs(rows)
    ignored = set(cfg.ignore_features)
    reference = reference | {
        kind: {c: v for c, v in reference[kind].items() if c not in ignored}
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
    rows: pd.DataFrame,
    state: dict,
    input_columns: Iterable[str],
    batches: list[dict],
    cfg: MonitorConfig,
) -> dict[str, Any]:
    """Missing rate per input, share of raw values outside the training range (the clip bounds
    preprocessing learned) and of categories training never saw (enough of), quarantine rate."""
    n = len(rows)
    missing = {}
    for column in input_columns:
        values = rows.get(f"{INPUT_PREFIX}{column}")
        missing[column] = 1.0 if values is None else _rate(int(values.isna().sum()), n)
    out_of_range, unknown = {}, {}
    for column, spec in state.get("numeric", {}).items():
        values = rows.get(f"{INPUT_PREFIX}{column}")
        if values is None:
            continue
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        x = x[np.isfinite(x)]
        low = -np.inf if spec["low"] is None else spec["low"]
        high = np.inf if spec["high"] is None else spec["high"]
        out_of_range[column] = _rate(int(((x < low) | (x > high)).sum()), len(x))
    for column, spec in state.get("categorical", {}).items():
        values = rows.get(f"{INPUT_PREFIX}{column}")
        if values is None:
            continue
        present = values.dropna().astype("str").to_numpy(dtype=object)
        levels = set(spec["levels"])
        unseen = sum(1 for v in present if v not in levels)
        unknown[column] = _rate(unseen, len(present))
    rows_in = sum(b["rows_in"] for b in batches)
    quarantined = sum(b["quarantined"] for b in batches)
    t = cfg.thresholds
    section = {
        "rows": n,
        "batches": len(batches),
        "rows_in": rows_in,
        "quarantined": quarantined,
        "quarantine_rate": _rate(quarantined, rows_in),
        "missing_rate": missing,
        "out_of_range_rate": out_of_range,
        "unknown_category_rate": unknown,
    }
    breaches = []
    if (section["quarantine_rate"] or 0) > t.max_quarantine_rate:
        breaches.append(
            f"quarantine rate {section['quarantine_rate']:.3f} > {t.max_quarantine_rate}"
        )
    for name, rates, ceiling in (
        ("unknown categories", unknown, t.max_unknown_category_rate),
        ("outside the training range", out_of_range, t.max_out_of_range_rate),
    ):
        for column, rate in rates.items():
            if rate is not None and rate > ceiling:
                breaches.append(f"{column}: {rate:.3f} {name} > {ceiling}")
    section["breaches"] = breaches
    return section


def performance_section(
    labelled: pd.DataFrame,
    reference: dict,
    *,
    positive_label: Any,
    profit_good: float,
    loss_default: float,
    cfg: MonitorConfig,
    target: str,
) -> dict[str, Any]:
    """Realised performance on labelled served applications (score and decision as logged)."""
    if len(labelled):  # labels of applications from before serving have no logged score
        labelled = labelled[pd.to_numeric(labelled["score"], errors="coerce").notna()]
    ref_perf = reference.get("performance", {})
    section: dict[str, Any] = {
        "labelled": len(labelled),
        "reference_auc": ref_perf.get("roc_auc"),
        "reference_positive_rate": ref_perf.get("positive_rate"),
    }
    if labelled.empty:
        return section | {"breaches": []}
    y = outcome(labelled[target], positive_label)
    score = labelled["score"].to_numpy(dtype="float64")
    metrics = evaluate.binary_metrics(y, score)
    amount = (
        labelled["amount"].to_numpy(dtype="float64", na_value=0.0)
        if "amount" in labelled
        else np.ones(len(labelled))
    )
    approved = labelled["decision"].astype("str").to_numpy() == "approve"
    # summed over every row (zero where not approved), as the monitoring figures always were
    expected = np.sum(
        policy.expected_row_profit(score, amount, profit_good, loss_default) * approved
    )
    realised = np.sum(policy.row_profit(y, amount, profit_good, loss_default) * approved)
    section |= {
        "auc": metrics["roc_auc"],
        "ece": metrics["ece"],
        "default_rate": metrics["positive_rate"],
        "mean_score": metrics["mean_score"],
        "expected_profit": float(expected),
        "realised_profit": float(realised),
    }
    positives = int(y.sum())
    se = auc_standard_error(section["auc"], positives, len(y) - positives)
    expected_defaults = float(score.sum())
    spread = math.sqrt(float(np.sum(score * (1 - score)))) or math.nan
    section["auc_se"] = se
    section["calibration_z"] = (float(y.sum()) - expected_defaults) / spread
    breaches = []
    t = cfg.thresholds
    if len(labelled) >= cfg.min_labels:
        auc, ref_auc = section["auc"], section["reference_auc"]
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
    section["breaches"] = breaches
    return section


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
) -> dict[str, Any]:
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
    return {"status": status, "reasons": reasons, "warnings": warnings}


def _in(times: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    return ((times >= start) & (times < end)).to_numpy()


def _batches_in(batches: list[dict], start: pd.Timestamp, end: pd.Timestamp) -> list[dict]:
    out = []
    for b in batches:
        stamp = pd.to_datetime(b.get("applied_to"), errors="coerce")
        if pd.notna(stamp) and start <= stamp < end:
            out.append(b)
    return out


def monitor(
    log: pd.DataFrame,
    *,
    reference: dict,
    state: dict,
    bundle_id: str,
    input_columns: list[str],
    time_column: str | None,
    labelled: pd.DataFrame,
    batches: list[dict],
    target: str,
    observed_at: str,
    positive_label: Any,
    profit_good: float,
    loss_default: float,
    cfg: MonitorConfig,
    until: datetime | None = None,
    model: dict | None = None,
) -> dict[str, Any]:
    """Return the monitoring report (strict JSON) of the window ending at `until` (or the end
    of the log)."""
    if not len(log):
        times = pd.Series(dtype="datetime64[ns]")
    elif time_column:
        times = application_times(log[f"{INPUT_PREFIX}{time_column}"])
    else:  # a dataset without a time column: the window is by serving time
        times = application_times(log["logged_at"])
    none = pd.Series(dtype="datetime64[ns]")
    label_times = pd.to_datetime(labelled["applied_at"]) if len(labelled) else none
    observed_times = pd.to_datetime(labelled[observed_at]) if len(labelled) else none
    if until is not None:
        end = pd.Timestamp(until)
    elif len(log) and times.notna().any():
        end = times.max() + pd.Timedelta(seconds=1)
    else:
        end = pd.Timestamp.now()
    start = end - pd.Timedelta(days=cfg.window_days)
    common = {
        "reference": reference,
        "state": state,
        "bundle_id": bundle_id,
        "input_columns": input_columns,
        "labelled": labelled,
        "batches": batches,
        "target": target,
        "positive_label": positive_label,
        "profit_good": profit_good,
        "loss_default": loss_default,
        "cfg": cfg,
    }
    # realised performance of the window: this model's newest application months, pooled
    # until they hold enough labels arrived by the window's end (labels come months late; the
    # newest cohorts show decay sooner than whichever labels happen to arrive in the window);
    # per month: that month's applications whose labels have arrived so far
    current = _summarise(
        log, times, start, end, label_times=label_times, observed_times=observed_times, **common
    )
    periods = []
    if len(log) and times.notna().any():
        months = pd.period_range(times.min().to_period("M"), (end - pd.Timedelta(1)).to_period("M"))
        for month in months:
            lo, hi = month.start_time, (month + 1).start_time
            part = _summarise(
                log, times, lo, min(hi, end), label_times=label_times, observed_times=None, **common
            )
            periods.append(_period_row(str(month), part))
    t = cfg.thresholds
    return evaluate.json_safe(
        {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": (model or {}) | {"bundle_id": bundle_id},
            "window": {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "days": cfg.window_days,
                "rows": current["rows"],
                "rows_of_this_bundle": current["bundle_rows"],
            },
            "reference": {"rows": reference.get("rows"), **reference.get("performance", {})},
            "drift": current["drift"],
            "quality": current["quality"],
            "performance": current["performance"],
            "served_performance": current["served"],
            "periods": periods,
            "thresholds": {
                "window_days": cfg.window_days,
                "min_rows": cfg.min_rows,
                "min_labels": cfg.min_labels,
                **vars(t),
            },
            "verdict": current["verdict"],
        }
    )


def _summarise(
    log: pd.DataFrame,
    times: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    reference: dict,
    state: dict,
    bundle_id: str,
    input_columns: list[str],
    labelled: pd.DataFrame,
    label_times: pd.Series,
    observed_times: pd.Series | None,
    batches: list[dict],
    target: str,
    positive_label: Any,
    profit_good: float,
    loss_default: float,
    cfg: MonitorConfig,
) -> dict[str, Any]:
    """One window's report. With `observed_times`, performance is judged on the newest
    application month of this bundle with enough labels observed before `end`; without,
    on the window's own applications whose labels have arrived."""
    rows = log[_in(times, start, end)] if len(log) else log
    own = rows[rows["bundle_id"].astype("str") == bundle_id] if len(rows) else rows
    drift_part = drift_section(own, reference, cfg) if len(own) else None
    quality = quality_section(rows, state, input_columns, _batches_in(batches, start, end), cfg)

    def perf(frame: pd.DataFrame) -> dict[str, Any]:
        return performance_section(
            frame,
            reference,
            positive_label=positive_label,
            profit_good=profit_good,
            loss_default=loss_default,
            cfg=cfg,
            target=target,
        )

    arrived = labelled[_in(label_times, start, end)] if len(labelled) else labelled
    served = perf(arrived)
    if observed_times is None:
        own_labels = (
            arrived[arrived["bundle_id"].astype("str") == bundle_id] if len(arrived) else arrived
        )
        performance = perf(own_labels)
    else:
        performance = _latest_cohort(
            labelled, label_times, observed_times, bundle_id, end, cfg.min_labels, perf
        )
    return {
        "rows": len(rows),
        "bundle_rows": len(own),
        "drift": drift_part,
        "quality": quality,
        "performance": performance,
        "served": served,
        "verdict": verdict(len(own), drift_part, quality, performance, cfg),
    }


def _latest_cohort(
    labelled: pd.DataFrame,
    applied: pd.Series,
    observed: pd.Series,
    bundle_id: str,
    end: pd.Timestamp,
    min_labels: int,
    perf: Any,
) -> dict[str, Any]:
    """Performance of one bundle's newest application months, pooled from the newest back
    until they hold `min_labels` labels (all its labelled months when they hold fewer)."""
    if not len(labelled):
        return perf(labelled)
    mine = (
        (labelled["bundle_id"].astype("str") == bundle_id).to_numpy()
        & (observed < end).to_numpy()
        & applied.notna().to_numpy()
        & pd.to_numeric(labelled["score"], errors="coerce").notna().to_numpy()
    )
    if not mine.any():
        return perf(labelled.iloc[:0]) | {"cohort": None}
    months = applied[mine].dt.to_period("M")
    counts = months.value_counts().sort_index(ascending=False)
    pooled, total = [], 0
    for month, count in counts.items():
        pooled.append(month)
        total += int(count)
        if total >= min_labels:
            break
    rows = labelled[mine][months.isin(pooled).to_numpy()]
    cohort = str(pooled[0]) if len(pooled) == 1 else f"{pooled[-1]}..{pooled[0]}"
    return perf(rows) | {"cohort": cohort}


def _period_row(period: str, part: dict) -> dict[str, Any]:
    """One month's figures for plots (drift only where the monitored bundle served)."""
    d, q, p = part["drift"], part["quality"], part["served"]
    feature_psi = [c["psi"] for c in d["columns"] if c["psi"] is not None] if d else []

    def mean_rate(rates: dict) -> float | None:
        values = [v for v in rates.values() if v is not None and not math.isnan(v)]
        return float(np.mean(values)) if values else None

    return {
        "period": period,
        "rows": part["rows"],
        "bundle_rows": part["bundle_rows"],
        "score_psi": d["score"]["psi"] if d else None,
        "max_feature_psi": max(feature_psi) if feature_psi else None,
        "drifted_features": len(d["drifted_columns"]) if d else None,
        "missing_rate": mean_rate(q["missing_rate"]),
        "unknown_category_rate": mean_rate(q["unknown_category_rate"]),
        "out_of_range_rate": mean_rate(q["out_of_range_rate"]),
        "quarantine_rate": q["quarantine_rate"],
        "labelled": p["labelled"],
        "auc": p.get("auc"),
        "default_rate": p.get("default_rate"),
        "mean_score": p.get("mean_score"),
        "expected_profit": p.get("expected_profit"),
        "realised_profit": p.get("realised_profit"),
    }
