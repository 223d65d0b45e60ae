"""The promotion gate on real bundles in a real MLflow registry, and rolling back.

A challenger trained on shuffled labels is registered next to the champion and the real gate
stage judges it: it must never become champion. A challenger as good as the champion passes,
is promoted, and `loopline rollback` moves the alias back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import BIN, Repo

pytestmark = pytest.mark.slow

REGISTER = """
import json, os, sys
from pathlib import Path
import mlflow
from loopline import tracking
mlflow.set_tracking_uri(os.environ.get('STORE', 'sqlite:///mlflow.db'))
tracking.start_experiment('loopline-loans')
folder = Path(sys.argv[1])
bundle_id = json.loads((folder / 'bundle.json').read_text())['bundle_id']
with mlflow.start_run() as run:
    version = tracking.log_bundle(folder, name='loopline-loans', example=None, bundle_id=bundle_id)
print(json.dumps({'run_id': run.info.run_id, 'registered_model': 'loopline-loans',
                  'version': version}))
"""

CHAMPION = """
import mlflow
from loopline.io import registry
mlflow.set_tracking_uri('sqlite:///mlflow.db')
print(registry.champion_version('loopline-loans'))
"""


def _python(repo: Repo, code: str, *args: str, store: str | None = None) -> str:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": "src"}
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        env=env | ({"STORE": store} if store else {}),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _shuffled_label_bundle(repo: Repo, target: Path) -> Path:
    """The repo's bundle with its model retrained on shuffled labels (same features, policy)."""
    import xgboost as xgb

    from loopline import bundle, train
    from loopline.features import FeatureSpec, model_frame
    from loopline.io import file_sha256, read_json, write_json

    shutil.copytree(repo.path / "models/loans", target)
    spec = FeatureSpec.from_json(read_json(target / "features.json"))
    frame = pd.read_parquet(repo.path / "data/processed/loans/features.parquet")
    rows = frame[frame["split"] == "train"]
    y = np.random.default_rng(0).permutation(rows["_target"].to_numpy())
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "nthread": 2},
        train.matrix(model_frame(rows, spec), y),
        num_boost_round=60,
    )
    booster.save_model(target / "model.ubj")
    meta = read_json(target / "bundle.json")
    meta["files"]["model.ubj"] = file_sha256(target / "model.ubj")
    meta["bundle_id"] = "shuffled0labels0"
    write_json(meta, target / "bundle.json")
    assert bundle.Bundle.load(target).bundle_id == "shuffled0labels0"
    return target


def _gate(repo: Repo, model_dir: Path, reports: Path, record: str) -> dict:
    reports.mkdir(parents=True)
    (reports / "mlflow_run.json").write_text(record)
    repo.run(
        "python",
        "-m",
        "loopline.stages.gate",
        f"paths.model_dir={model_dir}",
        f"paths.reports={reports}",
    )
    return json.loads((reports / "gate.json").read_text())


def test_a_challenger_trained_on_shuffled_labels_is_never_promoted(
    tiny_repo: Repo, tmp_path: Path
) -> None:
    before = _python(tiny_repo, CHAMPION)
    bad = _shuffled_label_bundle(tiny_repo, tmp_path / "bad")
    record = _python(tiny_repo, REGISTER, str(bad))
    verdict = _gate(tiny_repo, bad, tmp_path / "reports", record)
    assert verdict["passed"] is False
    assert verdict["action"].startswith("rejected")
    assert verdict["challenger_metrics"]["roc_auc"] < 0.6 < verdict["champion_metrics"]["roc_auc"]
    assert any("AUC" in reason for reason in verdict["reasons"])
    assert _python(tiny_repo, CHAMPION) == before  # the champion did not move
    tags = _python(
        tiny_repo,
        "import mlflow; from mlflow import MlflowClient; "
        "mlflow.set_tracking_uri('sqlite:///mlflow.db'); import json, sys; "
        "v = MlflowClient().get_model_version('loopline-loans', sys.argv[1]); "
        "print(json.dumps(v.tags))",
        json.loads(record)["version"],
    )
    assert json.loads(tags)["gate"] == "failed"


def test_an_equal_challenger_is_promoted_and_rollback_restores_the_champion(
    tiny_repo: Repo, tmp_path: Path
) -> None:
    before = _python(tiny_repo, CHAMPION)
    same = tmp_path / "same"
    shutil.copytree(tiny_repo.path / "models/loans", same)
    record = _python(tiny_repo, REGISTER, str(same))
    version = json.loads(record)["version"]
    verdict = _gate(tiny_repo, same, tmp_path / "reports", record)
    assert verdict["passed"] is True, verdict["reasons"]
    assert verdict["champion_after"] == version != before
    assert _python(tiny_repo, CHAMPION) == version
    result = tiny_repo.run("loopline", "rollback")
    assert f"champion is now version {before} (was {version})" in result.stdout
    assert _python(tiny_repo, CHAMPION) == before
    again = tiny_repo.run("loopline", "rollback", check=False)
    assert again.returncode == 2
    assert "nothing to roll back to" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_first_model_that_fails_an_absolute_check_does_not_become_champion(
    tiny_repo: Repo, tmp_path: Path
) -> None:
    """With no champion yet, the gate judges the absolute checks alone; a failure serves nothing
    and says how to accept the model by hand."""
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    bad = _shuffled_label_bundle(tiny_repo, tmp_path / "bad")
    record = _python(tiny_repo, REGISTER, str(bad), store=store)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "mlflow_run.json").write_text(record)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_ROOT", None)
    result = subprocess.run(
        [
            *(str(BIN / "python"), "-m", "loopline.stages.gate"),
            *(f"paths.model_dir={bad}", f"paths.reports={reports}"),
        ],
        cwd=tiny_repo.path,
        env=env | {"MLFLOW_TRACKING_URI": store},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads((reports / "gate.json").read_text())
    assert verdict["champion_before"] is None and verdict["champion_after"] is None
    assert verdict["action"].startswith("rejected: the first model")
    assert "loopline promote 1" in verdict["action"]
    assert any(reason.startswith("AUC") and " < " in reason for reason in verdict["reasons"])
    served = subprocess.run(
        [str(BIN / "loopline"), "serve", "--port", "1"],
        cwd=tiny_repo.path,
        env=env | {"MLFLOW_TRACKING_URI": store},
        capture_output=True,
        text=True,
    )
    assert served.returncode == 2
    assert "did not pass the gate" in served.stderr and "loopline promote 1" in served.stderr
