"""Stage 10, the promotion gate: a challenger replaces the champion only when it is better.

Both models score the same rows: the newest labelled applications (the pipeline's out-of-time
test split), through their whole bundles (each its own preprocessing, features, model and
policy) and with the same per-customer history, so only the models differ. The challenger
passes when every check holds:

* absolute floors: ROC AUC >= `min_auc`, expected calibration error <= `max_ece`;
* it beats the champion: AUC gain >= `min_auc_gain`, and the realised profit of its own
  decisions falls by no more than `max_profit_loss` (a share of the champion's |profit|);
* no slice with at least `min_slice_rows` rows loses more than `slice_tolerance` AUC beyond
  `slice_z` standard errors of the difference (small slices are noisy; a real loss shows).

The verdict is a `GateVerdict` (its `to_dict` goes into reports/gate.json with the evidence, and
into the challenger's MLflow run); moving the `champion` alias is the caller's act.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopline import evaluate, policy
from loopline.bundle import Bundle
from loopline.config import GateConfig, SliceConfig


def assess(
    bundle: Bundle,
    frame: pd.DataFrame,
    y: np.ndarray,
    *,
    slices: list[SliceConfig],
    min_slice_rows: int,
    profit_good: float,
    loss_default: float,
) -> dict[str, Any]:
    """Score canonical rows with a whole bundle; return its metrics on them."""
    scored = bundle.score_frame(frame, explain=False)  # reason codes play no part here
    score = scored["score"].to_numpy(dtype="float64")
    amount_column = bundle.dataset.amount_column
    amount = (
        frame[amount_column].to_numpy(dtype="float64", na_value=0.0)
        if amount_column
        else np.ones(len(frame))
    )
    metrics = evaluate.binary_metrics(y, score)
    approved = scored["decision"].to_numpy() == policy.APPROVE
    metrics["profit"] = policy.realised_profit(approved, y, amount, profit_good, loss_default)
    metrics["approval_rate"] = float(np.mean(approved))
    metrics["slices"] = evaluate.slice_metrics(frame, y, score, slices, min_slice_rows)
    return metrics


def with_history(bundle: Bundle, other: Bundle) -> Bundle:
    """Return `bundle` answering per-customer history from `other`'s (newer) history."""
    return dataclasses.replace(bundle, history_rows=other.history_rows, history=other.history)


@dataclass(frozen=True)
class Check:
    """One check of the gate: its name, whether it held, and the comparison as written."""

    check: str  # min_auc, max_ece, auc_gain, profit, slices
    passed: bool
    detail: str  # "ECE 0.0830 > 0.05": the figure, the comparison the way it came out, the limit

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "detail": self.detail}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Check:
        return cls(check=doc["check"], passed=doc["passed"], detail=doc["detail"])


@dataclass(frozen=True)
class GateVerdict:
    """The gate's verdict: every check made; it passes when all of them hold."""

    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        """The failed checks' details."""
        return [c.detail for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """The verdict as reports/gate.json holds it: passed, checks, reasons."""
        return {
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "reasons": self.reasons,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GateVerdict:
        """The verdict in a gate.json (its other keys, the evidence, are left aside)."""
        return cls(tuple(Check.from_dict(c) for c in doc["checks"]))


def decide(
    challenger: dict[str, Any], champion: dict[str, Any] | None, cfg: GateConfig
) -> GateVerdict:
    """Return the verdict: passed, and each check with its figures."""
    checks: list[Check] = []
    negate = {">=": "<", "<=": ">"}

    def check(name: str, ok: bool, figure: str, op: str, limit: str, note: str = "") -> None:
        # the comparison is written the way it came out: "ECE 0.0830 > 0.05" for a failure
        detail = f"{figure} {op if ok else negate[op]} {limit}{note}"
        checks.append(Check(name, bool(ok), detail))

    auc, ece = challenger.get("roc_auc"), challenger.get("ece")
    check(
        "min_auc", auc is not None and auc >= cfg.min_auc, f"AUC {_f(auc)}", ">=", f"{cfg.min_auc}"
    )
    # calibration is judged beyond what chance alone gives a calibrated model on these rows
    chance = challenger.get("ece_by_chance") or 0.0
    excess = None if ece is None else max(ece - chance, 0.0)
    check(
        "max_ece",
        excess is not None and excess <= cfg.max_ece,
        f"ECE {_f(ece)} beyond chance ({_f(chance)}): {_f(excess)}" if chance else f"ECE {_f(ece)}",
        "<=",
        f"{cfg.max_ece}",
    )
    if champion is not None:
        base = champion.get("roc_auc")
        gain = None if auc is None or base is None else auc - base
        check(
            "auc_gain",
            gain is not None and gain >= cfg.min_auc_gain,
            f"AUC {_f(auc)} vs champion {_f(base)}: gain {_f(gain)}",
            ">=",
            f"{cfg.min_auc_gain}",
        )
        floor = champion["profit"] - cfg.max_profit_loss * abs(champion["profit"])
        check(
            "profit",
            challenger["profit"] >= floor,
            f"profit {challenger['profit']:,.0f}",
            ">=",
            f"floor {floor:,.0f}",
            f" (champion {champion['profit']:,.0f}, max loss {cfg.max_profit_loss:.0%})",
        )
        worst = _worst_slice(challenger["slices"], champion["slices"], cfg.slice_z)
        if worst is None:
            checks.append(Check("slices", True, "no slice large enough to compare"))
        else:
            name, drop = worst
            check(
                "slices",
                drop <= cfg.slice_tolerance,
                f"largest slice AUC loss beyond noise {drop:.4f} ({name})",
                "<=",
                f"{cfg.slice_tolerance}",
            )
    return GateVerdict(tuple(checks))


def action(verdict: GateVerdict, *, challenger: str, champion: str | None, cfg: GateConfig) -> str:
    """Return what happens to the challenger: promoted, passed but kept back, or rejected.

    A first model (no champion yet) is judged on the absolute checks alone; when it fails one,
    nothing is promoted and nothing serves until a model passes or someone promotes by hand
    (`loopline promote VERSION`, a deliberate decision the registry records).
    """
    if champion == challenger:
        return f"champion already: version {challenger}"
    if verdict.passed and cfg.auto_promote:
        return f"promoted: version {challenger} replaces {champion or 'no champion (first model)'}"
    if verdict.passed:
        return f"passed, not promoted (gate.auto_promote is false): `loopline promote {challenger}`"
    if champion is None:
        return (
            f"rejected: the first model (version {challenger}) failed an absolute check, so "
            f"nothing serves; fix the data or config and `dvc repro`, or accept it by hand "
            f"with `loopline promote {challenger}`"
        )
    return f"rejected: version {champion} stays champion"


def _worst_slice(new: dict, old: dict, z: float = 0.0) -> tuple[str, float] | None:
    """Return the slice group whose AUC fell the most beyond `z` standard errors of the
    difference (Hanley and McNeil), and by how much it fell."""
    from loopline.monitor import auc_standard_error

    worst: tuple[str, float] | None = None
    for name, groups in new.items():
        for group, stats in groups.items():
            before = old.get(name, {}).get(group, {}).get("roc_auc")
            after = stats.get("roc_auc")
            if before is None or after is None:
                continue
            rows, rate = stats.get("rows") or 0, stats.get("positive_rate") or 0.0
            positives = round(rows * rate)
            se = [
                auc_standard_error(a, positives, rows - positives) or 0.0 for a in (before, after)
            ]
            noise = z * (se[0] ** 2 + se[1] ** 2) ** 0.5
            drop = before - after - noise
            if worst is None or drop > worst[1]:
                worst = (f"{name}={group}", drop)
    return worst


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
