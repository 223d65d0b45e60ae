"""The typed artifacts round-trip to the very bytes their files hold: preprocess.json
(`PreprocessState`), features.json (`FeatureSpec`) and gate.json's verdict (`GateVerdict`).

The bundle id hashes preprocess.json and features.json, so their text must not change when a
document is read into its dataclass and written back. The documents below have the real files'
shape (as the pipeline writes them for the loans dataset): floats with many digits, None bounds,
__other__ last, inputs in the model's order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline.features import FeatureSpec, feature_spec
from loopline.gate import Check, GateVerdict
from loopline.io import write_json
from loopline.io.artifacts import ModelDir
from loopline.preprocess import OTHER, NumericRule, PreprocessState

PREPROCESS = {
    "version": 1,
    "rows": 1397,
    "numeric": {
        "age": {"fill": 39.0, "low": 16.0, "high": 86.0},
        "annual_income": {"fill": 50378.89, "low": 7458.1786, "high": 339678.2384800005},
        "employment_years": {"fill": 4.8, "low": 0.0, "high": 42.590799999999994},
        "credit_utilization": {"fill": 0.4285, "low": 0.0, "high": 1.1086410000000002},
        "balance": {"fill": None, "low": None, "high": None},  # all missing in train
        "debt_to_income": {"fill": None, "low": -0.0, "high": 1e300},  # impute "none"
    },
    "categorical": {
        "home_ownership": {"levels": ["mortgage", "other", "own", "rent", OTHER]},
        "region": {"levels": ["central", "east", "north", "south", "west", OTHER]},
        "rare": {"levels": [OTHER]},
    },
}

FEATURES = {
    "feature_names": [
        "age",
        "annual_income",
        "home_ownership",
        "region",
        "loan_to_income",
        "hour",
        "prior_apps_30d",
    ],
    "categorical": {
        "home_ownership": ["mortgage", "other", "own", "rent", OTHER],
        "region": ["central", "east", "north", "south", "west", OTHER],
    },
    "engineered": ["loan_to_income", "hour", "prior_apps_30d"],
}

GATE = {
    "passed": False,
    "checks": [
        {"check": "min_auc", "passed": True, "detail": "AUC 0.7497 >= 0.65"},
        {
            "check": "max_ece",
            "passed": True,
            "detail": "ECE 0.0286 beyond chance (0.0283): 0.0003 <= 0.05",
        },
        {
            "check": "auc_gain",
            "passed": False,
            "detail": "AUC 0.7497 vs champion 0.7600: gain -0.0103 < 0.0",
        },
        {"check": "slices", "passed": True, "detail": "no slice large enough to compare"},
    ],
    "reasons": ["AUC 0.7497 vs champion 0.7600: gain -0.0103 < 0.0"],
}


def _text(doc: dict) -> bytes:
    """A document as write_json writes it (the bytes the bundle id hashes)."""
    return (json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n").encode()


def test_preprocess_state_round_trips_to_the_same_bytes() -> None:
    state = PreprocessState.from_json(PREPROCESS)
    assert state.numeric["annual_income"] == NumericRule(50378.89, 7458.1786, 339678.2384800005)
    assert state.categorical["rare"] == (OTHER,)
    assert state.to_json() == PREPROCESS
    assert _text(state.to_json()) == _text(PREPROCESS)
    assert PreprocessState.from_json(json.loads(_text(state.to_json()))) == state


def test_feature_spec_round_trips_to_the_same_bytes() -> None:
    spec = FeatureSpec.from_json(FEATURES)
    assert spec.numeric == ["age", "annual_income", "loan_to_income", "hour", "prior_apps_30d"]
    assert spec.to_json() == FEATURES
    assert _text(spec.to_json()) == _text(FEATURES)
    built = feature_spec(
        numeric=["age", "annual_income"],
        categorical=PreprocessState.from_json(PREPROCESS).categorical,  # as the stage does
        engineered=FEATURES["engineered"],
    )
    assert built.categorical["region"] == spec.categorical["region"]
    assert built.feature_names[:4] == ("age", "annual_income", "home_ownership", "region")


def test_gate_verdict_round_trips_to_the_same_dict() -> None:
    verdict = GateVerdict.from_dict(GATE)
    assert not verdict.passed and verdict.reasons == GATE["reasons"]
    assert verdict.checks[-1] == Check("slices", True, "no slice large enough to compare")
    assert verdict.to_dict() == GATE
    assert _text(verdict.to_dict()) == _text(GATE)
    assert GateVerdict(()).to_dict() == {"passed": True, "checks": [], "reasons": []}


@pytest.mark.parametrize("kind", ["state", "spec"])
def test_model_dir_writes_the_documents_byte_for_byte(tmp_path: Path, kind: str) -> None:
    folder = ModelDir(tmp_path)
    doc, cls, key = {
        "state": (PREPROCESS, PreprocessState, "preprocess"),
        "spec": (FEATURES, FeatureSpec, "features"),
    }[kind]
    original = write_json(doc, tmp_path / "original.json").read_bytes()
    typed = cls.from_json(doc)
    written = (folder.write_state if kind == "state" else folder.write_spec)(typed)
    assert written == folder.path(key)
    assert written.read_bytes() == original
    assert (folder.read_state if kind == "state" else folder.read_spec)() == typed
