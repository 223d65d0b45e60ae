"""Stage 5, features: domain features on top of the preprocessed columns.

- derived: ratios and formulas from the dataset config (loan to income, payment to income)
- time: hour, weekday, month of the row's own time
- entity history, point-in-time correct: prior applications in the last N days, days since the
  previous application, prior positive labels *observed before* the row's time. A row's
  features only ever use rows with an earlier timestamp, and labels observed earlier.

The aggregates are computed with one sort and binary searches over (entity, time) keys, so
they cost O(n log n) at any size and never look at a later row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DatasetConfig, FeaturesConfig
from loopline.expressions import compile_expression

DAY = 86_400
_SHIFT = np.int64(1) << np.int64(34)  # room for 500 years of seconds per entity code


def derived_features(frame: pd.DataFrame, derived: dict[str, str]) -> pd.DataFrame:
    """Return one column per configured formula, evaluated over the frame's numeric columns."""
    columns = {}
    for name, source in derived.items():
        expression = compile_expression(source)
        data = {
            c: frame[c].to_numpy(dtype="float64", na_value=np.nan)
            for c in expression.columns
            if c in frame.columns
        }
        columns[name] = expression.evaluate(data).astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def time_features(times: pd.Series, which: list[str]) -> pd.DataFrame:
    """Return calendar features (hour, weekday, month, day) of each row's timestamp."""
    accessors = {"hour": "hour", "weekday": "day_of_week", "month": "month", "day": "day"}
    unknown = sorted(set(which) - set(accessors))
    if unknown:
        raise ValueError(f"unknown time feature(s) {unknown}; choose from {sorted(accessors)}")
    return pd.DataFrame(
        {f"{w}": getattr(times.dt, accessors[w]).astype("float64") for w in which},
        index=times.index,
    )


def _seconds(times: pd.Series | np.ndarray, origin: np.datetime64) -> np.ndarray:
    values = np.asarray(times, dtype="datetime64[s]")
    return (values - origin).astype("int64")


def entity_history(
    entity: pd.Series,
    times: pd.Series,
    *,
    windows_days: list[int],
    days_since_previous: bool,
    positive: pd.Series | None = None,
    positive_observed_at: pd.Series | None = None,
) -> pd.DataFrame:
    """Return per-row history of the row's entity, using only earlier rows and earlier labels.

    positive/positive_observed_at: the label (1.0 positive) of each row and when it became
    known; a label counts for a later row only if it was observed before that row's time.
    """
    codes, _ = pd.factorize(entity, use_na_sentinel=True)
    codes = codes.astype("int64")
    origin = np.datetime64(times.min(), "s") - np.timedelta64(max(windows_days, default=0) + 1, "D")
    t = _seconds(times, origin)
    keys = codes * _SHIFT + t
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    before = np.searchsorted(sorted_keys, keys, side="left")  # rows of this entity strictly earlier
    entity_start = np.searchsorted(sorted_keys, codes * _SHIFT, side="left")
    out: dict[str, np.ndarray] = {}
    for days in windows_days:
        start = np.searchsorted(sorted_keys, codes * _SHIFT + np.maximum(t - days * DAY, 0))
        out[f"prior_apps_{days}d"] = (before - start).astype("float64")
    if days_since_previous:
        has_prev = before > entity_start
        prev_time = t[order[np.maximum(before - 1, 0)]]
        out["days_since_prev_app"] = np.where(has_prev, (t - prev_time) / DAY, np.nan)
    if positive is not None and positive_observed_at is not None:
        known = positive.to_numpy(dtype="float64", na_value=np.nan) == 1.0
        known &= positive_observed_at.notna().to_numpy()
        event_keys = np.sort(codes[known] * _SHIFT + _seconds(positive_observed_at[known], origin))
        out["prior_defaults_observed"] = (
            np.searchsorted(event_keys, keys, side="left")
            - np.searchsorted(event_keys, codes * _SHIFT, side="left")
        ).astype("float64")
    frame = pd.DataFrame(out, index=entity.index)
    missing_entity = codes < 0
    if missing_entity.any():
        frame.loc[missing_entity, :] = np.nan
    return frame


def build_features(
    frame: pd.DataFrame,
    *,
    dataset: DatasetConfig,
    cfg: FeaturesConfig,
    target: str | None = None,
    label_time: str | None = None,
) -> pd.DataFrame:
    """Return the engineered feature columns for every row of a preprocessed table."""
    parts = [derived_features(frame, dataset.derived)]
    if dataset.time_column:
        parts.append(time_features(frame[dataset.time_column], cfg.time_features))
    if dataset.time_column and dataset.entity_column:
        with_labels = cfg.prior_positive_labels and target is not None and label_time is not None
        parts.append(
            entity_history(
                frame[dataset.entity_column],
                frame[dataset.time_column],
                windows_days=cfg.entity_windows_days,
                days_since_previous=cfg.days_since_previous,
                positive=frame[target] if with_labels else None,
                positive_observed_at=frame[label_time] if with_labels else None,
            )
        )
    return pd.concat(parts, axis=1)


def feature_spec(
    *, numeric: list[str], categorical: dict[str, list[str]], engineered: list[str]
) -> dict[str, Any]:
    """Return the ordered list of model inputs and the categorical levels (features.json)."""
    return {
        "feature_names": [*numeric, *categorical, *engineered],
        "categorical": categorical,
        "engineered": engineered,
    }


def model_frame(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """Return exactly the model's input columns, categories with the levels it was trained on."""
    out = frame[spec["feature_names"]].copy()
    for column, levels in spec["categorical"].items():
        if not isinstance(out[column].dtype, pd.CategoricalDtype) or list(
            out[column].cat.categories
        ) != list(levels):
            out[column] = pd.Categorical(
                out[column].astype("str").where(out[column].notna()), categories=levels
            )
    return out
