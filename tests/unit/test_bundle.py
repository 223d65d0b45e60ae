"""The bundle's two paths, batch (`score_frame`) and one record (`score_record`), agree exactly.

A small bundle is built in process (no files, no dvc): a tiny schema and dataset, preprocessing
fitted with `preprocess.fit`, features from `loopline.features`, an XGBoost model of a few trees
and a policy with a decline rule, a referral rule and an uncertainty band. Rows include missing
numbers, missing and unknown categories and values outside the training range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from loopline import features, policy, preprocess, train
from loopline.bundle import Bundle, InvalidRecordError, history_table
from loopline.config import DatasetConfig, FeaturesConfig, PolicyConfig, PreprocessConfig, Rule
from loopline.schemas import parse_table_schema, scoring_spec
from loopline.validate import mark_unknown_categories

SCHEMA = {
    "columns": {
        "id": {"dtype": "string", "nullable": False, "unique": True},
        "at": {"dtype": "datetime", "nullable": False},
        "age": {"dtype": "int", "nullable": True, "min": 0, "max": 110},
        "income": {"dtype": "float", "nullable": True, "min": 0, "max": 1_000_000},
        "purpose": {
            "dtype": "category",
            "nullable": True,
            "allowed": ["car", "home", "study", "rare"],
            "unknown": "accept",
        },
        "target": {"dtype": "int", "nullable": False},
    }
}
DATASET = DatasetConfig(
    name="tiny",
    id_column="id",
    time_column="at",
    target="target",
    amount_column="income",
    derived={"income_per_year_of_age": "income / age"},
    reason_texts={"age": "Age", "income": "Income"},
)
FEATURES = FeaturesConfig(time_features=["weekday", "month"])
POLICY = PolicyConfig(
    uncertainty_band=0.03,
    reason_codes=2,
    hard_declines=[Rule(name="underage", rule="age < 18", reason="Under 18")],
    referrals=[Rule(name="study", rule="purpose == 'study'", reason="Study loans are reviewed")],
)


def _rows(n: int, seed: int) -> pd.DataFrame:
    """Rows as they arrive, with missing numbers and categories the schema does not know."""
    rng = np.random.default_rng(seed)
    age = rng.integers(16, 80, n).astype("float64")
    income = rng.lognormal(10.5, 0.6, n)
    age[rng.random(n) < 0.1] = np.nan
    income[rng.random(n) < 0.1] = np.nan
    purpose = rng.choice(
        ["car", "home", "study", "rare", "boat", None], n, p=[0.45, 0.3, 0.1, 0.02, 0.02, 0.11]
    )
    risk = 0.5 - 0.01 * np.nan_to_num(age, nan=40) + (purpose == "study") * 0.5
    frame = pd.DataFrame(
        {
            "id": [f"a{seed}-{i}" for i in range(n)],
            "at": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300 * 86400, n), "s"),
            "age": age,
            "income": income,
            "purpose": pd.Series(purpose, dtype="str"),
            "target": (rng.random(n) < 1 / (1 + np.exp(-risk))).astype("int64"),
        }
    )
    return frame


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as validation leaves them for the batch path: unknown categories as __unknown__."""
    return mark_unknown_categories(frame, parse_table_schema(SCHEMA))[0]


def _full(frame: pd.DataFrame, state: preprocess.PreprocessState) -> pd.DataFrame:
    pre = preprocess.apply(frame, state)
    return pd.concat(
        [
            pre,
            features.derived_features(pre, DATASET.derived),
            features.time_features(pre["at"], FEATURES.time_features),
        ],
        axis=1,
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    rows = _canonical(_rows(600, seed=1))
    state = preprocess.fit(
        rows,
        numeric=["age", "income"],
        categorical=["purpose"],
        cfg=PreprocessConfig(clip_quantiles=[0.05, 0.95], min_category_count=20),
    )
    spec = features.feature_spec(
        numeric=["age", "income"],
        categorical=state.categorical,
        engineered=[*DATASET.derived, *FEATURES.time_features],
    )
    x = features.model_frame(_full(rows, state), spec)
    booster = xgb.train(
        {"max_depth": 3, "eta": 0.3, "objective": "binary:logistic", "nthread": 1},
        train.matrix(x, rows["target"].to_numpy()),
        num_boost_round=15,
    )
    median = float(np.median(booster.inplace_predict(x)))
    return Bundle(
        root=Path(tmp_path_factory.mktemp("bundle")),
        bundle_id="test",
        dataset=DATASET,
        features_cfg=FEATURES,
        schema=parse_table_schema(scoring_spec(SCHEMA, DATASET), name="tiny"),
        state=state,
        spec=spec,
        booster=booster,
        threshold=median,
        policy=POLICY,
        history_rows=history_table(rows, DATASET, "target", "at"),
        history=None,
    )


def _record(row: pd.Series) -> dict:
    """A row as a JSON request would carry it."""
    out = {}
    for column, value in row.items():
        if pd.isna(value):
            out[column] = None
        elif isinstance(value, pd.Timestamp):
            out[column] = value.isoformat()
        else:
            out[column] = value.item() if hasattr(value, "item") else value
    return out


@pytest.fixture(scope="module")
def new_rows() -> pd.DataFrame:
    rows = _rows(300, seed=2).drop(columns="target")
    rows.loc[:4, "income"] = [0.0, 1e6, 1.0, np.nan, 999_999.0]  # outside the clip range, missing
    # unknown to the schema, missing, known to the schema but too rare to be a model level
    rows.loc[:4, "purpose"] = ["boat", None, "rare", "study", "home"]
    return rows


def test_record_path_scores_decides_and_explains_like_the_batch_path(
    bundle: Bundle, new_rows: pd.DataFrame
) -> None:
    batch = bundle.score_frame(_canonical(new_rows))
    one = [bundle.score_record(_record(row), remember=False) for _, row in new_rows.iterrows()]
    np.testing.assert_array_equal([r["score"] for r in one], batch["score"].to_numpy())
    assert [r["decision"] for r in one] == batch["decision"].tolist()
    assert [r["decided_by"] for r in one] == batch["decided_by"].tolist()
    assert [r["reasons"] for r in one] == batch["reasons"].tolist()
    decided_by = set(batch["decided_by"])
    assert {"underage", "study", policy.BY_BAND, policy.BY_SCORE} <= decided_by  # all exercised


def test_record_path_features_equal_the_batch_path_features(
    bundle: Bundle, new_rows: pd.DataFrame
) -> None:
    canonical = _canonical(new_rows)
    batch = bundle.score_frame(canonical, explain=False)
    for i, (_, row) in enumerate(new_rows.iterrows()):
        values, broken = bundle.check_record(_record(row))
        assert not broken
        vector, named = bundle.features_record(values)
        assert list(named) == bundle.feature_names
        np.testing.assert_array_equal(
            vector,
            bundle._matrix(
                features.model_frame(bundle.features_frame(canonical.iloc[[i]]), bundle.spec)
            )[0],
        )
        for name, value in named.items():
            expected = batch[f"feature.{name}"].iloc[i]
            if pd.isna(expected):
                assert value is None or np.isnan(value), (name, value)
            else:
                assert value == expected, (name, value, expected)
    unknown = bundle.features_record(bundle.check_record(_record(new_rows.iloc[0]))[0])[1]
    assert (
        unknown["purpose"] == preprocess.OTHER
        and unknown["income"] == bundle.state.numeric["income"].low
    )


def test_record_path_refuses_what_the_schema_refuses(
    bundle: Bundle, new_rows: pd.DataFrame
) -> None:
    record = _record(new_rows.iloc[0]) | {"age": -3}
    with pytest.raises(InvalidRecordError) as caught:
        bundle.score_record(record, remember=False)
    assert caught.value.reasons == ["age:below_min"]
