"""Stage 4, preprocess: imputation, clipping and category levels, fitted on train only.

The fitted state is a small JSON document (no pickle), used by two functions side by side here:
`apply` preprocesses a batch (training, evaluation, batch scoring) and `apply_record` one record
(the service's fast path, microseconds, no DataFrame). They are one rule in two shapes: the
property test in tests/unit/test_preprocess.py holds them equal on generated rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DatasetConfig, PreprocessConfig
from loopline.schemas import TableSchema

OTHER = "__other__"
VERSION = 1


def model_columns(schema: TableSchema, dataset: DatasetConfig) -> tuple[list[str], list[str]]:
    """Return the (numeric, categorical) input columns: schema columns minus ids, times, target."""
    skip = {dataset.id_column, dataset.entity_column, dataset.time_column, dataset.target}
    skip |= set(dataset.exclude_from_model)
    numeric = [c.name for c in schema.columns if c.is_numeric and c.name not in skip]
    categorical = [c.name for c in schema.columns if c.dtype == "category" and c.name not in skip]
    return numeric, categorical


def fit(
    train: pd.DataFrame, *, numeric: list[str], categorical: list[str], cfg: PreprocessConfig
) -> dict[str, Any]:
    """Return the preprocessing state learned from the training rows only."""
    low_q, high_q = cfg.clip_quantiles
    state: dict[str, Any] = {
        "version": VERSION,
        "rows": len(train),
        "numeric": {},
        "categorical": {},
    }
    for column in numeric:
        values = train[column].astype("float64")
        median = values.median()
        state["numeric"][column] = {
            "fill": None if cfg.impute == "none" or pd.isna(median) else float(median),
            "low": _float(values.quantile(low_q)),
            "high": _float(values.quantile(high_q)),
        }
    for column in categorical:
        counts = train[column].value_counts()
        levels = sorted(str(v) for v in counts.index[counts >= cfg.min_category_count])
        state["categorical"][column] = {"levels": [*levels, OTHER]}
    return state


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def apply(frame: pd.DataFrame, state: dict[str, Any]) -> pd.DataFrame:
    """Return a copy of `frame` with the model's input columns preprocessed by `state`."""
    out = frame.copy()
    for column, spec in state["numeric"].items():
        values = out[column].to_numpy(dtype="float64", na_value=np.nan)
        low = -np.inf if spec["low"] is None else spec["low"]
        high = np.inf if spec["high"] is None else spec["high"]
        values = np.clip(values, low, high)
        if spec["fill"] is not None:
            values = np.where(np.isnan(values), spec["fill"], values)
        out[column] = values
    for column, spec in state["categorical"].items():
        out[column] = categorical(out[column], spec["levels"])
    return out


def apply_record(values: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Return the model's input columns of one record preprocessed by `state`, as `apply` does
    for a batch: numbers clipped to [low, high], then missing ones (None or NaN) filled; a
    category outside the levels becomes __other__, a missing one stays None."""
    out: dict[str, Any] = {}
    for column, spec in state["numeric"].items():
        v = values.get(column)
        v = math.nan if v is None else float(v)
        if spec["low"] is not None and v < spec["low"]:
            v = spec["low"]
        if spec["high"] is not None and v > spec["high"]:
            v = spec["high"]
        if math.isnan(v) and spec["fill"] is not None:
            v = spec["fill"]
        out[column] = v
    for column, spec in state["categorical"].items():
        v = values.get(column)
        out[column] = None if v is None else (v if v in spec["levels"] else OTHER)
    return out


def categorical(values: pd.Series, levels: list[str]) -> pd.Series:
    """Return values as a Categorical with fixed levels: unseen -> __other__, missing stays NaN."""
    text = values.astype("str")
    known = text.isin(levels) | values.isna()
    text = text.where(known, OTHER).where(values.notna())
    return pd.Series(pd.Categorical(text, categories=levels), index=values.index)
