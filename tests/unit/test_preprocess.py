"""Tests for loopline.preprocess: imputation, clipping and category levels fitted on train only."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.config import DatasetConfig, PreprocessConfig
from loopline.preprocess import (
    OTHER,
    VERSION,
    NumericRule,
    PreprocessState,
    apply,
    apply_record,
    categorical,
    fit,
    model_columns,
)
from loopline.schemas import parse_table_schema, table_schema

ROOT = Path(__file__).resolve().parents[2]
CFG = PreprocessConfig(clip_quantiles=[0.0, 0.75], impute="median", min_category_count=2)


def _table() -> pd.DataFrame:
    """Five train rows and three valid/test rows."""
    return pd.DataFrame(
        {
            "income": [10.0, 20.0, np.nan, 40.0, 1000.0, 5.0, 9999.0, np.nan],
            "region": ["n", "n", "s", "s", "e", "w", None, "n"],
            "split": ["train"] * 5 + ["valid", "test", "test"],
        }
    ).astype({"region": "str"})


def _fit(frame: pd.DataFrame, cfg: PreprocessConfig = CFG) -> PreprocessState:
    train = frame[frame["split"] == "train"]
    return fit(train, numeric=["income"], categorical=["region"], cfg=cfg)


def test_fit_learns_from_train_rows() -> None:
    state = _fit(_table())
    # train incomes 10, 20, 40, 1000: median 30, quantile 0.75 = 280
    assert state.to_json() == {
        "version": VERSION,
        "rows": 5,
        "numeric": {"income": {"fill": 30.0, "low": 10.0, "high": 280.0}},
        "categorical": {"region": {"levels": ["n", "s", OTHER]}},
    }


def test_fit_ignores_valid_and_test_rows() -> None:
    frame = _table()
    changed = frame.copy()
    rest = changed["split"] != "train"
    changed.loc[rest, "income"] = [-1e9, 1e9, 7.0]
    changed.loc[rest, "region"] = ["e", "e", "e"]
    more = pd.DataFrame({"income": [1e6] * 5, "region": ["w"] * 5, "split": ["test"] * 5})
    changed = pd.concat([changed, more.astype({"region": "str"})], ignore_index=True)
    assert _fit(changed) == _fit(frame)


def test_apply_clips_and_imputes() -> None:
    frame = _table()
    out = apply(frame, _fit(frame))
    assert out["income"].tolist() == [10.0, 20.0, 30.0, 40.0, 280.0, 10.0, 280.0, 30.0]
    assert frame["income"].isna().sum() == 2  # the input is not changed


def test_impute_none_keeps_missing() -> None:
    cfg = PreprocessConfig(clip_quantiles=[0.0, 1.0], impute="none", min_category_count=1)
    frame = _table()
    state = _fit(frame, cfg)
    assert state.numeric["income"] == NumericRule(fill=None, low=10.0, high=1000.0)
    out = apply(frame, state)
    np.testing.assert_array_equal(
        out["income"], [10.0, 20.0, np.nan, 40.0, 1000.0, 10.0, 1000.0, np.nan]
    )


def test_all_missing_train_column() -> None:
    frame = pd.DataFrame({"income": [np.nan, np.nan], "region": ["n", "n"], "split": "train"})
    state = _fit(frame)
    assert state.numeric["income"] == NumericRule(fill=None, low=None, high=None)
    out = apply(pd.DataFrame({"income": [5.0, np.nan], "region": ["n", "s"]}), state)
    np.testing.assert_array_equal(out["income"], [5.0, np.nan])


def test_categories_rare_unseen_and_missing() -> None:
    frame = _table()
    out = apply(frame, _fit(frame))
    region = out["region"]
    assert isinstance(region.dtype, pd.CategoricalDtype)
    assert list(region.cat.categories) == ["n", "s", OTHER]
    # e: rare in train (1 < 2); w: never seen in train; None stays missing
    assert region.tolist() == ["n", "n", "s", "s", OTHER, OTHER, np.nan, "n"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "zzz"], ["a", "b", OTHER]),
        ([None, "a"], [np.nan, "a"]),
        ([OTHER], [OTHER]),
        ([], []),
    ],
)
def test_categorical(values: list, expected: list) -> None:
    out = categorical(pd.Series(values, dtype="str"), ["a", "b", OTHER])
    assert list(out.cat.categories) == ["a", "b", OTHER]
    assert out.tolist() == expected


def test_state_is_json_serialisable() -> None:
    frame = _table()
    state = _fit(frame)
    restored = PreprocessState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    pd.testing.assert_frame_equal(apply(frame, restored), apply(frame, state))
    # a single request is preprocessed the same way as the batch it came from
    single = frame.iloc[[6]]
    pd.testing.assert_frame_equal(apply(single, restored), apply(frame, state).iloc[[6]])


def test_apply_needs_the_fitted_columns() -> None:
    state = _fit(_table())
    with pytest.raises(KeyError, match="income"):
        apply(pd.DataFrame({"region": ["n"]}), state)


def test_model_columns_of_loans_exclude_id_entity_time_and_target() -> None:
    schema = table_schema(ROOT / "conf/schemas/loans.yaml")
    dataset = DatasetConfig(
        id_column="application_id",
        entity_column="customer_id",
        time_column="applied_at",
        target="defaulted",
    )
    numeric, categorical_ = model_columns(schema, dataset)
    assert numeric == [
        "age",
        "annual_income",
        "employment_years",
        "loan_amount",
        "loan_term_months",
        "credit_utilization",
        "num_open_accounts",
        "past_delinquencies",
        "debt_to_income",
    ]
    assert categorical_ == ["employment_type", "home_ownership", "purpose", "region", "channel"]


@pytest.mark.parametrize(
    ("dataset", "numeric", "categorical_"),
    [
        (DatasetConfig(target="y"), ["x", "entity_score"], ["kind"]),
        (DatasetConfig(target="kind"), ["x", "entity_score"], []),  # a categorical target
        (DatasetConfig(target="y", entity_column="entity_score"), ["x"], ["kind"]),
        (DatasetConfig(target="y", exclude_from_model=["x", "kind"]), ["entity_score"], []),
    ],
)
def test_model_columns_skips(dataset: DatasetConfig, numeric: list, categorical_: list) -> None:
    schema = parse_table_schema(
        {
            "columns": {
                "id": {"dtype": "string"},
                "at": {"dtype": "datetime"},
                "x": {"dtype": "float"},
                "entity_score": {"dtype": "int"},
                "kind": {"dtype": "category", "allowed": ["a"]},
            }
        }
    )
    assert model_columns(schema, dataset) == (numeric, categorical_)


# --- apply_record: the record form of apply -----------------------------------------------

EXTREMES = [0.0, -0.0, 1e-300, -1e300, 1e300, 1.7976931348623157e308, -math.inf, math.inf]
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
numbers = st.one_of(
    st.none(), st.just(math.nan), st.sampled_from(EXTREMES), finite, st.integers(-1000, 1000)
)
LEVELS = ["a", "b", "north", "ü", ""]
texts = st.one_of(st.none(), st.sampled_from([*LEVELS, OTHER, "unknown", "A", " a"]))


@st.composite
def states(draw: st.DrawFn) -> PreprocessState:
    """A preprocessing state as `fit` writes it: bounds may be None, low <= high."""
    numeric = {}
    for column in ("x", "y", "z")[: draw(st.integers(1, 3))]:
        low, high = sorted([draw(finite), draw(finite)])
        numeric[column] = {
            "fill": draw(st.one_of(st.none(), finite)),
            "low": draw(st.one_of(st.none(), st.just(low))),
            "high": draw(st.one_of(st.none(), st.just(high))),
        }
    categorical = {
        column: {"levels": [*draw(st.lists(st.sampled_from(LEVELS), unique=True)), OTHER]}
        for column in ("c", "d")[: draw(st.integers(0, 2))]
    }
    doc = {"version": VERSION, "rows": 10, "numeric": numeric, "categorical": categorical}
    return PreprocessState.from_json(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    state=states(),
    rows=st.lists(
        st.fixed_dictionaries(
            {"x": numbers, "y": numbers, "z": numbers, "c": texts, "d": texts, "other": finite}
        ),
        min_size=1,
        max_size=15,
    ),
)
def test_apply_record_agrees_with_apply_on_every_row(
    state: PreprocessState, rows: list[dict]
) -> None:
    """The record path and the batch path give every row the same preprocessed values."""
    frame = pd.DataFrame(
        {
            **{c: [math.nan if r[c] is None else float(r[c]) for r in rows] for c in "xyz"},
            **{c: pd.Series([r[c] for r in rows], dtype="str") for c in "cd"},
            "other": [r["other"] for r in rows],
        }
    )
    batch = apply(frame, state)
    columns = [*state.numeric, *state.categorical]
    for i, row in enumerate(rows):
        one = apply_record(row, state)
        assert list(one) == columns  # only the model's input columns, in state order
        for column in state.numeric:
            expected = batch[column].iloc[i]
            assert isinstance(one[column], float)
            assert one[column] == expected or (math.isnan(one[column]) and math.isnan(expected))
        for column in state.categorical:
            expected = batch[column].iloc[i]
            assert one[column] == (None if pd.isna(expected) else expected), (row, state)


def test_apply_record_fills_clips_and_maps_unknown_levels() -> None:
    state = _fit(_table())  # income: fill 30, clip to [10, 280]; region levels n, s, __other__
    assert apply_record({"income": None, "region": "n"}, state) == {"income": 30.0, "region": "n"}
    assert apply_record({"income": 1e9, "region": "mars"}, state) == {
        "income": 280.0,
        "region": OTHER,
    }
    assert apply_record({"income": -1.0}, state) == {"income": 10.0, "region": None}
