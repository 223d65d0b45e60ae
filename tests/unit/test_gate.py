"""The promotion gate's decision: absolute floors, margin over the champion, slices, profit."""

from __future__ import annotations

from loopline import gate
from loopline.config import GateConfig


def metrics(auc=0.80, ece=0.01, profit=1000.0, slices=None) -> dict:
    return {
        "roc_auc": auc,
        "ece": ece,
        "profit": profit,
        "slices": slices or {"region": {"north": {"roc_auc": auc}, "south": {"roc_auc": auc}}},
    }


def failed(verdict: gate.GateVerdict) -> set[str]:
    return {c.check for c in verdict.checks if not c.passed}


def test_a_better_challenger_passes_every_check():
    verdict = gate.decide(metrics(auc=0.82, profit=1100), metrics(), GateConfig())
    assert verdict.passed and verdict.reasons == []
    assert {c.check for c in verdict.checks} == {
        "min_auc",
        "max_ece",
        "auc_gain",
        "profit",
        "slices",
    }


def test_a_worse_challenger_fails_on_the_margin():
    verdict = gate.decide(metrics(auc=0.78), metrics(auc=0.80), GateConfig())
    assert not verdict.passed and failed(verdict) == {"auc_gain"}
    assert "vs champion 0.8000" in verdict.reasons[0]


def test_the_margin_is_configurable():
    cfg = GateConfig(min_auc_gain=0.01)
    assert not gate.decide(metrics(auc=0.805), metrics(auc=0.80), cfg).passed
    assert gate.decide(metrics(auc=0.811), metrics(auc=0.80), cfg).passed


def test_absolute_floors_apply_even_without_a_champion():
    verdict = gate.decide(metrics(auc=0.55, ece=0.2), None, GateConfig())
    assert failed(verdict) == {"min_auc", "max_ece"}


def test_a_slice_that_gets_worse_blocks_promotion():
    def slices(north: float, south: float, rows: int) -> dict:
        group = {"rows": rows, "positive_rate": 0.1}
        return {
            "region": {"north": group | {"roc_auc": north}, "south": group | {"roc_auc": south}}
        }

    champion = metrics(slices=slices(0.80, 0.80, 3000))
    challenger = metrics(auc=0.83, slices=slices(0.88, 0.70, 3000))
    verdict = gate.decide(challenger, champion, GateConfig(slice_tolerance=0.03))
    assert failed(verdict) == {"slices"}
    assert "region=south" in verdict.reasons[0]
    # the same loss on 150 rows (15 defaults) is within noise: not held against it
    small = gate.decide(
        metrics(auc=0.83, slices=slices(0.88, 0.70, 150)),
        metrics(slices=slices(0.80, 0.80, 150)),
        GateConfig(slice_tolerance=0.03),
    )
    assert "slices" not in failed(small)


def test_slices_too_small_to_judge_are_skipped():
    small = {"region": {"north": {"roc_auc": None}}}
    verdict = gate.decide(metrics(auc=0.81, slices=small), metrics(slices=small), GateConfig())
    assert verdict.passed


def test_losing_profit_beyond_the_tolerance_blocks_promotion():
    verdict = gate.decide(metrics(auc=0.81, profit=900), metrics(profit=1000), GateConfig())
    assert failed(verdict) == {"profit"}


def test_messages_say_how_each_check_came_out():
    """A failed check reads as a failure ("ECE 0.0830 > 0.05"), never as its pass condition."""
    verdict = gate.decide(metrics(ece=0.083, auc=0.60), None, GateConfig())
    assert not verdict.passed
    assert "ECE 0.0830 > 0.05" in verdict.reasons
    assert "AUC 0.6000 < 0.65" in verdict.reasons
    ok = gate.decide(metrics(), None, GateConfig())
    assert [c.detail for c in ok.checks] == ["AUC 0.8000 >= 0.65", "ECE 0.0100 <= 0.05"]


def test_what_happens_to_a_first_model_and_to_a_challenger():
    cfg = GateConfig()
    passed = gate.GateVerdict((gate.Check("min_auc", True, "AUC 0.8000 >= 0.65"),))
    failed_verdict = gate.GateVerdict((gate.Check("min_auc", False, "AUC 0.6000 < 0.65"),))
    assert gate.action(passed, challenger="1", champion=None, cfg=cfg).startswith("promoted")
    first = gate.action(failed_verdict, challenger="1", champion=None, cfg=cfg)
    assert first.startswith("rejected") and "loopline promote 1" in first
    assert gate.action(failed_verdict, challenger="3", champion="2", cfg=cfg) == (
        "rejected: version 2 stays champion"
    )
    assert gate.action(passed, challenger="2", champion="2", cfg=cfg).startswith("champion already")
    manual = GateConfig(auto_promote=False)
    assert "not promoted" in gate.action(passed, challenger="4", champion="2", cfg=manual)


def test_ece_is_judged_beyond_chance():
    """On a few hundred rows a calibrated model shows ECE ~0.03 by chance: that is no failure."""
    noisy = metrics(ece=0.0506) | {"ece_by_chance": 0.031}
    verdict = gate.decide(noisy, None, GateConfig())
    assert verdict.passed, verdict.reasons
    assert "ECE 0.0506 beyond chance (0.0310): 0.0196 <= 0.05" in verdict.checks[1].detail
    bad = metrics(ece=0.12) | {"ece_by_chance": 0.031}
    assert not gate.decide(bad, None, GateConfig()).passed
