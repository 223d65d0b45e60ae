"""Model evaluation: metrics, calibration, curves, per-slice metrics and feature importance.

Everything here is a pure function of labels and scores (P(positive), positive label = 1), so
the same code serves the evaluate stage, notebooks and tests. Dictionaries that end up in
metrics files go through `json_safe`, which turns NaN/inf into None and numpy scalars into
Python ones, so `json.dumps(..., allow_nan=False)` never fails on a degenerate split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from loopline.config import SliceConfig

_EPS = 1e-15
_IMPORTANCE_TYPES = ("weight", "gain", "cover", "total_gain", "total_cover")
MISSING_GROUP = "missing"
OUT_OF_RANGE_GROUP = "out_of_range"


def json_safe(obj: Any) -> Any:
    """Return `obj` with NaN/inf floats as None and numpy types as Python ones, for strict JSON."""
    if isinstance(obj, Mapping):
        return {json_safe(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def validate_scores(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return labels as int 0/1 and scores as float arrays, raising ValueError on bad input."""
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=float)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"y_true and score must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise ValueError(f"y_true has {len(y)} rows but score has {len(s)}")
    if len(y) == 0:
        raise ValueError("cannot evaluate zero rows")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y_true must be numeric 0/1 labels, got dtype {y.dtype}")
    if not np.isin(y, [0, 1]).all():
        raise ValueError(f"y_true must contain only 0 and 1, got {np.unique(y)[:10].tolist()}")
    if not np.isfinite(s).all():
        raise ValueError("score contains NaN or inf")
    if s.min() < 0.0 or s.max() > 1.0:
        raise ValueError(f"score must lie in [0, 1], got range [{s.min()}, {s.max()}]")
    return y.astype(np.int64), s


def _bin_index(score: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin of each score in [0, 1]; a score of exactly 1 joins the last bin."""
    return np.clip(np.floor(score * bins).astype(np.int64), min=0, max=bins - 1)


def _ece(y: np.ndarray, s: np.ndarray, bins: int) -> float:
    idx = _bin_index(s, bins)
    score_sum = np.bincount(idx, weights=s, minlength=bins)
    pos_sum = np.bincount(idx, weights=y, minlength=bins)
    return float(np.abs(score_sum - pos_sum).sum() / len(y))


def ece_by_chance(s: np.ndarray, bins: int = 10) -> float:
    """Return the ECE a perfectly calibrated model would show on these scores by chance alone.

    In each bin the count of positives minus the sum of scores has variance sum(s(1-s)) when
    the scores are true probabilities; E|X| is about sqrt(2/pi) standard deviations. On a few
    hundred rows this is 0.02-0.05, the size of a typical ECE ceiling.
    """
    if not len(s):
        return 0.0
    idx = _bin_index(s, bins)
    variance = np.bincount(idx, weights=s * (1.0 - s), minlength=bins)
    return float(np.sqrt(2.0 / np.pi * variance).sum() / len(s))


def binary_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """Return ranking, probability and calibration metrics; undefined ones are None (JSON-safe)."""
    y, s = validate_scores(y_true, score)
    both_classes = 0 < y.sum() < len(y)
    if both_classes:
        fpr, tpr, _ = roc_curve(y, s)
        roc_auc = float(np.trapezoid(tpr, fpr))
        ks = float(np.max(np.abs(tpr - fpr)))
        pr_auc = float(average_precision_score(y, s))
    else:
        roc_auc = ks = pr_auc = math.nan
    clipped = np.clip(s, min=_EPS, max=1.0 - _EPS)
    log_loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
    metrics = {
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "log_loss": log_loss,
        "brier": float(np.mean((s - y) ** 2)),
        "ks": ks,
        "ece": _ece(y, s, bins=10),
        "ece_by_chance": ece_by_chance(s, bins=10),
        "positive_rate": float(y.mean()),
        "mean_score": float(s.mean()),
        "rows": len(y),
    }
    return json_safe(metrics)


def calibration_table(y_true: np.ndarray, score: np.ndarray, bins: int) -> pd.DataFrame:
    """Return mean score vs observed positive rate per equal-width bin, to judge calibration."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, s = validate_scores(y_true, score)
    grouped = (
        pd.DataFrame({"bin": _bin_index(s, bins), "score": s, "y": y})
        .groupby("bin", sort=True)
        .agg(mean_score=("score", "mean"), observed_rate=("y", "mean"), rows=("y", "size"))
        .reset_index()
    )
    return grouped[["bin", "mean_score", "observed_rate", "rows"]]


def _thin(n: int, max_points: int) -> np.ndarray:
    """Evenly spaced positions into n points, first and last kept, at most max_points of them."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, num=max_points).round().astype(np.int64))


def _both_classes(y: np.ndarray) -> bool:
    return bool(0 < y.sum() < len(y))


def roc_points(y_true: np.ndarray, score: np.ndarray, max_points: int = 200) -> pd.DataFrame:
    """Return the ROC curve thinned to max_points rows (empty with one class) for plot files."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    y, s = validate_scores(y_true, score)
    if not _both_classes(y):
        return pd.DataFrame({"fpr": [], "tpr": [], "threshold": []}, dtype=float)
    fpr, tpr, thr = roc_curve(y, s)
    thr = np.where(np.isfinite(thr), thr, 1.0)  # sklearn's "flag nothing" point is +inf
    keep = _thin(len(fpr), max_points)
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": thr[keep]})


def pr_points(y_true: np.ndarray, score: np.ndarray, max_points: int = 200) -> pd.DataFrame:
    """Return the precision-recall curve thinned to max_points rows (empty with one class)."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    y, s = validate_scores(y_true, score)
    if not _both_classes(y):
        return pd.DataFrame({"recall": [], "precision": [], "threshold": []}, dtype=float)
    precision, recall, thr = precision_recall_curve(y, s)
    thr = np.append(thr, 1.0)  # the final (recall 0, precision 1) point has no threshold
    keep = _thin(len(recall), max_points)
    return pd.DataFrame(
        {"recall": recall[keep], "precision": precision[keep], "threshold": thr[keep]}
    )


def _band_label(low: float, high: float) -> str:
    return f"{low:g}-{high:g}"


def _slice_groups(frame: pd.DataFrame, cfg: SliceConfig) -> tuple[np.ndarray, list[str]]:
    """Group label per row and the groups in report order (bands in order, then leftovers)."""
    column = frame[cfg.column]
    missing = column.isna().to_numpy()
    if cfg.bins is not None:
        edges = [float(b) for b in cfg.bins]
        if len(edges) < 2 or bool((np.diff(edges) <= 0).any()):
            raise ValueError(
                f"slice {cfg.name or cfg.column!r}: bins must be at least two increasing edges, "
                f"got {cfg.bins}"
            )
        try:
            numeric = pd.to_numeric(column, errors="raise").astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"slice {cfg.name or cfg.column!r}: bins need a numeric column, "
                f"{cfg.column!r} is {column.dtype}"
            ) from exc
        labels = [_band_label(a, b) for a, b in itertools.pairwise(edges)]
        banded = pd.cut(numeric, bins=edges, labels=labels, right=False, include_lowest=True)
        groups = banded.astype(object).where(banded.notna(), OUT_OF_RANGE_GROUP).to_numpy()
        order = [*labels, OUT_OF_RANGE_GROUP]
    else:
        groups = column.astype(object).map(str).to_numpy()
        order = sorted(set(groups[~missing].tolist()))
    groups = np.where(missing, MISSING_GROUP, groups).astype(object)
    present = set(groups.tolist())
    return groups, [g for g in [*order, MISSING_GROUP] if g in present]


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, s)
    return float(np.trapezoid(tpr, fpr))


def slice_metrics(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    score: np.ndarray,
    slices: list[SliceConfig],
    min_rows: int,
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Return rows, positive rate, AUC and mean score per slice group, to find weak spots."""
    y, s = validate_scores(y_true, score)
    if len(frame) != len(y):
        raise ValueError(f"frame has {len(frame)} rows but y_true/score have {len(y)}")
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for cfg in slices:
        name = cfg.name or cfg.column
        if cfg.column not in frame.columns:
            raise ValueError(f"slice {name!r} needs column {cfg.column!r}, which the frame lacks")
        if name in out:
            raise ValueError(f"two slices are named {name!r}; give one a distinct name")
        groups, order = _slice_groups(frame, cfg)
        per_group: dict[str, dict[str, float | None]] = {}
        for group in order:
            mask = groups == group
            gy, gs = y[mask], s[mask]
            usable = len(gy) >= min_rows and _both_classes(gy)
            per_group[group] = {
                "rows": len(gy),
                "positive_rate": float(gy.mean()),
                "roc_auc": _auc(gy, gs) if usable else None,
                "mean_score": float(gs.mean()),
            }
        out[name] = per_group
    return json_safe(out)


def feature_importance(booster: xgb.Booster, importance_type: str = "gain") -> pd.DataFrame:
    """Return every model feature with its importance (0 when unused), most important first."""
    if importance_type not in _IMPORTANCE_TYPES:
        raise ValueError(
            f"importance_type must be one of {list(_IMPORTANCE_TYPES)}, got {importance_type!r}"
        )
    names = booster.feature_names or [f"f{i}" for i in range(booster.num_features())]
    scores = booster.get_score(importance_type=importance_type)
    table = pd.DataFrame(
        {"feature": list(names), "importance": [float(scores.get(n, 0.0)) for n in names]}
    )
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


HEADLINE = {"xgboost": ("roc_auc", "pr_auc", "log_loss", "ece"), "baseline": ("roc_auc",)}


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """Return the few test figures `dvc metrics show` prints (the rest: evaluation.json)."""
    test = metrics.get("test", {})
    return {
        "test": {
            model: {k: (test.get(model) or {}).get(k) for k in keys}
            for model, keys in HEADLINE.items()
        }
    }
