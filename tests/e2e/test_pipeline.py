"""End-to-end: a real `dvc repro` of the tiny configuration in a temporary copy of the repo.

The tests in this module share one repository and run in order: full run, no-op rerun,
parameter change, stale params, new batch, experiments.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import Repo, ran_stages

pytestmark = pytest.mark.slow

ALL_STAGES = {
    "check_params",
    "simulate",
    "ingest",
    "validate",
    "split",
    "preprocess",
    "features",
    "train",
    "evaluate",
    "policy",
    "bundle",
    "track",
    "gate",
    "monitor",
}


def _json(repo: Repo, path: str) -> dict:
    return json.loads((repo.path / path).read_text())


def test_full_run_produces_every_artifact(tiny_repo: Repo) -> None:
    assert ran_stages(tiny_repo.first_run.stdout) == ALL_STAGES  # type: ignore[attr-defined]
    for path in (
        "models/loans/model.ubj",
        "models/loans/preprocess.json",
        "models/loans/features.json",
        "models/loans/baseline.json",
        "models/loans/policy.json",
        "reports/loans/review_queue.csv",
    ):
        assert (tiny_repo.path / path).stat().st_size > 0, path
    metrics = _json(tiny_repo, "reports/loans/evaluation.json")
    assert metrics["test"]["xgboost"]["roc_auc"] > 0.65
    assert metrics["test"]["baseline"]["roc_auc"] > 0.55
    assert set(metrics["slices"]) == {"region", "channel", "age_band"}
    headline = _json(tiny_repo, "reports/loans/metrics.json")  # what `dvc metrics show` prints
    assert headline["test"]["xgboost"]["roc_auc"] == metrics["test"]["xgboost"]["roc_auc"]
    shown = tiny_repo.run("dvc", "metrics", "show").stdout
    assert max(len(line) for line in shown.splitlines()) <= 160, shown
    policy = _json(tiny_repo, "reports/loans/policy.json")
    assert 0 < policy["threshold"] < 1
    assert json.loads((tiny_repo.path / "models/loans/policy.json").read_text())["model_sha256"]


def test_rows_are_conserved_through_validation(tiny_repo: Repo) -> None:
    report = _json(tiny_repo, "reports/loans/validation.json")
    apps = report["applications"]
    assert apps["rows_in"] == apps["accepted"] + apps["quarantined"]
    assert apps["quarantined"] > 0, "the simulator injects defects; some must be quarantined"
    for batch in report["batches"].values():
        assert batch["rows_in"] == batch["accepted"] + batch["quarantined"]
    quarantine = pd.concat(
        pd.read_parquet(p)
        for p in (tiny_repo.path / "data/interim/loans/quarantine").rglob("*.parquet")
    )
    assert (
        len(quarantine[quarantine["_source_file"].str.startswith("simulated/applications")])
        == apps["quarantined"]
    )
    assert quarantine["_reasons"].str.len().gt(0).all()
    raw_rows = 0
    for path in (tiny_repo.path / "data/raw/loans/simulated/applications").iterdir():
        if path.suffix == ".parquet":
            raw_rows += len(pd.read_parquet(path))
        elif path.suffix == ".csv":
            raw_rows += len(pd.read_csv(path, dtype=str))
        else:
            raw_rows += sum(1 for line in path.read_text().splitlines() if line.strip())
    assert raw_rows == apps["rows_in"]


def test_mlflow_run_records_params_metrics_and_lineage(tiny_repo: Repo) -> None:
    run_id = _json(tiny_repo, "reports/loans/mlflow_run.json")["run_id"]
    db = sqlite3.connect(tiny_repo.path / "mlflow.db")
    tags = dict(db.execute("select key, value from tags where run_uuid=?", (run_id,)))
    params = dict(db.execute("select key, value from params where run_uuid=?", (run_id,)))
    metrics = dict(db.execute("select key, value from metrics where run_uuid=?", (run_id,)))
    head = tiny_repo.run("git", "rev-parse", "HEAD").stdout.strip()
    assert tags["mlflow.source.git.commit"] == head
    assert params["model.max_depth"] == "5"
    assert metrics["test.xgboost.roc_auc"] > 0.65
    artifacts = tiny_repo.path / "mlartifacts"
    lineage = next(artifacts.rglob("dvc_hashes.json"))
    hashes = json.loads(lineage.read_text())
    assert any(key.startswith("ingest:data/raw/loans") for key in hashes)
    assert next(artifacts.rglob("bundle/model.ubj")).stat().st_size > 0


def test_second_repro_reproduces_nothing(tiny_repo: Repo) -> None:
    result = tiny_repo.repro()
    assert ran_stages(result.stdout) == set()
    assert "up to date" in tiny_repo.run("dvc", "status").stdout


def test_stale_params_stop_repro_with_a_message(tiny_repo: Repo) -> None:
    model_conf = tiny_repo.path / "conf/model/xgboost.yaml"
    original = model_conf.read_text()
    model_conf.write_text(original.replace("max_depth: 5", "max_depth: 3"))
    result = tiny_repo.repro(check=False)
    assert result.returncode != 0
    assert "params.yaml is out of step with conf/" in result.stderr + result.stdout
    assert "loopline params" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_model_param_change_reruns_only_training_and_after(tiny_repo: Repo) -> None:
    # continues from the previous test: conf/ says max_depth 3, params.yaml is recomposed
    tiny_repo.run("loopline", "params")
    assert yaml.safe_load((tiny_repo.path / "params.yaml").read_text())["model"]["max_depth"] == 3
    result = tiny_repo.repro()
    assert ran_stages(result.stdout) == {
        "check_params",
        "train",
        "evaluate",
        "policy",
        "bundle",
        "track",
        "gate",
        "monitor",
    }
    tiny_repo.commit("max_depth 3")


def test_new_batch_is_ingested_and_validated_alone(tiny_repo: Repo) -> None:
    raw = tiny_repo.path / "data/raw/loans/simulated/applications"
    batch = sorted(raw.glob("*_api.jsonl"))[-1]
    records = [json.loads(line) for line in batch.read_text().splitlines()[:25]]
    for i, record in enumerate(records):
        record["application_id"] = f"NEW{i:05d}"
    new = raw / batch.name.replace("_api", "_late_api")
    new.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    before = _json(tiny_repo, "data/interim/loans/validated/_manifest.json")["partitions"]
    ingest = tiny_repo.run("python", "-m", "loopline.stages.ingest")
    assert f"1 new or changed, {len(before)} current" in ingest.stderr
    tiny_repo.run("python", "-m", "loopline.stages.validate")
    after = _json(tiny_repo, "data/interim/loans/validated/_manifest.json")["partitions"]
    key = f"simulated/applications/{new.name}"
    assert after[key]["report"]["rows_in"] == 25
    assert {k: v for k, v in after.items() if k != key} == before  # earlier batches untouched
    new.unlink()  # back to the state dvc.lock describes
    tiny_repo.repro()
    assert "up to date" in tiny_repo.run("dvc", "status").stdout


def test_a_stage_run_by_hand_takes_hydra_overrides(tiny_repo: Repo) -> None:
    tiny_repo.run("python", "-m", "loopline.stages.evaluate", "evaluate.calibration_bins=4")
    calibration = pd.read_csv(tiny_repo.path / "reports/loans/plots/calibration.csv")
    assert len(calibration) <= 4
    assert not (tiny_repo.path / "outputs").exists(), "no stray Hydra output folders"
    assert not list(tiny_repo.path.glob("**/.hydra"))


def test_quarantine_ceiling_stops_validation_with_a_message(tiny_repo: Repo) -> None:
    result = tiny_repo.run(
        "python",
        "-m",
        "loopline.stages.validate",
        "validate.max_quarantine_rate=0.001",
        check=False,
    )
    assert result.returncode == 1
    assert "above the ceiling validate.max_quarantine_rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_census_dataset_runs_through_the_same_stages(repo_factory) -> None:
    repo: Repo = repo_factory(experiment="tiny", dataset="census")
    repo.run("loopline", "simulate", "--dataset", "census", "--rows", "3000")
    result = repo.repro()
    assert {
        "ingest",
        "validate",
        "split",
        "preprocess",
        "features",
        "train",
        "evaluate",
        "policy",
        "track",
    } <= ran_stages(result.stdout)
    validation = _json(repo, "reports/census/validation.json")["applications"]
    assert validation["rows_in"] == 3000 == validation["accepted"] + validation["quarantined"]
    metrics = _json(repo, "reports/census/metrics.json")
    assert metrics["test"]["xgboost"]["roc_auc"] > 0.7
    split = _json(repo, "reports/census/split.json")["splits"]
    rates = [split[name]["positive_rate"] for name in ("train", "valid", "test")]
    assert max(rates) - min(rates) < 0.03, "stratified split keeps the positive rate"
    features = json.loads(Path(repo.path / "models/census/features.json").read_text())
    assert "capital_net" in features["feature_names"]
    assert "prior_apps_30d" not in features["feature_names"]


def test_a_copied_workspace_names_only_itself(tiny_repo: Repo, tiny_template) -> None:
    """The suite copies one built workspace to each module (conftest.copy_workspace): the
    copy's MLflow store and model files must point into the copy, never at the template."""
    template = str(tiny_template[0]).encode()
    for file in tiny_repo.path.rglob("*"):
        if file.is_file() and ".git" not in file.parts:
            assert template not in file.read_bytes(), file
    run_id = _json(tiny_repo, "reports/loans/mlflow_run.json")["run_id"]
    db = sqlite3.connect(tiny_repo.path / "mlflow.db")
    [(uri,)] = db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,))
    assert uri.startswith((tiny_repo.path / "mlartifacts").as_uri())
