"""Scores to business decisions: profit curve, threshold, rules, reason codes, review queue.

A score is P(default). The lender approves below a threshold chosen on the profit curve; hard
decline rules and referral rules (expressions in config, compiled by `loopline.expressions`)
override the score, and scores close to the threshold go to manual review. The decision policy is
saved as a JSON document tied to the model it was fitted for, and loaded back for serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loopline.config import PolicyConfig, Rule
from loopline.evaluate import json_safe, validate_scores
from loopline.expressions import Expression, ExpressionError, compile_expression

APPROVE, DECLINE, REVIEW = "approve", "decline", "review"
DECISIONS = (APPROVE, DECLINE, REVIEW)
BY_SCORE, BY_BAND = "score", "uncertainty_band"
POLICY_FORMAT_VERSION = 1


def _amounts(amount: np.ndarray | None, rows: int) -> np.ndarray:
    """Amount per row as floats (1 per row when None), raising ValueError on bad values."""
    if amount is None:
        return np.ones(rows)
    a = np.asarray(amount, dtype=float)
    if a.shape != (rows,):
        raise ValueError(f"amount has shape {a.shape} but there are {rows} rows")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError("amount must be finite and non-negative")
    return a


# ---------------------------------------------------------------- money: the one profit rule


def row_profit(
    y: np.ndarray, amount: np.ndarray, profit_good: float, loss_default: float
) -> np.ndarray:
    """Realised profit of each loan were it approved: `amount * profit_good` when repaid,
    `-amount * loss_default` when it defaulted (y == 1). Every realised-profit figure (profit
    curve, policy summary, promotion gate, monitoring, the loop) is a sum of these."""
    return np.where(y == 1, -amount * loss_default, amount * profit_good)


def realised_profit(
    approved: np.ndarray,
    y: np.ndarray,
    amount: np.ndarray,
    profit_good: float,
    loss_default: float,
) -> float:
    """Profit of the approvals that were made (`approved` a boolean mask), given the outcomes."""
    profit = row_profit(y, amount, profit_good=profit_good, loss_default=loss_default)
    return float(profit[approved].sum())


def expected_row_profit(
    score: np.ndarray, amount: np.ndarray, profit_good: float, loss_default: float
) -> np.ndarray:
    """Expected profit of each loan were it approved, with P(default) = score."""
    return amount * (profit_good * (1 - score) - loss_default * score)


def profit_curve(
    y_true: np.ndarray,
    score: np.ndarray,
    amount: np.ndarray | None,
    profit_good: float,
    loss_default: float,
    grid: int,
) -> pd.DataFrame:
    """Return approval rate, profit and bad rate when approving score < t, per threshold t."""
    if grid < 2:
        raise ValueError(f"grid must be at least 2 points, got {grid}")
    y, s = validate_scores(y_true, score)
    a = _amounts(amount, len(y))
    order = np.argsort(s, kind="stable")
    sorted_scores = s[order]
    cum_profit = np.concatenate(
        [
            [0.0],
            np.cumsum(row_profit(y, a, profit_good=profit_good, loss_default=loss_default)[order]),
        ]
    )
    cum_bad = np.concatenate([[0], np.cumsum(y[order])])
    thresholds = np.linspace(0.0, 1.0, num=grid)
    approved = np.searchsorted(sorted_scores, thresholds, side="left")  # rows with score < t
    with np.errstate(divide="ignore", invalid="ignore"):
        bad_rate = np.where(approved > 0, cum_bad[approved] / approved, np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "approval_rate": approved / len(y),
            "profit": cum_profit[approved],
            "bad_rate_approved": bad_rate,
        }
    )


def best_threshold(curve: pd.DataFrame) -> float:
    """Return the threshold of maximum profit on the curve; ties go to the lower threshold."""
    missing = {"threshold", "profit"} - set(curve.columns)
    if missing:
        raise ValueError(f"profit curve lacks column(s) {sorted(missing)}")
    if curve.empty:
        raise ValueError("profit curve is empty")
    ordered = curve.sort_values("threshold", kind="stable")
    profit = ordered["profit"].to_numpy(dtype=float)
    if np.isnan(profit).all():
        raise ValueError("profit curve has no finite profit")
    return float(ordered["threshold"].to_numpy(dtype=float)[int(np.nanargmax(profit))])


def _column_values(column: pd.Series) -> np.ndarray:
    """Numpy values an expression can compare: floats (NaN for missing) or objects."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    return column.to_numpy(dtype=object)


def apply_rules(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """Return a boolean frame, one column per rule, True where it fires (never on missing input)."""
    fired: dict[str, np.ndarray] = {}
    for rule in rules:
        if rule.name in fired:
            raise ValueError(f"two rules are named {rule.name!r}; rule names must be unique")
        try:
            expression = compile_expression(rule.rule)
        except ExpressionError as exc:
            raise ValueError(f"rule {rule.name!r}: {exc}") from exc
        for column in expression.columns:
            if column not in frame.columns:
                raise ValueError(
                    f"rule {rule.name!r} ({rule.rule!r}) needs column {column!r}, "
                    "which the frame lacks"
                )
        data = {c: _column_values(frame[c]) for c in expression.columns}
        result = np.broadcast_to(np.asarray(expression.evaluate(data)), (len(frame),))
        if result.dtype.kind != "b":
            if result.dtype.kind != "O" or not all(isinstance(v, bool | np.bool_) for v in result):
                raise ValueError(
                    f"rule {rule.name!r} ({rule.rule!r}) must be a comparison that gives "
                    f"True/False, it gives {result.dtype}"
                )
            result = result.astype(bool)
        any_missing = np.zeros(len(frame), dtype=bool)
        for column in expression.columns:
            any_missing |= frame[column].isna().to_numpy()
        fired[rule.name] = result & ~any_missing
    return pd.DataFrame(fired, index=frame.index, columns=[r.name for r in rules], dtype=bool)


def _first_fired(fired: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Whether any rule fired per row, and the name of the first one (config order)."""
    matrix = fired.to_numpy(dtype=bool)
    if matrix.shape[1] == 0:
        return np.zeros(len(fired), dtype=bool), np.full(len(fired), "", dtype=object)
    names = np.asarray(fired.columns, dtype=object)
    return matrix.any(axis=1), names[matrix.argmax(axis=1)]


def decide(
    score: np.ndarray, frame: pd.DataFrame, threshold: float, policy: PolicyConfig
) -> pd.DataFrame:
    """Return decision, what decided it and fired rules' reasons per row, by rule precedence:
    a hard decline rule, a referral rule, the uncertainty band, the score against the threshold
    (the first that applies decides). `decide_one` below is the same for one record."""
    s = np.asarray(score, dtype=float)
    if s.shape != (len(frame),):
        raise ValueError(f"score has shape {s.shape} but frame has {len(frame)} rows")
    if not np.isfinite(s).all():
        raise ValueError("score contains NaN or inf")
    hard = apply_rules(frame, policy.hard_declines)
    referral = apply_rules(frame, policy.referrals)
    hard_any, hard_name = _first_fired(hard)
    referral_any, referral_name = _first_fired(referral)
    in_band = np.abs(s - threshold) < policy.uncertainty_band
    above = s >= threshold
    conditions = [hard_any, referral_any, in_band, above]
    decision = np.select(conditions, [DECLINE, REVIEW, REVIEW, DECLINE], default=APPROVE)
    decided_by = np.select(
        conditions, [hard_name, referral_name, BY_BAND, BY_SCORE], default=BY_SCORE
    )
    reasons = np.asarray(
        [r.reason for r in [*policy.hard_declines, *policy.referrals]], dtype=object
    )
    fired = np.hstack([hard.to_numpy(dtype=bool), referral.to_numpy(dtype=bool)])
    rule_reasons: list[list[str]] = [[] for _ in range(len(fired))]
    for i in np.flatnonzero(fired.any(axis=1)):  # few rows fire a rule: only they get reasons
        rule_reasons[i] = reasons[fired[i]].tolist()
    return pd.DataFrame(
        {"decision": decision, "decided_by": decided_by, "rule_reasons": rule_reasons},
        index=frame.index,
    )


def compile_rules(policy: PolicyConfig) -> list[tuple[str, Rule, Expression]]:
    """The policy's rules in precedence order, compiled once for `decide_one`: (the decision
    the rule forces, the rule, its expression), hard declines first, then referrals."""
    return [
        (kind, rule, compile_expression(rule.rule))
        for kind, rules in ((DECLINE, policy.hard_declines), (REVIEW, policy.referrals))
        for rule in rules
    ]


def decide_one(
    score: float,
    values: Mapping[str, Any],
    threshold: float,
    policy: PolicyConfig,
    rules: list[tuple[str, Rule, Expression]] | None = None,
) -> tuple[str, str, list[str]]:
    """`decide` for one record of canonical values, in microseconds: decision, decided_by and
    the fired rules' reasons, by the same precedence (a hard decline rule, a referral rule, the
    uncertainty band, the score against the threshold). `rules` is `compile_rules(policy)`,
    passed by callers that decide many records one at a time. A rule never fires on missing
    input, as in `apply_rules`."""
    fired: dict[str, list[str]] = {DECLINE: [], REVIEW: []}
    reasons = []
    for kind, rule, expression in compile_rules(policy) if rules is None else rules:
        inputs = {c: values.get(c) for c in expression.columns}
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in inputs.values()):
            continue
        data = {
            c: np.array([v], dtype=object if isinstance(v, str) else "float64")
            for c, v in inputs.items()
        }
        if bool(np.asarray(expression.evaluate(data)).reshape(-1)[0]):
            fired[kind].append(rule.name)
            reasons.append(rule.reason)
    if fired[DECLINE]:
        return DECLINE, fired[DECLINE][0], reasons
    if fired[REVIEW]:
        return REVIEW, fired[REVIEW][0], reasons
    if abs(score - threshold) < policy.uncertainty_band:
        return REVIEW, BY_BAND, reasons
    if score >= threshold:
        return DECLINE, BY_SCORE, reasons
    return APPROVE, BY_SCORE, reasons


def reason_codes(
    contributions: np.ndarray, feature_names: list[str], k: int, texts: dict[str, str]
) -> list[list[str]]:
    """Return per row the texts of the k features that raise the score most (positive only)."""
    c = np.asarray(contributions, dtype=float)
    n_features = len(feature_names)
    if c.ndim != 2 or c.shape[1] not in (n_features, n_features + 1):
        raise ValueError(
            f"contributions must be (rows, {n_features}) or (rows, {n_features + 1}) with a "
            f"bias column, got shape {c.shape}"
        )
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    kk = min(k, n_features)
    if kk == 0 or len(c) == 0:
        return [[] for _ in range(len(c))]
    c = np.where(np.isnan(c[:, :n_features]), -np.inf, c[:, :n_features])
    top = np.argsort(-c, axis=1, kind="stable")[:, :kk]  # largest first, ties by position
    positive = np.take_along_axis(c, top, axis=1) > 0
    labels = np.asarray([texts.get(name, name) for name in feature_names], dtype=object)
    names = labels[top]
    codes = names.tolist()
    for i in np.flatnonzero(~positive.all(axis=1)):  # rows with fewer than k raising features
        codes[i] = names[i][positive[i]].tolist()
    return codes


def review_queue(
    frame: pd.DataFrame,
    score: np.ndarray,
    decisions: pd.DataFrame,
    amount: np.ndarray | None,
    loss_default: float,
) -> pd.DataFrame:
    """Return the rows sent to review, largest expected loss first, so reviewers start there."""
    s = np.asarray(score, dtype=float)
    if s.shape != (len(frame),) or len(decisions) != len(frame):
        raise ValueError(
            f"frame ({len(frame)} rows), score ({s.shape}) and decisions ({len(decisions)} rows) "
            "must align"
        )
    a = _amounts(amount, len(frame))
    mask = decisions["decision"].to_numpy() == REVIEW
    queue = frame.loc[mask].assign(
        score=s[mask],
        decided_by=decisions["decided_by"].to_numpy()[mask],
        rule_reasons=decisions["rule_reasons"].to_numpy()[mask],
        expected_loss=s[mask] * a[mask] * loss_default,
    )
    queue = queue.sort_values("expected_loss", ascending=False, kind="stable")
    return queue.assign(rank=np.arange(1, len(queue) + 1))


def policy_summary(
    y_true: np.ndarray,
    score: np.ndarray,
    decisions: pd.DataFrame,
    amount: np.ndarray | None,
    policy: PolicyConfig,
) -> dict[str, float | None]:
    """Return decision rates and realised profit of automatic approvals vs approving everyone."""
    y, s = validate_scores(y_true, score)
    if len(decisions) != len(y):
        raise ValueError(f"decisions has {len(decisions)} rows but y_true has {len(y)}")
    decision = decisions["decision"].to_numpy()
    unknown = set(decision.tolist()) - set(DECISIONS)
    if unknown:
        raise ValueError(f"unknown decision value(s) {sorted(map(str, unknown))}")
    a = _amounts(amount, len(y))
    profit = row_profit(y, a, profit_good=policy.profit_good, loss_default=policy.loss_default)
    approved = decision == APPROVE
    expected = expected_row_profit(
        s, a, profit_good=policy.profit_good, loss_default=policy.loss_default
    )
    summary = {
        "rows": len(y),
        "approval_rate": float(approved.mean()),
        "decline_rate": float((decision == DECLINE).mean()),
        "review_rate": float((decision == REVIEW).mean()),
        "profit_approved": float(profit[approved].sum()),
        "expected_profit_approved": float(expected[approved].sum()),
        "bad_rate_approved": float(y[approved].mean()) if approved.any() else None,
        "profit_approve_all": float(profit.sum()),
    }
    return json_safe(summary)


def _rule_dicts(rules: list[Rule]) -> list[dict[str, str]]:
    return [{"name": r.name, "rule": r.rule, "reason": r.reason} for r in rules]


def policy_document(
    threshold: float, policy: PolicyConfig, model_sha256: str, feature_names: list[str]
) -> dict[str, Any]:
    """Return the JSON-serialisable decision policy, tied to the model it was fitted for."""
    if not np.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    return json_safe(
        {
            "format_version": POLICY_FORMAT_VERSION,
            "threshold": float(threshold),
            "cost_matrix": {
                "profit_good": float(policy.profit_good),
                "loss_default": float(policy.loss_default),
            },
            "threshold_grid": int(policy.threshold_grid),
            "uncertainty_band": float(policy.uncertainty_band),
            "hard_declines": _rule_dicts(policy.hard_declines),
            "referrals": _rule_dicts(policy.referrals),
            "reason_codes": int(policy.reason_codes),
            "contributions": str(policy.contributions),
            "model_sha256": str(model_sha256),
            "feature_names": list(feature_names),
        }
    )


def _rules_from(doc: dict[str, Any], key: str) -> list[Rule]:
    rules = []
    for item in doc[key]:
        rule = Rule(name=str(item["name"]), rule=str(item["rule"]), reason=str(item["reason"]))
        try:
            compile_expression(rule.rule)
        except ExpressionError as exc:
            raise ValueError(f"policy document {key} rule {rule.name!r}: {exc}") from exc
        rules.append(rule)
    return rules


def policy_from_document(doc: dict[str, Any]) -> tuple[float, PolicyConfig]:
    """Return the threshold and PolicyConfig stored in a policy document, validating its shape."""
    required = (
        "format_version",
        "threshold",
        "cost_matrix",
        "threshold_grid",
        "uncertainty_band",
        "hard_declines",
        "referrals",
        "reason_codes",
    )
    missing = [key for key in required if key not in doc]
    if missing:
        raise ValueError(f"policy document lacks key(s) {missing}")
    if doc["format_version"] != POLICY_FORMAT_VERSION:
        raise ValueError(
            f"policy document format_version {doc['format_version']!r} is not supported "
            f"(expected {POLICY_FORMAT_VERSION})"
        )
    threshold = doc["threshold"]
    if threshold is None or not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"policy document threshold must lie in [0, 1], got {threshold!r}")
    try:
        policy = PolicyConfig(
            profit_good=float(doc["cost_matrix"]["profit_good"]),
            loss_default=float(doc["cost_matrix"]["loss_default"]),
            threshold_grid=int(doc["threshold_grid"]),
            uncertainty_band=float(doc["uncertainty_band"]),
            reason_codes=int(doc["reason_codes"]),
            contributions=str(doc.get("contributions", "exact")),
            hard_declines=_rules_from(doc, "hard_declines"),
            referrals=_rules_from(doc, "referrals"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"policy document is malformed: {exc!r}") from exc
    return float(threshold), policy


def explain(
    booster: Any,
    x: pd.DataFrame,
    decisions: pd.DataFrame,
    *,
    k: int,
    texts: dict[str, str],
    approx: bool = False,
) -> list[list[str]]:
    """Return per row the rules that fired, then the top-k model reasons for non-approvals.

    Contributions cost several predictions' worth (TreeSHAP about 15x, approx about 1.5x), so
    only rows that need an explanation (declines and reviews) are explained.
    """
    from loopline.train import matrix

    flagged = (decisions["decision"] != APPROVE).to_numpy()
    out = [list(rules) for rules in decisions["rule_reasons"]]
    if flagged.any():
        contributions = booster.predict(
            matrix(x[flagged]), pred_contribs=True, approx_contribs=approx
        )
        codes = reason_codes(contributions, list(x.columns), k, texts)
        for position, code in zip(np.flatnonzero(flagged).tolist(), codes, strict=True):
            out[position] += code
    return out
