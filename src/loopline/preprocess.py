"""Stage 4, preprocess: imputation, clipping and category levels, fitted on train only.

The fitted state (`PreprocessState`, preprocess.json) is a small JSON document (no pickle), used
by two functions side by side here: `apply` preprocesses a batch (training, evaluation, batch
scoring) and `apply_record` one record (the service's fast path, microseconds, no DataFrame).
They are one rule in two shapes: the property test in tests/unit/test_preprocess.py holds them
equal on generated rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class NumericRule:
    """How one numeric input is preprocessed: clipped to [low, high], then a gap filled."""

    fill: float | None  # the training median (None: impute "none", or no values at all)
    low: float | None  # None: no lower bound
    high: float | None  # None: no upper bound

    def to_json(self) -> dict[str, float | None]:
        return {"fill": self.fill, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> NumericRule:
        return cls(fill=doc["fill"], low=doc["low"], high=doc["high"])


@dataclass(frozen=True)
class PreprocessState:
    """The fitted preprocessing state (`preprocess.json`): per numeric input its rule, per
    categorical input its levels (the training levels seen often enough, then __other__).

    `to_json` gives the document `fit` always wrote, key for key (the bundle id hashes it).
    """

    version: int
    rows: int  # training rows it was fitted on
    numeric: Mapping[str, NumericRule]
    categorical: Mapping[str, tuple[str, ...]]  # levels, __other__ last
    # apply_record's plain-data view, computed once: (column, low, high, fill) with missing
    # bounds as -inf/inf, and each categorical column's levels as a set
    _record_numeric: tuple[tuple[str, float, float, float | None], ...] = field(
        init=False, repr=False, compare=False
    )
    _record_levels: tuple[tuple[str, frozenset[str]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        numeric = tuple(
            (
                column,
                -math.inf if rule.low is None else rule.low,
                math.inf if rule.high is None else rule.high,
                rule.fill,
            )
            for column, rule in self.numeric.items()
        )
        levels = tuple((column, frozenset(lv)) for column, lv in self.categorical.items())
        object.__setattr__(self, "_record_numeric", numeric)
        object.__setattr__(self, "_record_levels", levels)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "rows": self.rows,
            "numeric": {column: rule.to_json() for column, rule in self.numeric.items()},
            "categorical": {c: {"levels": list(lv)} for c, lv in self.categorical.items()},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PreprocessState:
        return cls(
            version=doc["version"],
            rows=doc["rows"],
            numeric={c: NumericRule.from_json(r) for c, r in doc["numeric"].items()},
            categorical={c: tuple(s["levels"]) for c, s in doc["categorical"].items()},
        )


def fit(
    train: pd.DataFrame, *, numeric: list[str], categorical: list[str], cfg: PreprocessConfig
) -> PreprocessState:
    """Return the preprocessing state learned from the training rows only."""
    low_q, high_q = cfg.clip_quantiles
    rules: dict[str, NumericRule] = {}
    for column in numeric:
        values = train[column].astype("float64")
        median = values.median()
        rules[column] = NumericRule(
            fill=None if cfg.impute == "none" or pd.isna(median) else float(median),
            low=_float(values.quantile(low_q)),
            high=_float(values.quantile(high_q)),
        )
    levels: dict[str, tuple[str, ...]] = {}
    for column in categorical:
        counts = train[column].value_counts()
        kept = sorted(str(v) for v in counts.index[counts >= cfg.min_category_count])
        levels[column] = (*kept, OTHER)
    return PreprocessState(version=VERSION, rows=len(train), numeric=rules, categorical=levels)


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def apply(frame: pd.DataFrame, state: PreprocessState) -> pd.DataFrame:
    """Return a copy of `frame` with the model's input columns preprocessed by `state`."""
    out = frame.copy()
    for column, rule in state.numeric.items():
        values = out[column].to_numpy(dtype="float64", na_value=np.nan)
        low = -np.inf if rule.low is None else rule.low
        high = np.inf if rule.high is None else rule.high
        values = np.clip(values, low, high)
        if rule.fill is not None:
            values = np.where(np.isnan(values), rule.fill, values)
        out[column] = values
    for column, levels in state.categorical.items():
        out[column] = categorical(out[column], list(levels))
    return out


def apply_record(values: Mapping[str, Any], state: PreprocessState) -> dict[str, Any]:
    """Return the model's input columns of one record preprocessed by `state`, as `apply` does
    for a batch: numbers clipped to [low, high], then missing ones (None or NaN) filled; a
    category outside the levels becomes __other__, a missing one stays None."""
    out: dict[str, Any] = {}
    for column, low, high, fill in state._record_numeric:
        v = values.get(column)
        v = math.nan if v is None else float(v)
        if v < low:  # never true for NaN, nor with no bound (-inf)
            v = low
        if v > high:
            v = high
        if fill is not None and math.isnan(v):
            v = fill
        out[column] = v
    for column, levels in state._record_levels:
        v = values.get(column)
        out[column] = None if v is None else (v if v in levels else OTHER)
    return out


def categorical(values: pd.Series, levels: list[str]) -> pd.Series:
    """Return values as a Categorical with fixed levels: unseen -> __other__, missing stays NaN."""
    text = values.astype("str")
    known = text.isin(levels) | values.isna()
    text = text.where(known, OTHER).where(values.notna())
    return pd.Series(pd.Categorical(text, categories=levels), index=values.index)
