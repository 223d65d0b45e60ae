"""Tests for loopline.policy: profit curve, rules, decisions, reason codes and the policy file."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline.config import PolicyConfig, Rule
from loopline.policy import (
    apply_rules,
    best_threshold,
    compile_rules,
    decide,
    decide_one,
    expected_row_profit,
    policy_document,
    policy_from_document,
    policy_summary,
    profit_curve,
    realised_profit,
    reason_codes,
    review_queue,
    row_profit,
)

UNDERAGE = Rule(name="underage", rule="age < 18", reason="Applicant is under 18")
LARGE = Rule(
    name="large_amount",
    rule="loan_amount > 40000",
    reason="Loan amount above the automatic approval limit",
)


@pytest.fixture
def policy() -> PolicyConfig:
    return PolicyConfig(
        profit_good=0.1,
        loss_default=0.5,
        threshold_grid=11,
        uncertainty_band=0.05,
        reason_codes=2,
        hard_declines=[UNDERAGE],
        referrals=[LARGE],
    )


# --- profit_curve / best_threshold -------------------------------------------------------

# Row profits with profit_good 0.1, loss_default 0.5: +10, +20, -50, +5, -50.
Y = np.array([0, 0, 1, 0, 1])
S = np.array([0.05, 0.15, 0.35, 0.55, 0.85])
AMOUNT = np.array([100.0, 200.0, 100.0, 50.0, 100.0])


@pytest.mark.parametrize(
    ("threshold", "approval_rate", "profit", "bad_rate"),
    [
        (0.0, 0.0, 0.0, np.nan),
        (0.1, 0.2, 10.0, 0.0),
        (0.2, 0.4, 30.0, 0.0),
        (0.3, 0.4, 30.0, 0.0),
        (0.4, 0.6, -20.0, 1 / 3),
        (0.6, 0.8, -15.0, 0.25),
        (0.9, 1.0, -65.0, 0.4),
        (1.0, 1.0, -65.0, 0.4),
    ],
)
def test_profit_curve_hand_computed(
    threshold: float, approval_rate: float, profit: float, bad_rate: float
) -> None:
    curve = profit_curve(Y, S, amount=AMOUNT, profit_good=0.1, loss_default=0.5, grid=11)
    assert list(curve.columns) == ["threshold", "approval_rate", "profit", "bad_rate_approved"]
    assert len(curve) == 11
    row = curve.iloc[round(threshold * 10)]
    assert row["threshold"] == pytest.approx(threshold)
    assert row["approval_rate"] == pytest.approx(approval_rate)
    assert row["profit"] == pytest.approx(profit)
    assert row["bad_rate_approved"] == pytest.approx(bad_rate, nan_ok=True)


def test_profit_curve_unit_amount_when_none() -> None:
    curve = profit_curve(Y, S, amount=None, profit_good=0.1, loss_default=0.5, grid=11)
    assert curve["profit"].iloc[[2, 6, 10]].tolist() == pytest.approx([0.2, -0.2, -0.7])


def test_profit_curve_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=500)
    s = rng.uniform(size=500).round(2)  # ties and scores on grid points
    amount = rng.uniform(1000, 5000, size=500)
    curve = profit_curve(y, s, amount=amount, profit_good=0.12, loss_default=0.65, grid=21)
    for t, profit, rate in curve[["threshold", "profit", "approval_rate"]].to_numpy():
        approved = s < t
        expected = np.where(y == 1, -0.65 * amount, 0.12 * amount)[approved].sum()
        assert profit == pytest.approx(expected)
        assert rate == pytest.approx(approved.mean())


def test_profit_curve_does_not_mutate_inputs() -> None:
    s = S.copy()
    profit_curve(Y, s, amount=AMOUNT, profit_good=0.1, loss_default=0.5, grid=5)
    np.testing.assert_array_equal(s, S)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": 1}, "grid"),
        ({"amount": np.array([1.0, 2.0])}, "amount"),
        ({"amount": np.array([1.0, -2.0, 1.0, 1.0, 1.0])}, "non-negative"),
        ({"score": np.array([0.1, 0.2, 0.3, 0.4, 1.5])}, r"\[0, 1\]"),
    ],
)
def test_profit_curve_rejects_bad_input(kwargs: dict, message: str) -> None:
    args = {"y_true": Y, "score": S, "amount": AMOUNT, "profit_good": 0.1, "loss_default": 0.5}
    args["grid"] = 11
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        profit_curve(**args)


def test_best_threshold_hand_computed_optimum() -> None:
    curve = profit_curve(Y, S, amount=AMOUNT, profit_good=0.1, loss_default=0.5, grid=11)
    assert best_threshold(curve) == pytest.approx(0.2)  # 0.2 and 0.3 tie at 30: lower wins


@pytest.mark.parametrize(
    ("thresholds", "profits", "expected"),
    [
        ([0.0, 0.5, 1.0], [0.0, 3.0, 1.0], 0.5),
        ([0.0, 0.5, 1.0], [2.0, 2.0, 2.0], 0.0),
        ([1.0, 0.5, 0.0], [2.0, 2.0, 1.0], 0.5),  # unsorted input, tie -> lower threshold
        ([0.0, 0.5, 1.0], [np.nan, -1.0, -2.0], 0.5),
    ],
)
def test_best_threshold_table(thresholds: list, profits: list, expected: float) -> None:
    curve = pd.DataFrame({"threshold": thresholds, "profit": profits})
    assert best_threshold(curve) == expected


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        (pd.DataFrame({"threshold": [], "profit": []}), "empty"),
        (pd.DataFrame({"threshold": [0.5]}), "profit"),
    ],
)
def test_best_threshold_rejects_bad_curve(curve: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        best_threshold(curve)


# --- apply_rules -------------------------------------------------------------------------


@pytest.fixture
def applications() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [17.0, 30.0, np.nan, 16.0],
            "loan_amount": [50000, 1000, 60000, pd.NA],
            "purpose": ["car", "crypto", None, "crypto"],
        },
        index=["a", "b", "c", "d"],
    ).astype({"loan_amount": "Int64"})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("age < 18", [True, False, False, True]),
        ("not (age >= 18)", [True, False, False, True]),  # NaN age must not fire
        ("age != 30", [True, False, False, True]),
        ("loan_amount > 40000", [True, False, True, False]),  # nullable Int64 with NA
        ("age < 18 and loan_amount > 40000", [True, False, False, False]),
        ("purpose == 'crypto'", [False, True, False, True]),
        ("purpose != 'crypto'", [True, False, False, False]),
    ],
)
def test_apply_rules_table(
    applications: pd.DataFrame, expression: str, expected: list[bool]
) -> None:
    fired = apply_rules(applications, [Rule(name="r", rule=expression, reason="x")])
    assert list(fired.columns) == ["r"]
    assert fired.index.tolist() == ["a", "b", "c", "d"]
    assert fired["r"].dtype == bool
    assert fired["r"].tolist() == expected


def test_apply_rules_one_column_per_rule(applications: pd.DataFrame) -> None:
    fired = apply_rules(applications, [UNDERAGE, LARGE])
    assert list(fired.columns) == ["underage", "large_amount"]
    assert apply_rules(applications, []).shape == (4, 0)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([Rule(name="rich", rule="income > 1e6", reason="")], r"'rich'.*'income'"),
        ([UNDERAGE, UNDERAGE], "two rules"),
        ([Rule(name="sum", rule="age + 1", reason="")], r"'sum'.*True/False"),
        ([Rule(name="call", rule="len(age) > 1", reason="")], "'call'"),
    ],
)
def test_apply_rules_rejects_bad_rules(
    applications: pd.DataFrame, rules: list[Rule], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        apply_rules(applications, rules)


# --- decide ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "amount", "score", "decision", "decided_by", "reasons"),
    [
        (17, 50000, 0.1, "decline", "underage", [UNDERAGE.reason, LARGE.reason]),
        (17, 1000, 0.1, "decline", "underage", [UNDERAGE.reason]),
        (30, 50000, 0.9, "review", "large_amount", [LARGE.reason]),
        (30, 1000, 0.52, "review", "uncertainty_band", []),
        (30, 1000, 0.48, "review", "uncertainty_band", []),
        (30, 1000, 0.7, "decline", "score", []),
        (30, 1000, 0.2, "approve", "score", []),
        (np.nan, 1000, 0.2, "approve", "score", []),
    ],
)
def test_decide_precedence(
    policy: PolicyConfig,
    age: float,
    amount: float,
    score: float,
    decision: str,
    decided_by: str,
    reasons: list[str],
) -> None:
    frame = pd.DataFrame({"age": [age], "loan_amount": [amount]}, index=[7])
    out = decide(np.array([score]), frame, threshold=0.5, policy=policy)
    assert list(out.columns) == ["decision", "decided_by", "rule_reasons"]
    assert out.index.tolist() == [7]
    assert out.iloc[0].tolist() == [decision, decided_by, reasons]


@pytest.mark.parametrize(("score", "decision"), [(0.5, "decline"), (0.4999, "approve")])
def test_decide_threshold_edge_without_band(score: float, decision: str) -> None:
    no_band = PolicyConfig(uncertainty_band=0.0, hard_declines=[UNDERAGE], referrals=[LARGE])
    frame = pd.DataFrame({"age": [40], "loan_amount": [100]})
    assert (
        decide(np.array([score]), frame, threshold=0.5, policy=no_band)["decision"].item()
        == decision
    )


def test_decide_many_rows_keep_index(applications: pd.DataFrame, policy: PolicyConfig) -> None:
    out = decide(np.array([0.1, 0.1, 0.1, 0.9]), applications, threshold=0.5, policy=policy)
    assert out.index.tolist() == ["a", "b", "c", "d"]
    assert out["decision"].tolist() == ["decline", "approve", "review", "decline"]
    assert out["decided_by"].tolist() == ["underage", "score", "large_amount", "underage"]


@pytest.mark.parametrize(
    ("score", "frame", "message"),
    [
        (np.array([0.1]), pd.DataFrame({"age": [1, 2], "loan_amount": [1, 2]}), "shape"),
        (np.array([np.nan]), pd.DataFrame({"age": [30], "loan_amount": [1]}), "NaN"),
        (np.array([0.1]), pd.DataFrame({"age": [30]}), r"'large_amount'.*'loan_amount'"),
    ],
)
def test_decide_rejects_bad_input(
    policy: PolicyConfig, score: np.ndarray, frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        decide(score, frame, threshold=0.5, policy=policy)


# --- reason_codes ------------------------------------------------------------------------

NAMES = ["debt_to_income", "credit_utilization", "age", "past_delinquencies"]
TEXTS = {"debt_to_income": "Debt-to-income ratio", "past_delinquencies": "Past delinquencies"}
CONTRIBS = np.array(
    [
        [0.5, -1.0, 2.0, 0.1, 3.0],  # bias (last) is largest but never a reason
        [-0.2, 0.3, -0.1, -0.5, 9.0],  # one positive feature only
        [-0.2, -0.3, -0.1, -0.5, 1.0],  # nothing pushes the score up
        [0.4, 0.4, 0.0, 0.4, 0.0],  # ties: earlier feature first; zero is not a reason
    ]
)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (
            2,
            [
                ["age", "Debt-to-income ratio"],
                ["credit_utilization"],
                [],
                ["Debt-to-income ratio", "credit_utilization"],
            ],
        ),
        (
            10,
            [
                ["age", "Debt-to-income ratio", "Past delinquencies"],
                ["credit_utilization"],
                [],
                ["Debt-to-income ratio", "credit_utilization", "Past delinquencies"],
            ],
        ),
        (0, [[], [], [], []]),
    ],
)
def test_reason_codes_table(k: int, expected: list[list[str]]) -> None:
    assert reason_codes(CONTRIBS, NAMES, k=k, texts=TEXTS) == expected


def test_reason_codes_without_bias_column_and_nan() -> None:
    contribs = np.array([[np.nan, 0.2, 0.7, -1.0]])
    assert reason_codes(contribs, NAMES, k=3, texts={}) == [["age", "credit_utilization"]]


@pytest.mark.parametrize(
    ("contribs", "k", "message"),
    [
        (np.zeros((2, 3)), 2, "shape"),
        (np.zeros(5), 2, "shape"),
        (np.zeros((2, 5)), -1, "k must"),
    ],
)
def test_reason_codes_rejects_bad_input(contribs: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reason_codes(contribs, NAMES, k=k, texts=TEXTS)


# --- review_queue ------------------------------------------------------------------------


def test_review_queue_orders_by_expected_loss() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3, 4, 5]}, index=[101, 102, 103, 104, 105])
    score = np.array([0.5, 0.9, 0.5, 0.3, 0.45])
    amount = np.array([100.0, 100.0, 300.0, 1000.0, 100.0])
    decisions = pd.DataFrame(
        {
            "decision": ["review", "decline", "review", "review", "review"],
            "decided_by": ["uncertainty_band", "score", "large_amount", "large_amount", "x"],
            "rule_reasons": [[], [], ["big"], ["big"], []],
        },
        index=frame.index,
    )
    queue = review_queue(frame, score, decisions=decisions, amount=amount, loss_default=0.5)
    # expected losses: 101 -> 25, 103 -> 75, 104 -> 150, 105 -> 22.5
    assert queue.index.tolist() == [104, 103, 101, 105]
    assert queue["expected_loss"].tolist() == pytest.approx([150.0, 75.0, 25.0, 22.5])
    assert queue["rank"].tolist() == [1, 2, 3, 4]
    assert queue["x"].tolist() == [4, 3, 1, 5]
    assert queue["rule_reasons"].tolist() == [["big"], ["big"], [], []]
    assert list(frame.columns) == ["x"]  # input untouched

    unit = review_queue(frame, score, decisions=decisions, amount=None, loss_default=1.0)
    assert unit.index.tolist() == [101, 103, 105, 104]  # ties keep input order
    assert unit["expected_loss"].tolist() == pytest.approx([0.5, 0.5, 0.45, 0.3])


def test_review_queue_rejects_misaligned_input() -> None:
    frame = pd.DataFrame({"x": [1, 2]})
    decisions = pd.DataFrame({"decision": ["review"], "decided_by": ["x"], "rule_reasons": [[]]})
    with pytest.raises(ValueError, match="align"):
        review_queue(
            frame, np.array([0.1, 0.2]), decisions=decisions, amount=None, loss_default=0.5
        )


# --- profit: one rule --------------------------------------------------------------------


def test_row_profit_earns_on_repaid_and_loses_on_defaulted_loans() -> None:
    y = np.array([0, 1, 0, 1])
    amount = np.array([100.0, 200.0, 300.0, 400.0])
    np.testing.assert_array_equal(
        row_profit(y, amount, profit_good=0.1, loss_default=0.5),
        [100 * 0.1, -200 * 0.5, 300 * 0.1, -400 * 0.5],
    )


def test_realised_profit_counts_only_approvals() -> None:
    approved = np.array(["approve", "approve", "decline", "review"]) == "approve"
    y = np.array([0, 1, 1, 0])
    amount = np.array([100.0, 200.0, 300.0, 400.0])
    assert realised_profit(approved, y, amount, 0.1, 0.5) == 100 * 0.1 - 200 * 0.5
    assert realised_profit(np.zeros(4, dtype=bool), y, amount, 0.1, 0.5) == 0.0


def test_expected_row_profit_weighs_profit_and_loss_by_the_score() -> None:
    score = np.array([0.0, 1.0, 0.2])
    amount = np.array([10.0, 10.0, 10.0])
    np.testing.assert_allclose(
        expected_row_profit(score, amount, profit_good=0.1, loss_default=0.5),
        [1.0, -5.0, 10 * (0.1 * 0.8 - 0.5 * 0.2)],
    )


# --- policy_summary ----------------------------------------------------------------------


def _decisions(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"decision": values, "decided_by": ["score"] * len(values), "rule_reasons": [[]] * 4}
    )


def test_policy_summary_hand_computed(policy: PolicyConfig) -> None:
    y = np.array([0, 1, 0, 1])
    score = np.array([0.2, 0.4, 0.6, 0.5])
    summary = policy_summary(
        y,
        score,
        decisions=_decisions(["approve", "approve", "decline", "review"]),
        amount=None,
        policy=policy,
    )
    assert summary == {
        "rows": 4,
        "approval_rate": 0.5,
        "decline_rate": 0.25,
        "review_rate": 0.25,
        "profit_approved": pytest.approx(0.1 - 0.5),
        "expected_profit_approved": pytest.approx((0.08 - 0.1) + (0.06 - 0.2)),
        "bad_rate_approved": 0.5,
        "profit_approve_all": pytest.approx(-0.8),
    }
    json.dumps(summary, allow_nan=False)


def test_policy_summary_no_approvals_has_no_bad_rate(policy: PolicyConfig) -> None:
    y = np.array([0, 1, 0, 1])
    amount = np.array([10.0, 10.0, 10.0, 10.0])
    summary = policy_summary(
        y, np.full(4, 0.9), decisions=_decisions(["decline"] * 4), amount=amount, policy=policy
    )
    assert summary["bad_rate_approved"] is None
    assert summary["profit_approved"] == 0.0
    assert summary["profit_approve_all"] == pytest.approx(-8.0)


def test_policy_summary_rejects_unknown_decision(policy: PolicyConfig) -> None:
    with pytest.raises(ValueError, match="maybe"):
        policy_summary(
            np.array([0, 1, 0, 1]),
            np.full(4, 0.5),
            decisions=_decisions(["approve", "maybe", "decline", "review"]),
            amount=None,
            policy=policy,
        )


# --- policy_document ---------------------------------------------------------------------


def test_policy_document_round_trips(policy: PolicyConfig) -> None:
    doc = policy_document(0.37, policy, model_sha256="ab" * 32, feature_names=["age", "dti"])
    loaded = json.loads(json.dumps(doc, allow_nan=False))
    assert loaded["model_sha256"] == "ab" * 32
    assert loaded["feature_names"] == ["age", "dti"]
    assert loaded["cost_matrix"] == {"profit_good": 0.1, "loss_default": 0.5}
    assert loaded["hard_declines"][0] == {
        "name": "underage",
        "rule": "age < 18",
        "reason": "Applicant is under 18",
    }
    threshold, back = policy_from_document(loaded)
    assert threshold == 0.37
    assert back == policy


def test_policy_document_rejects_bad_threshold(policy: PolicyConfig) -> None:
    with pytest.raises(ValueError, match="threshold"):
        policy_document(1.5, policy, model_sha256="x", feature_names=[])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("threshold"), "threshold"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d.update(threshold=-0.1), "threshold"),
        (lambda d: d["referrals"][0].update(rule="open('x')"), "large_amount"),
        (lambda d: d["cost_matrix"].pop("loss_default"), "malformed"),
    ],
)
def test_policy_from_document_rejects_bad_documents(
    policy: PolicyConfig, change: object, message: str
) -> None:
    doc = json.loads(
        json.dumps(policy_document(0.5, policy, model_sha256="ab", feature_names=["age"]))
    )
    change(doc)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        policy_from_document(doc)


# --- decide_one: the record form of decide -----------------------------------------------

PURPOSES = ["car", "crypto", "home", "x" * 30]
PARITY_POLICY_RULES = {
    "hard_declines": [
        UNDERAGE,
        Rule(name="crypto", rule="purpose == 'crypto'", reason="Purpose not financed"),
    ],
    "referrals": [
        LARGE,
        Rule(name="ratio", rule="loan_amount / age > 2000", reason="Amount large for age"),
        Rule(name="young_home", rule="age < 25 and purpose != 'car'", reason="Young applicant"),
        Rule(name="odd_age", rule="not age >= 0", reason="Age not a number of years"),
    ],
}
numbers = st.one_of(
    st.none(),
    st.just(math.nan),
    st.sampled_from([0.0, 17.999, 18.0, 40000.0, 40000.001, -1e300, 1e300]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
records = st.fixed_dictionaries(
    {
        "age": numbers,
        "loan_amount": numbers,
        "purpose": st.one_of(st.none(), st.sampled_from(PURPOSES)),
        "score": st.floats(min_value=0.0, max_value=1.0),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(records, min_size=1, max_size=20),
    threshold=st.floats(min_value=0.0, max_value=1.0),
    band=st.sampled_from([0.0, 0.02, 0.1]),
    near=st.booleans(),
)
def test_decide_one_agrees_with_decide_on_every_row(
    rows: list[dict], threshold: float, band: float, near: bool
) -> None:
    """The record form and the batch form give the same decision, decided_by and reasons."""
    cfg = PolicyConfig(uncertainty_band=band, **PARITY_POLICY_RULES)
    if near:  # scores on and around the threshold and the band's edges
        edges = [threshold, threshold - band, threshold + band, np.nextafter(threshold, 0)]
        rows = [r | {"score": float(np.clip(edges[i % 4], 0, 1))} for i, r in enumerate(rows)]
    frame = pd.DataFrame(
        {
            "age": [math.nan if r["age"] is None else r["age"] for r in rows],
            "loan_amount": [
                math.nan if r["loan_amount"] is None else r["loan_amount"] for r in rows
            ],
            "purpose": pd.Series([r["purpose"] for r in rows], dtype="str"),
        }
    )
    score = np.array([r["score"] for r in rows])
    batch = decide(score, frame, threshold, cfg)
    compiled = compile_rules(cfg)
    for i, row in enumerate(rows):
        values = {k: v for k, v in row.items() if k != "score"}
        one = decide_one(row["score"], values, threshold, cfg, compiled)
        assert one == decide_one(row["score"], values, threshold, cfg)  # compiles on its own
        assert list(one) == batch.iloc[i].tolist(), (row, threshold, band)
