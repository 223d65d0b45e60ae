"""Tests for loopline.evaluate: metrics on hand-built labels and scores with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, roc_auc_score

from loopline.config import SliceConfig
from loopline.evaluate import (
    binary_metrics,
    calibration_table,
    feature_importance,
    json_safe,
    pr_points,
    roc_points,
    slice_metrics,
)

# --- json_safe ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (-float("inf"), None),
        (np.float64("nan"), None),
        (np.float32(0.5), 0.5),
        (np.int64(3), 3),
        (np.bool_(True), True),
        ({"a": [np.nan, 1.0], "b": (np.int32(2),)}, {"a": [None, 1.0], "b": [2]}),
        (np.array([1.0, np.inf]), [1.0, None]),
        ("text", "text"),
        (None, None),
    ],
)
def test_json_safe(value: object, expected: object) -> None:
    result = json_safe(value)
    assert result == expected
    json.dumps(result, allow_nan=False)


def test_json_safe_returns_python_types() -> None:
    result = json_safe({"n": np.int64(2), "x": np.float64(1.5)})
    assert type(result["n"]) is int
    assert type(result["x"]) is float


def test_json_safe_does_not_mutate_input() -> None:
    data = {"a": [float("nan")]}
    json_safe(data)
    assert math.isnan(data["a"][0])


# --- binary_metrics ----------------------------------------------------------------------


def test_binary_metrics_perfect_separation() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    m = binary_metrics(y, s)
    assert m["roc_auc"] == 1.0
    assert m["pr_auc"] == 1.0
    assert m["ks"] == 1.0
    assert m["positive_rate"] == pytest.approx(0.4)
    assert m["mean_score"] == pytest.approx(0.46)
    assert m["rows"] == 5
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.04 + 0.01) / 5)
    expected_ll = -np.mean(np.log([0.9, 0.8, 0.7, 0.8, 0.9]))
    assert m["log_loss"] == pytest.approx(expected_ll)


def test_binary_metrics_inverted_score_ks_is_absolute() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.9, 0.8, 0.2, 0.1])
    m = binary_metrics(y, s)
    assert m["roc_auc"] == 0.0
    assert m["ks"] == 1.0


def test_binary_metrics_matches_reference_implementations() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    s = np.clip(0.3 * y + rng.uniform(0, 0.7, size=300), min=0, max=1).round(2)  # ties included
    m = binary_metrics(y, s)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert m["ks"] == pytest.approx(ks_2samp(s[y == 1], s[y == 0]).statistic)


def test_ece_is_zero_for_perfectly_calibrated_bins() -> None:
    # 20 rows each at 0.05, 0.25 and 0.95 with 1, 5 and 19 positives: observed == mean score.
    s = np.repeat([0.05, 0.25, 0.95], 20)
    y = np.concatenate(
        [np.r_[np.ones(1), np.zeros(19)], np.r_[np.ones(5), np.zeros(15)], np.r_[np.ones(19), 0]]
    )
    assert binary_metrics(y, s)["ece"] == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_scores() -> None:
    # every row scored 0.9 but half are positive -> |0.9 - 0.5| = 0.4
    y = np.array([0, 1] * 10)
    s = np.full(20, 0.9)
    assert binary_metrics(y, s)["ece"] == pytest.approx(0.4)


@pytest.mark.parametrize("label", [0, 1])
def test_binary_metrics_single_class_is_json_safe(label: int) -> None:
    y = np.full(4, label)
    s = np.array([0.1, 0.4, 0.6, 0.9])
    m = binary_metrics(y, s)
    assert m["roc_auc"] is None
    assert m["ks"] is None
    assert m["pr_auc"] is None
    assert m["positive_rate"] == float(label)
    assert m["log_loss"] is not None
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize(
    ("y", "s", "message"),
    [
        (np.array([0, 1]), np.array([0.5]), "rows"),
        (np.array([], dtype=int), np.array([]), "zero rows"),
        (np.array([0, 2]), np.array([0.1, 0.2]), "only 0 and 1"),
        (np.array([0, 1]), np.array([0.1, np.nan]), "NaN"),
        (np.array([0, 1]), np.array([0.1, 1.2]), r"\[0, 1\]"),
        (np.array(["a", "b"]), np.array([0.1, 0.2]), "numeric"),
    ],
)
def test_binary_metrics_rejects_bad_input(y: np.ndarray, s: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, s)


# --- calibration_table -------------------------------------------------------------------


def test_calibration_table_drops_empty_bins() -> None:
    y = np.array([0, 1, 0, 1, 1, 1])
    s = np.array([0.05, 0.15, 0.12, 0.55, 0.58, 1.0])
    table = calibration_table(y, s, bins=10)
    assert list(table.columns) == ["bin", "mean_score", "observed_rate", "rows"]
    assert table["bin"].tolist() == [0, 1, 5, 9]  # score 1.0 joins the last bin
    assert table["rows"].tolist() == [1, 2, 2, 1]
    assert table["observed_rate"].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert table["mean_score"].tolist() == pytest.approx([0.05, 0.135, 0.565, 1.0])


def test_calibration_table_rejects_zero_bins() -> None:
    with pytest.raises(ValueError, match="bins"):
        calibration_table(np.array([0, 1]), np.array([0.2, 0.8]), bins=0)


# --- roc_points / pr_points --------------------------------------------------------------


@pytest.fixture
def many_scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=2000)
    s = np.clip(0.2 * y + rng.uniform(0, 0.8, size=2000), min=0, max=1)
    return y, s


@pytest.mark.parametrize("max_points", [2, 10, 200])
def test_roc_points_thinned_keeps_endpoints(
    many_scores: tuple[np.ndarray, np.ndarray], max_points: int
) -> None:
    pts = roc_points(*many_scores, max_points=max_points)
    assert list(pts.columns) == ["fpr", "tpr", "threshold"]
    assert 2 <= len(pts) <= max_points
    assert (pts["fpr"].iloc[0], pts["tpr"].iloc[0]) == (0.0, 0.0)
    assert (pts["fpr"].iloc[-1], pts["tpr"].iloc[-1]) == (1.0, 1.0)
    assert np.isfinite(pts["threshold"]).all()
    assert pts["fpr"].is_monotonic_increasing


@pytest.mark.parametrize("max_points", [2, 50])
def test_pr_points_thinned(many_scores: tuple[np.ndarray, np.ndarray], max_points: int) -> None:
    pts = pr_points(*many_scores, max_points=max_points)
    assert list(pts.columns) == ["recall", "precision", "threshold"]
    assert 2 <= len(pts) <= max_points
    assert pts["recall"].iloc[0] == 1.0
    assert pts["recall"].iloc[-1] == 0.0
    assert np.isfinite(pts["threshold"]).all()


def test_curves_small_input_not_thinned() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    pts = roc_points(y, s)
    assert pts["fpr"].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert pts["tpr"].tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert pts["threshold"].tolist() == [1.0, 0.8, 0.4, 0.35, 0.1]


def test_curves_single_class_are_empty() -> None:
    assert roc_points(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3])).empty
    assert pr_points(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3])).empty


def test_curves_reject_tiny_max_points() -> None:
    with pytest.raises(ValueError, match="max_points"):
        roc_points(np.array([0, 1]), np.array([0.2, 0.8]), max_points=1)


# --- slice_metrics -----------------------------------------------------------------------


@pytest.fixture
def slice_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    frame = pd.DataFrame(
        {
            "region": ["north", "north", "north", "north", "south", "south", None, "south"],
            "age": [20.0, 24.0, 25.0, 34.0, 35.0, 70.0, np.nan, 30.0],
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    y = np.array([0, 1, 0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.4, 0.5, 0.6])
    return frame, y, s


def test_slice_metrics_categorical_with_missing(
    slice_data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, s = slice_data
    out = slice_metrics(frame, y_true=y, score=s, slices=[SliceConfig(column="region")], min_rows=3)
    region = out["region"]
    assert list(region) == ["north", "south", "missing"]
    assert region["north"] == {
        "rows": 4,
        "positive_rate": 0.5,
        "roc_auc": 1.0,
        "mean_score": pytest.approx(0.5),
    }
    assert region["south"]["rows"] == 3
    assert region["south"]["roc_auc"] == 0.5  # 0.4 beats 0.3 but not 0.6
    assert region["missing"] == {
        "rows": 1,
        "positive_rate": 1.0,
        "roc_auc": None,
        "mean_score": 0.5,
    }
    json.dumps(out, allow_nan=False)


def test_slice_metrics_bins_name_and_missing(
    slice_data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, s = slice_data
    cfg = SliceConfig(column="age", name="age_band", bins=[0, 25, 35, 50])
    out = slice_metrics(frame, y_true=y, score=s, slices=[cfg], min_rows=2)
    bands = out["age_band"]
    # [0, 25): 20, 24; [25, 35): 25, 34, 30; [35, 50): 35; 70 out of range; NaN missing
    assert list(bands) == ["0-25", "25-35", "35-50", "out_of_range", "missing"]
    assert [bands[b]["rows"] for b in bands] == [2, 3, 1, 1, 1]
    assert bands["0-25"]["roc_auc"] == 1.0
    assert bands["35-50"]["roc_auc"] is None  # below min_rows
    assert bands["25-35"]["positive_rate"] == pytest.approx(1 / 3)


def test_slice_metrics_min_rows_hides_auc(
    slice_data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, s = slice_data
    out = slice_metrics(frame, y_true=y, score=s, slices=[SliceConfig(column="region")], min_rows=5)
    assert all(group["roc_auc"] is None for group in out["region"].values())


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ([SliceConfig(column="income")], "'income'"),
        ([SliceConfig(column="region"), SliceConfig(column="region")], "two slices"),
        ([SliceConfig(column="region", bins=[0, 1])], "numeric"),
        ([SliceConfig(column="age", bins=[10, 5])], "increasing"),
    ],
)
def test_slice_metrics_rejects_bad_slices(
    slice_data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    slices: list[SliceConfig],
    message: str,
) -> None:
    frame, y, s = slice_data
    with pytest.raises(ValueError, match=message):
        slice_metrics(frame, y_true=y, score=s, slices=slices, min_rows=1)


def test_slice_metrics_does_not_mutate_frame(
    slice_data: tuple[pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    frame, y, s = slice_data
    before = frame.copy()
    slice_metrics(
        frame, y_true=y, score=s, slices=[SliceConfig(column="age", bins=[0, 50])], min_rows=1
    )
    pd.testing.assert_frame_equal(frame, before)


# --- feature_importance ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_booster() -> xgb.Booster:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    names = ["signal", "weak", "noise", "unused"]
    x[:, 3] = 0.0  # constant: no split can use it
    dtrain = xgb.DMatrix(x, label=y, feature_names=names)
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5, "nthread": 1},
        dtrain,
        num_boost_round=5,
    )


@pytest.mark.parametrize("importance_type", ["gain", "total_gain", "weight", "total_cover"])
def test_feature_importance_lists_every_feature(
    tiny_booster: xgb.Booster, importance_type: str
) -> None:
    table = feature_importance(tiny_booster, importance_type=importance_type)
    assert list(table.columns) == ["feature", "importance"]
    assert sorted(table["feature"]) == ["noise", "signal", "unused", "weak"]
    assert table["importance"].is_monotonic_decreasing
    assert table.loc[table["feature"] == "unused", "importance"].item() == 0.0
    if importance_type in ("gain", "total_gain"):
        assert table["feature"].iloc[0] == "signal"  # the label is mostly this feature


def test_feature_importance_rejects_unknown_type(tiny_booster: xgb.Booster) -> None:
    with pytest.raises(ValueError, match="importance_type"):
        feature_importance(tiny_booster, importance_type="shap")


def test_ece_by_chance_matches_simulated_calibrated_models():
    """The analytic chance level is close to the mean ECE of truly calibrated scores."""
    from loopline.evaluate import binary_metrics, ece_by_chance

    rng = np.random.default_rng(3)
    s = rng.uniform(0.05, 0.95, 600)
    simulated = [binary_metrics((rng.random(600) < s).astype(float), s)["ece"] for _ in range(200)]
    assert ece_by_chance(s) == pytest.approx(np.mean(simulated), rel=0.15)
    assert ece_by_chance(np.array([])) == 0.0
