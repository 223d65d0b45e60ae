"""Tests for loopline.features: derived, time and point-in-time entity history features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopline.config import DatasetConfig, FeaturesConfig, to_config
from loopline.expressions import ExpressionError
from loopline.features import (
    HistoryIndex,
    build_features,
    derived_features,
    entity_history,
    feature_spec,
    label_events,
    model_frame,
    time_features,
)
from loopline.params import compose
from loopline.split import LABEL_TIME, TARGET

ROOT = Path(__file__).resolve().parents[2]
FEATURES = FeaturesConfig(
    time_features=["hour", "weekday", "month"],
    entity_windows_days=[30, 90],
    days_since_previous=True,
    prior_positive_labels=True,
)


@pytest.fixture(scope="module")
def loans() -> DatasetConfig:
    return to_config(compose(root=ROOT)).dataset


# --- derived features ---------------------------------------------------------------------


def test_loans_formulas(loans: DatasetConfig) -> None:
    frame = pd.DataFrame(
        {
            "loan_amount": [12_000.0, 5_000.0, 1_000.0],
            "annual_income": [48_000.0, 0.0, np.nan],
            "loan_term_months": [36.0, 12.0, 60.0],
            "past_delinquencies": [2.0, 0.0, 1.0],
            "num_open_accounts": [3.0, 0.0, np.nan],
        },
        index=[10, 11, 12],
    )
    out = derived_features(frame, loans.derived)
    assert list(out.columns) == ["loan_to_income", "payment_to_income", "delinquencies_per_account"]
    assert list(out.index) == [10, 11, 12]
    np.testing.assert_allclose(out["loan_to_income"], [0.25, np.nan, np.nan])
    # the annuity at 1% a month: payment = P r / (1 - (1 + r)^-n)
    rate = 0.01
    payment = 12_000.0 * rate / (1 - (1 + rate) ** -36)
    assert payment == pytest.approx(398.57, abs=0.01)
    assert out.loc[10, "payment_to_income"] == pytest.approx(payment * 12 / 48_000.0, rel=1e-12)
    assert np.isnan(out.loc[11, "payment_to_income"])  # income 0: no value, not inf
    np.testing.assert_allclose(out["delinquencies_per_account"], [0.5, 0.0, np.nan])
    assert (out.dtypes == "float64").all()


def test_derived_feature_needs_its_columns() -> None:
    frame = pd.DataFrame({"loan_amount": [1.0]})
    with pytest.raises(ExpressionError, match=r"needs missing column\(s\) \['annual_income'\]"):
        derived_features(frame, {"lti": "loan_amount / annual_income"})


# --- time features ------------------------------------------------------------------------


def test_time_features() -> None:
    times = pd.Series(pd.to_datetime(["2024-03-04 09:15", "2024-12-29 23:59"]), index=[5, 6])
    out = time_features(times, ["hour", "weekday", "month", "day"])
    assert out.to_dict("list") == {
        "hour": [9.0, 23.0],
        "weekday": [0.0, 6.0],  # Monday, Sunday
        "month": [3.0, 12.0],
        "day": [4.0, 29.0],
    }
    assert list(out.index) == [5, 6]


def test_unknown_time_feature() -> None:
    with pytest.raises(ValueError, match=r"unknown time feature\(s\) \['minute'\]"):
        time_features(pd.Series(pd.to_datetime(["2024-01-01"])), ["hour", "minute"])


# --- entity history by hand ---------------------------------------------------------------

HISTORY = pd.DataFrame(
    {
        "customer": ["a", "a", "a", "b", "a", "b", "a", None],
        "at": pd.to_datetime(
            [
                "2024-01-01",  # 0 a
                "2024-01-21",  # 1 a: 20 days after 0
                "2024-03-01",  # 2 a: 40 days after 1, 60 after 0
                "2024-01-15",  # 3 b
                "2024-05-30",  # 4 a: 90 days after 2
                "2024-01-15",  # 5 b: same time as 3
                "2024-05-30",  # 6 a: same time as 4
                "2024-02-01",  # 7 no customer
            ]
        ),
        TARGET: [1.0, 1.0, 0.0, 1.0, np.nan, 1.0, 1.0, 1.0],
        LABEL_TIME: pd.to_datetime(
            [
                "2024-03-01",  # 0: observed exactly at row 2's time: not before it
                "2024-02-15",  # 1: observed before row 2
                "2024-04-01",
                "2024-01-16",  # 3: b's label, never counts for a
                None,
                "2024-06-01",
                "2024-07-01",
                "2024-02-02",
            ]
        ),
    },
    index=range(100, 108),
)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return entity_history(
        HISTORY["customer"],
        HISTORY["at"],
        windows_days=[30, 90],
        days_since_previous=True,
        events=label_events(HISTORY["customer"], HISTORY[TARGET], HISTORY[LABEL_TIME]),
    )


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("prior_apps_30d", [0, 1, 0, 0, 0, 0, 0, np.nan]),
        ("prior_apps_90d", [0, 1, 2, 0, 1, 0, 1, np.nan]),  # row 4: row 2 is exactly 90 days back
        ("days_since_prev_app", [np.nan, 20, 40, np.nan, 90, np.nan, 90, np.nan]),
        # row 2: only row 1's label (row 0's is observed at row 2's time)
        # rows 4, 6: labels of rows 0 and 1; row 2's label is 0
        ("prior_defaults_observed", [0, 0, 1, 0, 2, 0, 2, np.nan]),
    ],
)
def test_entity_history_by_hand(history: pd.DataFrame, column: str, expected: list) -> None:
    assert list(history.index) == list(HISTORY.index)
    np.testing.assert_array_equal(history[column].to_numpy(), np.array(expected, dtype=float))


def test_entity_history_optional_parts() -> None:
    out = entity_history(
        HISTORY["customer"], HISTORY["at"], windows_days=[7], days_since_previous=False
    )
    assert list(out.columns) == ["prior_apps_7d"]


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.integers(0, 400), min_size=1, max_size=60),
    customers=st.data(),
    chunk=st.integers(1, 25),
)
def test_history_index_in_chunks_equals_one_call(days, customers, chunk) -> None:
    """A file in time order scored chunk by chunk (each chunk merged into the index after its
    own rows are added) gets the features of one call over the whole table: how batch scoring
    carries history from chunk to chunk (`Bundle.score_frame(history=...)`)."""
    n = len(days)
    entity = pd.Series(
        customers.draw(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n))
    )
    times = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(sorted(days), unit="D"))
    whole = entity_history(entity, times, windows_days=[7, 30], days_since_previous=True)
    index = HistoryIndex([7, 30], days_since_previous=True, labels=False)
    parts = []
    for start in range(0, n, chunk):
        keys = index.keys(entity[start : start + chunk], times[start : start + chunk])
        index.add_applications(keys)
        parts.append(pd.DataFrame(index.features(keys), index=entity.index[start : start + chunk]))
    pd.testing.assert_frame_equal(pd.concat(parts), whole)


def test_entity_history_counts_the_whole_window() -> None:
    times = pd.Series(pd.date_range("2024-01-01", periods=40, freq="D"))
    out = entity_history(
        pd.Series(["c"] * 40), times, windows_days=[10, 365], days_since_previous=True
    )
    assert out["prior_apps_10d"].tolist() == [float(min(i, 10)) for i in range(40)]
    assert out["prior_apps_365d"].tolist() == [float(i) for i in range(40)]
    assert out["days_since_prev_app"].tolist()[1:] == [1.0] * 39


# --- the point-in-time test ---------------------------------------------------------------


def _random_table(rng: np.random.Generator, n: int = 500, customers: int = 50) -> pd.DataFrame:
    start = pd.Timestamp("2024-01-01")
    at = start + pd.to_timedelta(rng.integers(0, 365 * 86_400, n), unit="s")
    delay = pd.to_timedelta(rng.integers(30 * 86_400, 200 * 86_400, n), unit="s")
    target = rng.choice([0.0, 1.0, np.nan], size=n, p=[0.55, 0.3, 0.15])
    observed = pd.Series(at + delay).where(~np.isnan(target))
    return pd.DataFrame(
        {
            "customer_id": rng.choice([f"c{i:02d}" for i in range(customers)], n).astype(object),
            "applied_at": at,
            "loan_amount": rng.uniform(500, 50_000, n).round(2),
            "annual_income": rng.uniform(10_000, 200_000, n).round(2),
            "loan_term_months": rng.choice([12.0, 24.0, 36.0, 48.0, 60.0], n),
            "past_delinquencies": rng.integers(0, 5, n).astype(float),
            "num_open_accounts": rng.integers(0, 10, n).astype(float),
            TARGET: target,
            LABEL_TIME: observed.astype("datetime64[ns]"),
        }
    ).astype({"customer_id": "str"})


def _rewrite_future(frame: pd.DataFrame, cutoff: pd.Timestamp, rng: np.random.Generator):
    """Return the frame with every row after `cutoff` changed and new future rows added."""
    out = frame.copy()
    future = out["applied_at"] > cutoff
    k = int(future.sum())
    out.loc[future, TARGET] = rng.permutation(out.loc[future, TARGET].to_numpy())
    out.loc[future, "applied_at"] = cutoff + pd.to_timedelta(
        rng.integers(1, 120 * 86_400, k), unit="s"
    )
    out.loc[future, LABEL_TIME] = (
        out.loc[future, "applied_at"] + pd.to_timedelta(rng.integers(0, 400 * 86_400, k), unit="s")
    ).where(out.loc[future, TARGET].notna())
    out.loc[future, "loan_amount"] = rng.uniform(500, 50_000, k)
    out.loc[future, "annual_income"] = rng.uniform(1, 10, k)
    extra = _random_table(rng, n=300, customers=50)
    extra["applied_at"] = cutoff + pd.to_timedelta(rng.integers(1, 365 * 86_400, 300), unit="s")
    extra[LABEL_TIME] = (extra["applied_at"] + pd.Timedelta(days=1)).where(extra[TARGET].notna())
    extra[TARGET] = extra[TARGET].where(extra[TARGET].isna(), 1.0)  # many new defaults
    extra.index = range(10_000, 10_300)
    return pd.concat([out, extra])


@pytest.mark.parametrize("cutoff", ["2024-03-15 12:00", "2024-07-01", "2024-11-20 08:30"])
def test_features_are_point_in_time(loans: DatasetConfig, cutoff: str) -> None:
    rng = np.random.default_rng(20240101)
    frame = _random_table(rng)
    cut = pd.Timestamp(cutoff)
    before = build_features(
        frame, dataset=loans, cfg=FEATURES, target=TARGET, label_time=LABEL_TIME
    )
    changed = _rewrite_future(frame, cut, rng)
    assert len(changed) == 800
    after = build_features(
        changed, dataset=loans, cfg=FEATURES, target=TARGET, label_time=LABEL_TIME
    )
    past = frame.index[frame["applied_at"] <= cut]
    assert 50 < len(past) < 450
    pd.testing.assert_frame_equal(after.loc[past], before.loc[past])
    # the rewrite really changed the future rows' features, so the check has teeth
    future = frame.index[frame["applied_at"] > cut]
    assert not after.loc[future].equals(before.loc[future])
    # and the history is not trivially empty
    assert before.loc[past, "prior_apps_90d"].sum() > 0
    assert before["prior_defaults_observed"].sum() > 0


def test_build_features_columns(loans: DatasetConfig) -> None:
    frame = _random_table(np.random.default_rng(0), n=20, customers=3)
    out = build_features(frame, dataset=loans, cfg=FEATURES, target=TARGET, label_time=LABEL_TIME)
    assert list(out.columns) == [
        "loan_to_income",
        "payment_to_income",
        "delinquencies_per_account",
        "hour",
        "weekday",
        "month",
        "prior_apps_30d",
        "prior_apps_90d",
        "days_since_prev_app",
        "prior_defaults_observed",
    ]
    no_labels = build_features(frame, dataset=loans, cfg=FEATURES)
    assert "prior_defaults_observed" not in no_labels.columns


def test_build_features_without_time_or_entity() -> None:
    dataset = DatasetConfig(name="census", derived={"net": "gain - loss"}, time_column=None)
    frame = pd.DataFrame({"gain": [5.0, 0.0], "loss": [1.0, 2.0]})
    out = build_features(frame, dataset=dataset, cfg=FEATURES)
    assert out.to_dict("list") == {"net": [4.0, -2.0]}


# --- feature_spec / model_frame -----------------------------------------------------------

SPEC = feature_spec(
    numeric=["income"],
    categorical={"region": ["n", "s", "__other__"]},
    engineered=["lti"],
)


def test_feature_spec() -> None:
    assert SPEC.to_json() == {
        "feature_names": ["income", "region", "lti"],
        "categorical": {"region": ["n", "s", "__other__"]},
        "engineered": ["lti"],
    }


@pytest.mark.parametrize(
    "region",
    [
        pd.Series(["s"], dtype="str"),  # plain text, one level present
        pd.Series(pd.Categorical(["s"])),  # categorical with other levels
        pd.Series(pd.Categorical(["s"], categories=["__other__", "s", "n"])),  # other order
    ],
)
def test_model_frame_keeps_categorical_levels_fixed(region: pd.Series) -> None:
    frame = pd.DataFrame({"lti": [0.5], "extra": ["x"], "income": [10.0], "region": region})
    out = model_frame(frame, SPEC)
    assert list(out.columns) == ["income", "region", "lti"]
    assert list(out["region"].cat.categories) == ["n", "s", "__other__"]
    assert out["region"].cat.codes.tolist() == [1]  # the code the model was trained with


def test_model_frame_keeps_missing_and_fails_on_missing_column() -> None:
    frame = pd.DataFrame({"income": [1.0, 2.0], "region": ["n", None], "lti": [0.1, 0.2]})
    out = model_frame(frame.astype({"region": "str"}), SPEC)
    assert out["region"].cat.codes.tolist() == [0, -1]
    with pytest.raises(KeyError, match="lti"):
        model_frame(frame.drop(columns="lti"), SPEC)
