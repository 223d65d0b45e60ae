"""Data drift: reference statistics stored at training time, compared with a window of traffic.

``reference_stats`` runs once on the training data and returns a strict-JSON dict (no NaN or
infinity: undefined numbers are ``null``) that travels with the model bundle. ``window_stats``
summarises a window of served traffic in the same shape, binned with the reference's own edges
and levels, so monitoring never re-reads training data. ``compare`` turns the two into a
``DriftReport``. Everything is vectorised numpy: one sort per numeric column gives its bin
counts, moments and quantile sketch; categorical columns are counted once with ``value_counts``.

Numeric columns: ``bins`` equal-frequency bins from the reference quantiles, deduplicated (a
column with few distinct values gets fewer bins). ``edges`` holds only the inner cut points; the
outer edges are implicitly -inf and +inf (kept out of the JSON so it stays portable). Bin ``i``
is ``(edges[i-1], edges[i]]``. Non-finite values (NaN, +-inf) count as missing. The quantile
sketch holds ``QUANTILES`` (200) quantiles at the midpoints (i + 0.5) / 200, for a Wasserstein-1
estimate by the midpoint rule; midpoints leave out the sample minimum and maximum, which on a
heavy tail would otherwise dominate the estimate (the bench found a 50x overestimate).

Categorical columns: the ``max_levels`` most frequent reference levels, the rest pooled as
``"__other__"``. In a window, values the reference never saw are pooled as ``"__new__"`` (the
largest 20 are listed with their counts in ``new_levels``) and take part in the distribution, so
a large new level moves PSI and Jensen-Shannon. When the reference pooled rare levels into
``"__other__"`` it cannot tell a rare old level from a new one; unseen values then count as
``"__other__"`` and are not listed as new.

Metrics and default thresholds (``DriftThresholds``, defined once in ``loopline.config``),
following common practice:

* PSI (population stability index, natural log, proportions clipped at ``eps``=1e-4):
  < 0.1 stable, 0.1-0.2 moderate, >= 0.2 significant; a column drifts at PSI >= 0.2.
* Numeric distance: Wasserstein-1 divided by the reference standard deviation (Evidently's
  "normed Wasserstein", its default for large samples); drift at >= 0.1.
* Categorical distance: Jensen-Shannon distance, natural log as scipy and Evidently compute
  it, in [0, sqrt(ln 2)] (Evidently's default for
  large samples); drift at >= 0.1.
* Missing rate: drift when the window's missing rate exceeds the reference's by >= 0.05.

A column is drifted when ANY of the three crosses its threshold: its distance, its PSI, or its
missing-rate increase. PSI is kept as an independent trigger because it is the binned view that
people read in reports and it catches a change in shape that a small W1 can hide; ``reasons``
says which one fired. The dataset drifts when the share of drifted columns is >= 0.5.

Degenerate inputs never raise. An empty window, or a column that is all missing in the window
(or in the reference), has no distribution: its PSI and distance are NaN (``None`` in
``to_dict``) and only the missing-rate rule can flag it (an empty window has a NaN missing rate
and flags nothing; check ``rows``). A constant reference column (std 0) has normed Wasserstein
0 when the window is the same constant and +inf when it is anything else. A window column that
is absent from the frame counts as all missing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DriftThresholds

QUANTILES = 200
MAX_NEW_LEVELS = 20
OTHER = "__other__"
NEW = "__new__"
_PROBS = (np.arange(QUANTILES) + 0.5) / QUANTILES  # midpoints


# ---------------------------------------------------------------- small helpers


def _num(x: Any) -> float:
    """A stored number as a float, with ``None`` read back as NaN."""
    return math.nan if x is None else float(x)


def _json(x: float) -> float | None:
    """A float as strict JSON: NaN and infinities become ``None``."""
    x = float(x)
    return x if math.isfinite(x) else None


def _numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column as float64, NaN for missing; an absent column is all NaN."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    series = pd.to_numeric(frame[column], errors="coerce")
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _sorted_quantiles(sorted_x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles (numpy's default) of an already sorted array."""
    pos = probs * (sorted_x.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, sorted_x.size - 1)
    frac = pos - lo
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * frac


def _numeric_summary(values: np.ndarray, edges: np.ndarray | None, bins: int) -> dict:
    """Bin proportions, missing rate, moments and quantile sketch of one numeric column."""
    rows = values.size
    finite = np.isfinite(values)
    x = np.sort(values[finite])
    n = x.size
    missing_rate = (rows - n) / rows if rows else math.nan
    if edges is None:  # reference: equal-frequency cut points from this very sample
        inner = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        edges = np.unique(_sorted_quantiles(x, inner)) if n else np.empty(0)
    if n:
        below = np.searchsorted(x, edges, side="right")  # count of values <= each edge
        counts = np.diff(np.concatenate(([0], below, [n])))
        proportions = counts / n
        quantiles = _sorted_quantiles(x, _PROBS)
        stats = (x.mean(), x.std(), x[0], x[-1])
    else:
        counts = np.zeros(edges.size + 1, dtype=np.int64)
        proportions = np.full(edges.size + 1, math.nan)
        quantiles, stats = None, (math.nan,) * 4
    return {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "proportions": [_json(p) for p in proportions],
        "count": int(n),
        "missing_rate": _json(missing_rate),
        "mean": _json(stats[0]),
        "std": _json(stats[1]),
        "min": _json(stats[2]),
        "max": _json(stats[3]),
        "quantiles": None if quantiles is None else [float(q) for q in quantiles],
    }


def _level_counts(frame: pd.DataFrame, column: str) -> tuple[pd.Series, int, int]:
    """Counts of each non-missing level (as str), the row count and the missing count."""
    rows = len(frame)
    if column not in frame.columns:
        return pd.Series(dtype="int64"), rows, rows
    counts = frame[column].value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    counts.index = counts.index.astype(str)
    counts = counts.groupby(level=0, sort=False).sum()  # 1 and "1" are the same level
    return counts, rows, rows - int(counts.sum())


# ---------------------------------------------------------------- statistics


def reference_stats(
    frame: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    bins: int = 20,
    max_levels: int = 50,
) -> dict:
    """Strict-JSON reference statistics of the training frame, computed once at training time."""
    numeric_stats = {c: _numeric_summary(_numeric_values(frame, c), None, bins) for c in numeric}
    categorical_stats = {}
    for column in categorical:
        counts, rows, missing = _level_counts(frame, column)
        counts = counts.sort_values(ascending=False, kind="stable")
        top = counts.iloc[:max_levels]
        levels = [str(v) for v in top.index]
        values = [int(v) for v in top.to_numpy()]
        rest = int(counts.iloc[max_levels:].sum())
        if rest:
            levels.append(OTHER)
            values.append(rest)
        n = rows - missing
        categorical_stats[column] = {
            "levels": levels,
            "counts": values,
            "proportions": [v / n for v in values],
            "count": n,
            "missing_rate": _json(missing / rows if rows else math.nan),
        }
    return {
        "version": 1,
        "rows": len(frame),
        "bins": bins,
        "quantile_probs": QUANTILES,
        "numeric": numeric_stats,
        "categorical": categorical_stats,
    }


def window_stats(frame: pd.DataFrame, reference: dict) -> dict:
    """Statistics of a window in the reference's shape, binned with the reference edges/levels."""
    numeric_stats = {
        column: _numeric_summary(
            _numeric_values(frame, column), np.asarray(ref["edges"], dtype="float64"), 0
        )
        for column, ref in reference["numeric"].items()
    }
    categorical_stats = {}
    for column, ref in reference["categorical"].items():
        counts, rows, missing = _level_counts(frame, column)
        levels = list(ref["levels"])
        known = counts.index.isin(levels)
        aligned = counts[known].reindex(levels, fill_value=0)
        unseen = counts[~known]
        values = [int(v) for v in aligned.to_numpy()]
        new_levels: dict[str, int] = {}
        if OTHER in levels:  # rare reference levels were pooled: unseen ones may be old
            values[levels.index(OTHER)] += int(unseen.sum())
            new_total = 0
        else:
            new_total = int(unseen.sum())
            largest = unseen.sort_values(ascending=False, kind="stable").iloc[:MAX_NEW_LEVELS]
            new_levels = {str(k): int(v) for k, v in largest.items()}
        levels.append(NEW)
        values.append(new_total)
        n = rows - missing
        categorical_stats[column] = {
            "levels": levels,
            "counts": values,
            "proportions": [v / n if n else None for v in values],
            "count": n,
            "missing_rate": _json(missing / rows if rows else math.nan),
            "new_levels": new_levels,
        }
    return {
        "version": 1,
        "rows": len(frame),
        "numeric": numeric_stats,
        "categorical": categorical_stats,
    }


# ---------------------------------------------------------------- metrics


def _distribution(values: np.ndarray) -> np.ndarray | None:
    """Non-negative weights normalised to sum 1, or None when there is no mass or a NaN."""
    v = np.asarray(values, dtype="float64")
    total = v.sum()
    if not np.isfinite(total) or total <= 0:
        return None
    return v / total


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index (natural log) of two binned distributions; NaN if undefined."""
    e, a = _distribution(expected), _distribution(actual)
    if e is None or a is None or e.shape != a.shape:
        return math.nan
    e, a = np.maximum(e, eps), np.maximum(a, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy's default) in [0, sqrt(ln 2)]; NaN if
    either distribution is empty."""
    p, q = _distribution(p), _distribution(q)
    if p is None or q is None or p.shape != q.shape:
        return math.nan
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))

    divergence = min(max((kl(p) + kl(q)) / 2, 0.0), math.log(2))
    return float(math.sqrt(divergence))


def wasserstein_normed(
    ref_quantiles: np.ndarray, win_quantiles: np.ndarray, ref_std: float
) -> float:
    """W1 from two midpoint quantile sketches (midpoint rule), divided by the reference std."""
    if ref_quantiles is None or win_quantiles is None:
        return math.nan
    r = np.asarray(ref_quantiles, dtype="float64")
    w = np.asarray(win_quantiles, dtype="float64")
    if r.size < 2 or w.size < 2 or not (np.all(np.isfinite(r)) and np.all(np.isfinite(w))):
        return math.nan
    if r.size != w.size:  # resample both onto the finer midpoint grid
        size = max(r.size, w.size)
        grid = (np.arange(size) + 0.5) / size
        r = np.interp(grid, (np.arange(r.size) + 0.5) / r.size, r)
        w = np.interp(grid, (np.arange(w.size) + 0.5) / w.size, w)
    w1 = float(np.abs(r - w).mean())  # midpoint rule over [0, 1]
    std = _num(ref_std)
    if not math.isfinite(std):
        return math.nan
    if std <= 0:
        return 0.0 if w1 == 0 else math.inf
    return w1 / std


# ---------------------------------------------------------------- comparison


@dataclass
class ColumnDrift:
    column: str
    kind: str  # "numeric" or "categorical"
    psi: float
    distance: float  # normed Wasserstein (numeric) or Jensen-Shannon distance (categorical)
    drifted: bool
    missing_rate_ref: float
    missing_rate_win: float
    new_levels: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # "distance", "psi", "missing_rate"


@dataclass
class DriftReport:
    columns: list[ColumnDrift]
    drifted_columns: list[str]
    dataset_drift: bool
    rows: int
    share_drifted: float = 0.0

    def to_dict(self) -> dict:
        """The report as strict JSON (NaN and infinities become ``None``)."""
        columns = []
        for c in self.columns:
            d = asdict(c)
            for key in ("psi", "distance", "missing_rate_ref", "missing_rate_win"):
                d[key] = _json(d[key])
            columns.append(d)
        return {
            "rows": self.rows,
            "dataset_drift": self.dataset_drift,
            "share_drifted": _json(self.share_drifted),
            "drifted_columns": list(self.drifted_columns),
            "columns": columns,
        }


def _reasons(
    psi_value: float,
    distance: float,
    distance_threshold: float,
    ref: dict,
    win: dict,
    t: DriftThresholds,
) -> tuple[list[str], float, float]:
    """Which rules fire for one column, with its two missing rates."""
    missing_ref, missing_win = _num(ref.get("missing_rate")), _num(win.get("missing_rate"))
    reasons = []
    if distance >= distance_threshold:  # NaN compares False
        reasons.append("distance")
    if psi_value >= t.psi:
        reasons.append("psi")
    if missing_win - missing_ref >= t.missing_rate_increase:
        reasons.append("missing_rate")
    return reasons, missing_ref, missing_win


def compare(
    reference: dict, window: dict, *, thresholds: DriftThresholds | None = None
) -> DriftReport:
    """Compare window statistics with reference statistics, column by column."""
    t = thresholds or DriftThresholds()
    columns: list[ColumnDrift] = []
    for column, ref in reference["numeric"].items():
        win = window["numeric"].get(column, {})
        ref_p = np.array([_num(p) for p in ref["proportions"]])
        win_p = np.array([_num(p) for p in win.get("proportions", [])])
        psi_value = psi(ref_p, win_p)
        distance = wasserstein_normed(ref["quantiles"], win.get("quantiles"), ref["std"])
        reasons, m_ref, m_win = _reasons(psi_value, distance, t.wasserstein, ref, win, t)
        columns.append(
            ColumnDrift(
                column, "numeric", psi_value, distance, bool(reasons), m_ref, m_win, {}, reasons
            )
        )
    for column, ref in reference["categorical"].items():
        win = window["categorical"].get(column, {})
        levels = [*ref["levels"], NEW]
        ref_p = np.array([*(_num(p) for p in ref["proportions"]), 0.0])
        by_level = dict(zip(win.get("levels", []), win.get("proportions", []), strict=True))
        win_p = np.array([_num(by_level.get(level, 0.0)) for level in levels])
        psi_value = psi(ref_p, win_p)
        distance = js_distance(ref_p, win_p)
        reasons, m_ref, m_win = _reasons(psi_value, distance, t.js, ref, win, t)
        columns.append(
            ColumnDrift(
                column,
                "categorical",
                psi_value,
                distance,
                bool(reasons),
                m_ref,
                m_win,
                dict(win.get("new_levels", {})),
                reasons,
            )
        )
    drifted = [c.column for c in columns if c.drifted]
    share = len(drifted) / len(columns) if columns else 0.0
    return DriftReport(
        columns=columns,
        drifted_columns=drifted,
        dataset_drift=bool(columns) and share >= t.share_of_drifted_columns,
        rows=int(window.get("rows", 0)),
        share_drifted=share,
    )
