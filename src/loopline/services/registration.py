"""Registration: the bundle recorded in MLflow (params, metrics, plots, figures, reports,
lineage) and registered as a new model version, once per store.

Used by the `track` DVC stage; the gate (services/promotion.py) then judges the version.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import yaml

from loopline import figures, tracking
from loopline.config import Config
from loopline.io import read_json, read_table, registry
from loopline.io.artifacts import ModelDir
from loopline.paths import repo_root

log = logging.getLogger(__name__)


def record_model(cfg: Config) -> dict[str, str]:
    """Record the bundle in MLflow (params, metrics, plots, figures, reports, lineage) and
    register it, once per store: a bundle already recorded (tag `bundle_id`) is reused.
    Return the record the gate judges (run, registered model, version)."""
    import mlflow

    root, reports = repo_root(), Path(cfg.paths.reports)
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    params = yaml.safe_load((root / "params.yaml").read_text())
    experiment_id = tracking.start_experiment(f"loopline-{cfg.dataset.name}")
    for run_id in tracking.end_orphaned_runs(experiment_id):
        log.warning("run %s was left RUNNING by a killed track: marked KILLED", run_id)
    name = registry.model_name(cfg.dataset.name)
    bundle_id = model_dir.read_manifest()["bundle_id"]
    found = tracking.find_tracked(experiment_id, name, bundle_id)
    if found is not None:  # this store has the bundle already: nothing new to record
        log.info("bundle %s is already %s version %s", bundle_id, name, found["version"])
        return _record(cfg.dataset.name, name, found["run_id"], found["version"])
    tags = {
        "mlflow.source.git.commit": tracking.git_commit(root) or "unknown",
        "dataset": cfg.dataset.name,
        "model_sha256": model_dir.model_sha256(),
        "dvc_experiment": os.environ.get("DVC_EXP_NAME", ""),
        tracking.BUNDLE_TAG: bundle_id,
        tracking.OWNER_TAG: tracking.owner(),
    }
    if cfg.sweep:  # one of `loopline sweep`'s runs: filed under the sweep's parent run
        tags |= {"sweep": cfg.sweep, "mlflow.parentRunId": cfg.sweep}
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        mlflow.log_params(tracking.loggable_params(params))
        mlflow.log_artifact(str(root / "params.yaml"))
        metrics = read_json(reports / "evaluation.json")
        metrics["policy"] = read_json(reports / "policy.json")
        metrics["validation"] = read_json(reports / "validation.json").get("applications", {})
        mlflow.log_metrics(tracking.numeric_metrics(metrics))
        mlflow.log_dict(tracking.dvc_hashes(root / "dvc.lock"), "lineage/dvc_hashes.json")
        mlflow.log_artifacts(str(model_dir.root), artifact_path="bundle")
        mlflow.log_artifacts(str(reports / "plots"), artifact_path="plots")
        tables = {p.stem: pd.read_csv(p) for p in sorted((reports / "plots").glob("*.csv"))}
        for title, figure in figures.render(tables).items():
            mlflow.log_figure(figure, f"figures/{title}.png")
        for report in (
            "evaluation.json",
            "policy.json",
            "validation.json",
            "split.json",
            "train.json",
        ):
            if (reports / report).exists():
                mlflow.log_artifact(str(reports / report), artifact_path="reports")
        example = tracking.input_example(
            read_table(cfg.paths.split), [c["name"] for c in _schema_columns(model_dir)]
        )
        version = tracking.log_bundle(
            model_dir.root, name=name, example=example, bundle_id=bundle_id
        )
    log.info("MLflow run %s recorded; %s version %s registered", run.info.run_id, name, version)
    return _record(cfg.dataset.name, name, run.info.run_id, version)


def _record(dataset: str, name: str, run_id: str, version: str) -> dict[str, str]:
    """The run and the registered version the gate judges (reports/<dataset>/mlflow_run.json)."""
    return {
        "run_id": run_id,
        "experiment": f"loopline-{dataset}",
        "registered_model": name,
        "version": version,
    }


def _schema_columns(model_dir: ModelDir) -> list[dict]:
    """Return the bundle's input columns (from bundle.json) in schema order."""
    return [{"name": n} for n in model_dir.read_manifest()["schema"]["columns"]]
