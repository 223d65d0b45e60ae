import json
import math
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from loopline.drift import (
    NEW,
    OTHER,
    DriftThresholds,
    compare,
    js_distance,
    psi,
    reference_stats,
    wasserstein_normed,
    window_stats,
)

NUMERIC = [
    "income",
    "age",
    "tenure",
    "balance",
    "n_products",
    "score",
    "x1",
    "x2",
    "x3",
    "x4",
    "x5",
    "x6",
]
CATEGORICAL = ["channel", "region", "plan", "device", "segment"]
CHANNELS = ["web", "app", "store", "phone"]
CHANNEL_MIX = [0.5, 0.3, 0.15, 0.05]
ROWS = 100_000


def make_frame(
    n: int,
    seed: int,
    *,
    income_scale: float = 1.0,
    channel_mix: list[float] = CHANNEL_MIX,
    new_device_share: float = 0.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    balance = rng.normal(1000, 300, n)
    balance[rng.random(n) < 0.02] = np.nan
    frame = {
        "income": rng.lognormal(10.5, 0.5, n) * income_scale,
        "age": np.clip(rng.normal(40, 12, n).round(), 18, 90),
        "tenure": rng.exponential(5.0, n),
        "balance": balance,
        "n_products": rng.poisson(2.0, n).astype("float64"),
        "score": rng.uniform(0, 1, n),
    }
    for i in range(1, 7):
        frame[f"x{i}"] = rng.normal(i, i, n)
    frame["channel"] = rng.choice(CHANNELS, n, p=channel_mix)
    frame["region"] = rng.choice([f"r{i}" for i in range(10)], n)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1])
    devices = ["ios", "android", "desktop", "tablet"]
    device = rng.choice(devices, n, p=[0.35, 0.35, 0.2, 0.1]).astype(object)
    device[rng.random(n) < new_device_share] = "smartwatch"
    frame["device"] = device
    frame["segment"] = rng.choice([f"s{i}" for i in range(6)], n)
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def reference() -> dict:
    return reference_stats(make_frame(ROWS, 1), numeric=NUMERIC, categorical=CATEGORICAL)


def run(reference: dict, frame: pd.DataFrame):
    return compare(reference, window_stats(frame, reference), thresholds=DriftThresholds())


def by_name(report) -> dict:
    return {c.column: c for c in report.columns}


# ------------------------------------------------------------------ metrics


def test_psi_identical_is_zero():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert psi(p, p) == 0.0
    assert psi(p * 1000, p * 50) == pytest.approx(0.0)  # counts are normalised


def test_psi_hand_computed():
    # (0.5-0.25)ln(2) + 0 + (0.25-0.5)ln(0.5) = 0.5 ln 2
    assert psi(np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])) == pytest.approx(
        0.5 * math.log(2)
    )


def test_psi_undefined_is_nan():
    assert math.isnan(psi(np.array([0.5, 0.5]), np.array([0.0, 0.0])))


def test_js_identical_and_disjoint():
    p = np.array([0.2, 0.3, 0.5])
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-12)
    disjoint = js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert disjoint == pytest.approx(math.sqrt(math.log(2)))  # the maximum, natural log
    assert 0.0 < js_distance(np.array([0.5, 0.5]), np.array([0.9, 0.1])) < 1.0


def test_wasserstein_normed_shifted_normal():
    rng = np.random.default_rng(0)
    probs = np.linspace(0, 1, 101)
    a, b = rng.normal(0, 1, 100_000), rng.normal(0.5, 1, 100_000)
    distance = wasserstein_normed(np.quantile(a, probs), np.quantile(b, probs), a.std())
    assert distance == pytest.approx(0.5, abs=0.05)


def test_wasserstein_normed_constant_reference():
    same = np.full(101, 3.0)
    assert wasserstein_normed(same, same, 0.0) == 0.0
    assert wasserstein_normed(same, same + 1, 0.0) == math.inf
    assert math.isnan(wasserstein_normed(same, None, 1.0))


# ------------------------------------------------------------------ statistics


def test_reference_shape(reference):
    income = reference["numeric"]["income"]
    assert reference["rows"] == ROWS
    assert len(income["edges"]) == 19 and len(income["proportions"]) == 20
    assert np.allclose(income["proportions"], 0.05, atol=1e-3)  # equal-frequency bins
    assert len(income["quantiles"]) == 200
    assert reference["numeric"]["balance"]["missing_rate"] == pytest.approx(0.02, abs=0.003)
    # few distinct values -> deduplicated edges, fewer bins
    assert len(reference["numeric"]["n_products"]["edges"]) < 19
    assert reference["categorical"]["channel"]["levels"] == CHANNELS
    assert sum(reference["categorical"]["region"]["proportions"]) == pytest.approx(1.0)


def test_reference_json_round_trip(reference):
    text = json.dumps(reference, allow_nan=False)  # strict, portable JSON
    restored = json.loads(text)
    window = make_frame(20_000, 7, income_scale=1.2)
    direct = run(reference, window).to_dict()
    assert run(restored, window).to_dict() == direct
    json.dumps(direct, allow_nan=False)


# ------------------------------------------------------------------ comparison


def test_no_drift_between_samples_of_the_same_generator(reference):
    report = run(reference, make_frame(ROWS, 2))
    assert report.drifted_columns == []
    assert report.dataset_drift is False
    assert report.rows == ROWS
    assert all(c.psi < 0.01 and c.distance < 0.05 for c in report.columns)


def test_two_shifted_columns_are_exactly_the_ones_flagged(reference):
    shifted = make_frame(ROWS, 3, income_scale=1.3, channel_mix=[0.3, 0.3, 0.3, 0.1])
    report = run(reference, shifted)
    assert sorted(report.drifted_columns) == ["channel", "income"]
    assert report.dataset_drift is False
    columns = by_name(report)
    assert columns["income"].distance > 0.3 and "distance" in columns["income"].reasons
    assert columns["channel"].distance >= 0.1


def test_drift_thresholds_are_defined_once_and_monitoring_judges_by_them(reference):
    """config.DriftThresholds is the one definition: drift re-exports it, the monitor's
    thresholds extend it, and compare takes the monitor's thresholds as they are."""
    from loopline import config, drift

    assert drift.DriftThresholds is config.DriftThresholds
    monitor_t = config.MonitorThresholds()
    assert isinstance(monitor_t, config.DriftThresholds)
    assert list(vars(monitor_t))[:5] == [f.name for f in fields(config.DriftThresholds)]
    shifted = make_frame(ROWS, 3, income_scale=1.3, channel_mix=[0.3, 0.3, 0.3, 0.1])
    window = window_stats(shifted, reference)
    strict = replace(monitor_t, wasserstein=10.0, psi=10.0, js=10.0)
    assert compare(reference, window, thresholds=monitor_t).drifted_columns == ["income", "channel"]
    assert compare(reference, window, thresholds=strict).drifted_columns == []


def test_large_share_of_dataset_drift(reference):
    frame = make_frame(20_000, 4)
    for column in NUMERIC:
        frame[column] = frame[column] * 2 + 5
    report = run(reference, frame)
    assert report.dataset_drift is True
    assert report.share_drifted == pytest.approx(12 / 17)


def test_new_category_reported_and_flagged_when_large(reference):
    report = run(reference, make_frame(ROWS, 5, new_device_share=0.2))
    device = by_name(report)["device"]
    assert list(device.new_levels) == ["smartwatch"]
    assert device.new_levels["smartwatch"] == pytest.approx(0.2 * ROWS, rel=0.05)
    assert device.drifted and report.drifted_columns == ["device"]

    report = run(reference, make_frame(ROWS, 6, new_device_share=0.001))
    device = by_name(report)["device"]
    assert "smartwatch" in device.new_levels  # reported...
    assert not device.drifted  # ...but too small to be drift


def test_new_levels_listed_up_to_twenty(reference):
    frame = make_frame(10_000, 8)
    frame.loc[:2999, "plan"] = [f"new{i % 30}" for i in range(3000)]
    plan = window_stats(frame, reference)["categorical"]["plan"]
    assert len(plan["new_levels"]) == 20
    assert plan["counts"][plan["levels"].index(NEW)] == 3000


def test_unseen_levels_pool_into_other_when_reference_truncated():
    ref_frame = pd.DataFrame({"city": [f"c{i}" for i in range(100)] * 10})
    reference = reference_stats(ref_frame, numeric=[], categorical=["city"], max_levels=10)
    assert reference["categorical"]["city"]["levels"][-1] == OTHER
    window = window_stats(pd.DataFrame({"city": ["zzz"] * 10}), reference)
    assert window["categorical"]["city"]["new_levels"] == {}
    city = window["categorical"]["city"]
    assert city["counts"][city["levels"].index(OTHER)] == 10


def test_missing_rate_increase_reported(reference):
    frame = make_frame(ROWS, 9)
    frame.loc[frame.sample(frac=0.1, random_state=0).index, "age"] = np.nan
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "plan"] = None
    report = run(reference, frame)
    columns = by_name(report)
    for name in ("age", "plan"):
        assert columns[name].missing_rate_ref == pytest.approx(0.0)
        assert columns[name].missing_rate_win == pytest.approx(0.1, abs=1e-3)
        assert columns[name].reasons == ["missing_rate"]
    assert sorted(report.drifted_columns) == ["age", "plan"]


# ------------------------------------------------------------------ degenerate inputs


def test_constant_numeric_column():
    reference = reference_stats(
        pd.DataFrame({"k": np.full(1000, 3.0)}), numeric=["k"], categorical=[]
    )
    assert reference["numeric"]["k"]["std"] == 0.0
    same = compare(reference, window_stats(pd.DataFrame({"k": [3.0] * 50}), reference))
    assert same.columns[0].distance == 0.0 and same.columns[0].psi == 0.0
    assert not same.dataset_drift
    moved = compare(reference, window_stats(pd.DataFrame({"k": [4.0] * 50}), reference))
    assert moved.columns[0].distance == math.inf and moved.columns[0].drifted
    assert moved.to_dict()["columns"][0]["distance"] is None


def test_all_missing_window_column(reference):
    frame = make_frame(1000, 10)
    frame["income"] = np.nan
    frame["channel"] = None
    frame = frame.drop(columns=["segment"])  # an absent column counts as all missing
    columns = by_name(run(reference, frame))
    for name in ("income", "channel", "segment"):
        assert math.isnan(columns[name].psi) and math.isnan(columns[name].distance)
        assert columns[name].missing_rate_win == 1.0
        assert columns[name].reasons == ["missing_rate"]


def test_empty_window(reference):
    empty = make_frame(0, 11)
    report = run(reference, empty)
    assert report.rows == 0
    assert report.drifted_columns == [] and report.dataset_drift is False
    assert all(math.isnan(c.psi) and math.isnan(c.distance) for c in report.columns)
    assert all(math.isnan(c.missing_rate_win) for c in report.columns)
    json.dumps(report.to_dict(), allow_nan=False)
    json.dumps(window_stats(empty, reference), allow_nan=False)


def test_empty_reference_does_not_raise():
    reference = reference_stats(pd.DataFrame({"a": [], "c": []}), numeric=["a"], categorical=["c"])
    json.dumps(reference, allow_nan=False)
    report = compare(reference, window_stats(pd.DataFrame({"a": [1.0], "c": ["x"]}), reference))
    assert report.drifted_columns == []
