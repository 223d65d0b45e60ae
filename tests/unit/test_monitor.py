"""Monitoring: a window of logged traffic vs the bundle's reference -> report and verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline import drift, monitor
from loopline.config import MonitorConfig
from loopline.preprocess import NumericRule, PreprocessState

RNG_SEED = 7
N = 4000


def population(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.lognormal(10.8 + shift, 0.4, n),
            "ratio": rng.beta(2, 5, n) + shift,
            "age": rng.integers(18, 80, n).astype(float),
            "channel": rng.choice(["online", "branch", "broker"], n, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict:
    rng = np.random.default_rng(RNG_SEED)
    train = population(rng, N)
    ref = drift.reference_stats(train, numeric=["income", "ratio", "age"], categorical=["channel"])
    scores = rng.beta(2, 12, N)
    ref["score"] = drift.reference_stats(
        pd.DataFrame({"score": scores}), numeric=["score"], categorical=[]
    )["numeric"]["score"]
    ref["performance"] = {"roc_auc": 0.8, "positive_rate": 0.12, "mean_score": 0.12, "ece": 0.01}
    return ref


STATE = PreprocessState(
    version=1,
    rows=N,
    numeric={
        "income": NumericRule(low=15000.0, high=200000.0, fill=50000.0),
        "ratio": NumericRule(low=0.0, high=1.0, fill=0.2),
        "age": NumericRule(low=18.0, high=80.0, fill=40.0),
    },
    categorical={"channel": ("branch", "broker", "online", "__other__")},
)


def log_frame(features: pd.DataFrame, start: str, score: np.ndarray, bundle="b1") -> pd.DataFrame:
    n = len(features)
    times = pd.Timestamp(start) + pd.to_timedelta(np.linspace(0, 29 * 86400, n), unit="s")
    out = pd.DataFrame(
        {
            "request_id": [f"r{start}{i}" for i in range(n)],
            "bundle_id": bundle,
            "model_version": "1",
            "score": score,
            "decision": np.where(score < 0.2, "approve", "decline"),
            "input.application_id": [f"A{start}{i}" for i in range(n)],
            "input.applied_at": times,
        }
    )
    for column in features.columns:
        out[f"input.{column}"] = features[column].to_numpy()
        out[f"feature.{column}"] = features[column].to_numpy()
    return out


def labels_for(log: pd.DataFrame, y: np.ndarray, delay_days: int = 90) -> pd.DataFrame:
    applied = pd.to_datetime(log["input.applied_at"])
    return pd.DataFrame(
        {
            "application_id": log["input.application_id"],
            "defaulted": y.astype(int).astype(str),
            "observed_at": applied + pd.Timedelta(days=delay_days),
            "score": log["score"],
            "decision": log["decision"],
            "bundle_id": log["bundle_id"],
            "applied_at": applied,
            "amount": 1000.0,
        }
    )


def run(log, reference, *, labelled=None, batches=(), cfg=None, until=None) -> dict:
    return monitor.monitor(
        monitor.MonitorInputs(
            log=log,
            labelled=pd.DataFrame() if labelled is None else labelled,
            batches=tuple(batches),
            time_column="applied_at",
        ),
        monitor.MonitoredModel(
            bundle_id="b1",
            reference=monitor.Reference.from_json(reference),
            state=STATE,
            input_columns=("income", "ratio", "age", "channel"),
        ),
        monitor.Outcomes(target="defaulted", positive_label=1, profit_good=0.1, loss_default=0.6),
        cfg or MonitorConfig(ignore_features=[]),
        until=until,
    )


def test_traffic_like_training_is_healthy(reference):
    rng = np.random.default_rng(1)
    log = log_frame(population(rng, 3000), "2025-03-01", rng.beta(2, 12, 3000))
    report = run(log, reference)
    assert report["verdict"]["status"] == "healthy", report["verdict"]
    assert report["drift"]["drifted_columns"] == []
    assert report["window"]["rows"] == 3000
    assert report["quality"]["out_of_range_rate"]["age"] == 0.0
    assert [p["period"] for p in report["periods"]] == ["2025-03"]


def test_shifted_inputs_and_scores_recommend_retraining(reference):
    rng = np.random.default_rng(2)
    log = log_frame(population(rng, 3000, shift=0.5), "2025-03-01", rng.beta(4, 8, 3000))
    report = run(log, reference)
    verdict = report["verdict"]
    assert verdict["status"] == "retrain"
    assert set(report["drift"]["drifted_columns"]) >= {"income", "ratio"}
    assert any(r.startswith("score drift") for r in verdict["reasons"])
    assert any("outside the training range" in r for r in verdict["reasons"])  # ratio > 1


def test_realised_performance_decay_is_caught_from_arrived_labels(reference):
    rng = np.random.default_rng(3)
    january = log_frame(population(rng, 3000), "2025-01-01", rng.beta(2, 12, 3000))
    april = log_frame(population(rng, 3000), "2025-04-01", rng.beta(2, 12, 3000))
    log = pd.concat([january, april], ignore_index=True)
    # outcomes unrelated to the scores: the model no longer ranks (AUC ~0.5)
    labelled = labels_for(january, rng.random(3000) < january["score"].mean())
    report = run(log, reference, labelled=labelled)
    perf = report["performance"]
    assert perf["labelled"] == 3000 and perf["cohort"] == "2025-01"  # the newest labelled month
    assert perf["auc"] == pytest.approx(0.5, abs=0.05)
    assert any(r.startswith("performance: realised AUC") for r in report["verdict"]["reasons"])
    january_row = report["periods"][0]
    assert january_row["period"] == "2025-01" and january_row["labelled"] == 3000
    assert january_row["expected_profit"] is not None and january_row["realised_profit"] is not None


def test_good_realised_performance_is_not_a_reason(reference):
    rng = np.random.default_rng(4)
    january = log_frame(population(rng, 3000), "2025-01-01", rng.beta(2, 12, 3000))
    april = log_frame(population(rng, 3000), "2025-04-01", rng.beta(2, 12, 3000))
    y = rng.random(3000) < january["score"].to_numpy()  # calibrated outcomes: AUC about 0.71
    held_to = reference | {"performance": reference["performance"] | {"roc_auc": 0.72}}
    report = run(pd.concat([january, april]), held_to, labelled=labels_for(january, y))
    assert report["performance"]["breaches"] == []
    assert report["verdict"]["status"] == "healthy", report["verdict"]


def test_quality_unknown_categories_and_quarantine(reference):
    rng = np.random.default_rng(5)
    features = population(rng, 3000)
    features.loc[:599, "channel"] = "crypto_app"
    log = log_frame(features, "2025-03-01", rng.beta(2, 12, 3000))
    batches = [{"rows_in": 3300, "quarantined": 300, "applied_to": "2025-03-20T00:00:00"}]
    report = run(log, reference, batches=batches)
    quality = report["quality"]
    assert quality["unknown_category_rate"]["channel"] == pytest.approx(0.2)
    assert quality["quarantine_rate"] == pytest.approx(300 / 3300)
    reasons = " ".join(report["verdict"]["reasons"])
    assert "quarantine rate" in reasons and "unknown categories" in reasons


def test_too_little_traffic_or_another_bundle_is_insufficient(reference):
    rng = np.random.default_rng(6)
    small = log_frame(population(rng, 50), "2025-03-01", rng.beta(2, 12, 50))
    assert run(small, reference)["verdict"]["status"] == "insufficient_data"
    other = log_frame(population(rng, 3000), "2025-03-01", rng.beta(2, 12, 3000), bundle="b0")
    report = run(other, reference)
    assert report["window"]["rows"] == 3000 and report["window"]["rows_of_this_bundle"] == 0
    assert report["drift"] is None
    assert report["verdict"]["status"] == "insufficient_data"


def test_empty_log_gives_a_report_not_an_error(reference):
    report = run(pd.DataFrame(), reference)
    assert report["verdict"]["status"] == "insufficient_data"
    assert report["periods"] == []


def test_auc_standard_error_shrinks_with_the_sample():
    small = monitor.auc_standard_error(0.8, 30, 300)
    large = monitor.auc_standard_error(0.8, 300, 3000)
    assert 0.03 < small < 0.06 and large == pytest.approx(small / np.sqrt(10), rel=0.1)
    assert monitor.auc_standard_error(0.8, 0, 10) is None


def test_a_calibration_gap_within_noise_is_not_a_reason(reference):
    rng = np.random.default_rng(8)
    january = log_frame(population(rng, 400), "2025-01-01", np.full(400, 0.09))
    april = log_frame(population(rng, 3000), "2025-04-01", rng.beta(2, 12, 3000))
    y = np.zeros(400)
    y[:48] = 1  # 12% defaults against 9% expected: ratio 1.33, but z about 2
    cfg = MonitorConfig(min_labels=300, ignore_features=[])
    report = run(pd.concat([january, april]), reference, labelled=labels_for(january, y), cfg=cfg)
    perf = report["performance"]
    assert perf["labelled"] == 400 and perf["default_rate"] / perf["mean_score"] > 1.3
    assert abs(perf["calibration_z"]) < 3
    assert not any("default rate" in r for r in report["verdict"]["reasons"])
