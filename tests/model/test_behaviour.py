"""Behavioural tests of the trained model, as Made-With-ML has them: invariance (what must not
move the score), directional expectations (what must move it, and which way), slices, and the
sanity of the decisions built on the score.

The model is the tiny configuration's, trained in process by `trained` (tests/conftest.py); it is
deterministic (same seed, same data), so the measured figures quoted below are exact for it.
Where a bound is not "every row", it sits well away from the measured value (about twice the
violation rate, about half the effect): the test fails when the model's behaviour changes
materially, not when a library upgrade moves a figure in its third decimal.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from loopline import evaluate, features, policy, train
from loopline.bundle import Bundle
from loopline.split import SPLIT, TARGET
from tests.conftest import TrainedRun

pytestmark = pytest.mark.model

PRIOR_DEFAULTS = "prior_defaults_observed"


def _same_outcome(a: dict, b: dict) -> None:
    assert a["score"] == b["score"]
    assert (a["decision"], a["decided_by"], a["reasons"]) == (
        b["decision"],
        b["decided_by"],
        b["reasons"],
    )
    assert a["features"] == pytest.approx(b["features"], nan_ok=True)


def _scores(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray:
    return bundle.score_frame(frame, explain=False)["score"].to_numpy()


# ------------------------------------------------------------------------------- invariance


def test_the_application_id_does_not_change_the_score(
    bundle: Bundle, fresh_requests: list[dict]
) -> None:
    for request in fresh_requests:
        renamed = request | {"application_id": "another-" + request["application_id"]}
        _same_outcome(
            bundle.score_record(request, remember=False),
            bundle.score_record(renamed, remember=False),
        )


def test_a_new_customers_id_does_not_change_the_score(
    bundle: Bundle, fresh_requests: list[dict]
) -> None:
    # a customer id is a history key: for a customer the history has never seen, which unseen
    # id it is must not matter (for a known customer it must, through the history features)
    for request in fresh_requests:
        renamed = request | {"customer_id": "someone-else-" + request["customer_id"]}
        _same_outcome(
            bundle.score_record(request, remember=False),
            bundle.score_record(renamed, remember=False),
        )


def test_the_order_of_a_requests_fields_does_not_change_the_score(
    bundle: Bundle, fresh_requests: list[dict]
) -> None:
    shuffle = random.Random(0)
    for request in fresh_requests:
        keys = list(request)
        shuffle.shuffle(keys)
        for reordered in (
            {k: request[k] for k in reversed(request)},
            {k: request[k] for k in keys},
        ):
            _same_outcome(
                bundle.score_record(request, remember=False),
                bundle.score_record(reordered, remember=False),
            )


def test_fields_outside_the_schema_are_never_used_as_model_inputs(
    bundle: Bundle, fresh_requests: list[dict]
) -> None:
    # The REST contract refuses unknown fields (422, serving/app.py); the bundle under it reads
    # only the schema's columns. A field named like an engineered feature must not reach the
    # model either: history and derived features are computed, never taken from the client.
    injected = {
        PRIOR_DEFAULTS: 9,
        "prior_apps_30d": 40,
        "days_since_prev_app": 0.5,
        "loan_to_income": 25.0,
        "payment_to_income": 3.0,
        "month": 1,
        "hour": 3,
        "nickname": "x",
    }
    assert set(injected) - {"nickname"} <= set(bundle.feature_names)
    for request in fresh_requests:
        _same_outcome(
            bundle.score_record(request, remember=False),
            bundle.score_record(request | injected, remember=False),
        )


def test_batch_scores_ignore_extra_columns_and_row_order(
    bundle: Bundle, fresh: pd.DataFrame, fresh_scored: pd.DataFrame
) -> None:
    scores = pd.Series(fresh_scored["score"].to_numpy(), index=fresh["application_id"])
    with_extra = fresh.assign(nickname="x", batch_note=1.0)
    assert (_scores(bundle, with_extra) == scores.to_numpy()).all()
    # entity features are "as of" each application's time, whatever order the file has
    shuffled = fresh.sample(frac=1.0, random_state=0)
    reshuffled = pd.Series(_scores(bundle, shuffled), index=shuffled["application_id"])
    assert (reshuffled.loc[scores.index] == scores).all()


def test_one_record_at_a_time_scores_as_the_batch_does(
    trained: TrainedRun, fresh: pd.DataFrame, fresh_requests: list[dict]
) -> None:
    # the REST path (each request remembered, so a returning customer's later application sees
    # the earlier one) and the batch path give the same score, decision and reasons
    bundle = trained.load_bundle()  # its own: remembering adds to the history
    batch = bundle.score_frame(fresh.head(len(fresh_requests)))
    served = [bundle.score_record(r) for r in fresh_requests]
    assert [s["score"] for s in served] == batch["score"].tolist()
    assert [s["decision"] for s in served] == batch["decision"].tolist()
    assert [s["reasons"] for s in served] == [list(r) for r in batch["reasons"]]


def test_a_service_builds_the_online_history_on_load_and_batch_use_never_does(
    trained: TrainedRun, fresh: pd.DataFrame, fresh_requests: list[dict]
) -> None:
    batch = Bundle.load(trained.model_dir)
    batch.score_frame(fresh.head(50))  # batch scoring answers from HistoryIndex alone
    assert batch.history is not None and batch.history._pending is not None
    online = Bundle.load(trained.model_dir, online=True)
    assert online.history is not None and online.history._pending is None
    record = fresh_requests[0]
    assert online.score_record(record, remember=False) == batch.score_record(record, remember=False)


# ------------------------------------------------------------------ directional expectations


def _within_schema(bundle: Bundle, column: str, values: pd.Series) -> pd.Series:
    rule = bundle.schema[column]
    return values.clip(lower=rule.min, upper=rule.max)


def _change(
    bundle: Bundle,
    fresh: pd.DataFrame,
    scored: pd.DataFrame,
    column: str,
    how: Callable[[pd.Series], pd.Series],
) -> np.ndarray:
    """Score change per application when `column` is changed by `how` (kept valid)."""
    changed = fresh.assign(**{column: _within_schema(bundle, column, how(fresh[column]))})
    return _scores(bundle, changed) - scored["score"].to_numpy()


# In the simulator (simulate._ground_truth_logit) default risk rises with debt-to-income
# (1.1 * sqrt), credit utilisation (1.5 * util, more above 0.85) and past delinquencies
# (0.55 * log1p); a tree ensemble without monotone constraints follows these only mostly.
# Measured on the tiny model over the 20,000 fresh applications (share of rows whose score
# drops; mean change of the score, whose mean is 0.085):
#   debt_to_income +0.2        6.04% drop, mean +0.024  (+0.5: 1.0% drop)
#   credit_utilization +0.2    2.85% drop, mean +0.029  (+0.5: 0.45% drop)
#   past_delinquencies +1      6.66% drop, mean +0.025  (+3: 1 row in 20,000; +5: none)
# Bounds: at most 12% of rows drop (about twice the worst), the mean rises by at least 0.01.
RISK_FACTORS = {
    "debt_to_income": lambda c: c + 0.2,
    "credit_utilization": lambda c: c + 0.2,
    "past_delinquencies": lambda c: c + 1,
}


@pytest.mark.parametrize("column", list(RISK_FACTORS))
def test_a_higher_risk_factor_raises_the_score(
    bundle: Bundle, fresh: pd.DataFrame, fresh_scored: pd.DataFrame, column: str
) -> None:
    change = _change(bundle, fresh, fresh_scored, column, RISK_FACTORS[column])
    dropped = float((change < 0).mean())
    assert dropped <= 0.12, f"{column}: {dropped:.2%} of applications scored lower"
    assert change.mean() >= 0.01, f"{column}: mean change {change.mean():+.4f}"


# Income and amount act in the simulator through several terms at once (-0.5 * log income,
# and the repayment-to-income ratio that both feed); the tiny model (1,400 training rows)
# follows them on average only. Measured: income x1.5 lowers the mean score by 0.0097 but
# raises 44% of rows (lowers 51%); amount x1.5 raises the mean by 0.0058 and lowers 35% of
# rows. Asserted: the mean moves the right way by at least about half the measured effect.
@pytest.mark.parametrize(
    ("column", "factor", "bound"),
    [("annual_income", 1.5, -0.004), ("loan_amount", 1.5, 0.002)],
)
def test_income_and_amount_move_the_mean_score_the_right_way(
    bundle: Bundle,
    fresh: pd.DataFrame,
    fresh_scored: pd.DataFrame,
    column: str,
    factor: float,
    bound: float,
) -> None:
    change = _change(bundle, fresh, fresh_scored, column, lambda c: c * factor)
    mean = float(change.mean())
    if bound < 0:
        assert mean <= bound, f"{column} x{factor}: mean change {mean:+.4f}"
    else:
        assert mean >= bound, f"{column} x{factor}: mean change {mean:+.4f}"


def test_more_prior_defaults_never_lower_the_score(bundle: Bundle, fresh: pd.DataFrame) -> None:
    # every row, every step 0 -> 1 -> ... -> 5, at the model's input (scored as the evaluation
    # scores, which the bundle matches exactly: see the slices test). Measured: no row drops,
    # because the tiny model never splits on this feature (gain 0: 2 of its ~3,900 feature
    # rows have a prior default observed), so this guards against a model that learns it the
    # wrong way round rather than showing that it learnt it.
    x = features.model_frame(bundle.features_frame(fresh), bundle.spec)
    previous = None
    for count in range(6):
        score = train.predict(bundle.booster, x.assign(**{PRIOR_DEFAULTS: float(count)}))
        if previous is not None:
            lower = int((score < previous).sum())
            assert lower == 0, f"{lower} applications score lower with {count} prior defaults"
        previous = score


def test_a_default_observed_in_the_history_never_lowers_the_score(
    trained: TrainedRun, fresh_requests: list[dict]
) -> None:
    # The serving path: the customer's earlier application (200 days before) defaulted, and the
    # label was fed back a day before this application; against the same history without it.
    bundle = trained.load_bundle()  # its own: this test adds to the history
    day = np.timedelta64(1, "D")
    before, after = [], []
    for i, request in enumerate(fresh_requests):
        # a customer of its own per request: a returning customer's later application would
        # otherwise see the default added for the earlier one
        request = request | {"customer_id": f"{request['customer_id']}-{i}"}
        at = np.datetime64(request["applied_at"])
        earlier = f"earlier-{i}"
        assert bundle.history.add_application(request["customer_id"], at - 200 * day, earlier)
        before.append(bundle.score_record(request, remember=False))
        assert bundle.history.add_label(earlier, at - day)
        after.append(bundle.score_record(request, remember=False))
    assert {b["features"][PRIOR_DEFAULTS] for b in before} == {0.0}
    assert {a["features"][PRIOR_DEFAULTS] for a in after} == {1.0}
    lower = [
        r["application_id"]
        for r, b, a in zip(fresh_requests, before, after, strict=True)
        if a["score"] < b["score"]
    ]
    assert not lower, f"{len(lower)} applications score lower after a default: {lower[:5]}"


# ------------------------------------------------------------------------------------ slices


def test_no_slice_falls_far_below_the_overall_auc(
    trained: TrainedRun, fresh: pd.DataFrame, fresh_scored: pd.DataFrame
) -> None:
    # The evaluation's slices (dataset.slices: region, channel, age band) on the fresh sample,
    # where every group has 700+ rows and 60+ defaults. The tiny test split is too small for
    # this (299 rows, 24 defaults: region north has 2 defaults and an AUC of 0.37).
    # Measured: overall AUC 0.788; the weakest group is age 0-25 at 0.738 (-0.050), then
    # age 65+ at 0.750. Floor: overall - 0.10, twice the worst gap.
    y, score = fresh["defaulted"].to_numpy(), fresh_scored["score"].to_numpy()
    overall = evaluate.binary_metrics(y, score)["roc_auc"]
    slices = evaluate.slice_metrics(
        fresh, y, score, trained.cfg.dataset.slices, trained.cfg.evaluate.min_slice_rows
    )
    checked = {}
    for name, groups in slices.items():
        for group, m in groups.items():
            positives = m["rows"] * m["positive_rate"]
            if positives >= 50 and m["rows"] - positives >= 50:
                checked[f"{name}={group}"] = m["roc_auc"]
    assert len(checked) == sum(len(g) for g in slices.values()) == 14  # none left out
    weak = {k: round(v, 3) for k, v in checked.items() if v < overall - 0.10}
    assert not weak, f"overall AUC {overall:.3f}; slices below the floor: {weak}"


def test_the_evaluations_slices_describe_the_served_model(
    trained: TrainedRun, bundle: Bundle
) -> None:
    # the served bundle scores the test split exactly as the evaluate stage did, so the slices
    # and figures in evaluation.json are the served model's
    rows = trained.split_table()
    test = rows[rows[SPLIT] == "test"]
    y, score = test[TARGET].to_numpy(), _scores(bundle, test)
    report = trained.report("evaluation.json")
    assert evaluate.binary_metrics(y, score)["roc_auc"] == pytest.approx(
        report["test"]["xgboost"]["roc_auc"], abs=1e-12
    )
    slices = evaluate.slice_metrics(
        test, y, score, trained.cfg.dataset.slices, trained.cfg.evaluate.min_slice_rows
    )
    assert slices == report["slices"]


# ------------------------------------------------------------------------------- decisions


def _check_decisions(score: np.ndarray, decision: list, reasons: list, bundle: Bundle) -> None:
    score, decision = np.asarray(score), np.asarray(decision)
    t, band = bundle.threshold, bundle.policy.uncertainty_band
    approved = decision == policy.APPROVE
    assert not (approved & (score >= t)).any(), "an application scored above the threshold"
    # nor inside the uncertainty band below it: those go to review
    assert (score[approved] <= t - band).all()
    missing = [i for i, r in enumerate(reasons) if not approved[i] and not r]
    assert not missing, f"{len(missing)} non-approvals without a reason, e.g. rows {missing[:5]}"
    assert all(not r for r, a in zip(reasons, approved, strict=True) if a)


def test_batch_decisions_follow_the_threshold_and_every_refusal_has_reasons(
    bundle: Bundle, fresh_scored: pd.DataFrame
) -> None:
    scored = fresh_scored
    # not vacuous: measured 15,985 approvals, 2,178 declines, 1,837 reviews, ~3,100 rows
    # scored above the threshold
    counts = scored["decision"].value_counts()
    assert {policy.APPROVE, policy.DECLINE, policy.REVIEW} <= set(counts.index)
    assert (scored["score"] >= bundle.threshold).sum() >= 500
    _check_decisions(scored["score"], scored["decision"].tolist(), list(scored["reasons"]), bundle)
    # the policy's rules decide before the score does, and say so in the reasons
    for kind, rule in [(policy.DECLINE, r) for r in bundle.policy.hard_declines] + [
        (policy.REVIEW, r) for r in bundle.policy.referrals
    ]:
        fired = scored[scored["decided_by"] == rule.name]
        assert len(fired) > 0, f"rule {rule.name} never fired on 20,000 applications"
        assert (fired["decision"] == kind).all()
        assert fired["reasons"].map(lambda r, rule=rule: rule.reason in r).all()


def test_served_decisions_follow_the_threshold_and_every_refusal_has_reasons(
    bundle: Bundle, fresh_requests: list[dict]
) -> None:
    served = [bundle.score_record(r, remember=False) for r in fresh_requests]
    decisions = [s["decision"] for s in served]
    assert set(decisions) == {policy.APPROVE, policy.DECLINE, policy.REVIEW}
    _check_decisions(
        [s["score"] for s in served], decisions, [s["reasons"] for s in served], bundle
    )
