"""MLflow records: one run per trained model, traceable to the exact data and code.

The store is SQLite at the main repository's root (also from DVC's temporary experiment copies),
with artifacts beside it in mlartifacts/. Nothing here runs at import time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from loopline.paths import mlflow_uri, shared_root


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Return nested mappings as {"a.b.c": value}; lists are kept as values."""
    if not isinstance(data, dict):
        return {prefix.rstrip("."): data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out |= flatten(value, f"{prefix}{key}.")
    return out


def loggable_params(params: dict[str, Any]) -> dict[str, str]:
    """Return flattened params with names MLflow accepts (the full file is logged as well)."""
    flat = flatten({k: v for k, v in params.items() if k != "paths"})
    return {re.sub(r"[^\w\-. :/]", "_", k): str(v)[:500] for k, v in flat.items()}


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Return the finite numbers of a nested metrics document, with dotted names."""
    flat = flatten(metrics)
    return {
        k.replace(" ", "_"): float(v)
        for k, v in flat.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }


def dvc_hashes(lock_path: Path) -> dict[str, str]:
    """Return {"stage:path": md5} for every dependency and output recorded in dvc.lock."""
    if not lock_path.exists():
        return {}
    lock = yaml.safe_load(lock_path.read_text()) or {}
    out = {}
    for stage, entry in (lock.get("stages") or {}).items():
        for kind in ("deps", "outs"):
            for item in entry.get(kind, []) or []:
                if "md5" in item:
                    out[f"{stage}:{item['path']}"] = item["md5"]
    return out


def git_commit(cwd: Path) -> str | None:
    """Return the commit checked out in cwd, or None outside git."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def start_experiment(name: str) -> str:
    """Point MLflow at the shared store and return the experiment id (created if needed)."""
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri())
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = (shared_root() / "mlartifacts" / name).as_uri()
    return mlflow.create_experiment(name, artifact_location=artifacts)


def input_example(frame: Any, columns: list[str], rows: int = 3) -> Any:
    """Return a few raw rows as JSON-friendly values (timestamps as ISO text)."""
    import pandas as pd

    example = frame[columns].head(rows).copy()
    for column in example.columns:
        if pd.api.types.is_datetime64_any_dtype(example[column]):
            example[column] = example[column].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return example.astype(object).where(example.notna(), None)


def log_bundle(model_dir: Path, *, name: str, example: Any, bundle_id: str) -> str:
    """Log the bundle as a pyfunc model and register it; return the new version.

    Registering never promotes: the gate stage decides which version is champion, the first
    one included (it must pass the gate's absolute checks).
    """
    import mlflow
    from mlflow import MlflowClient

    from loopline.serving import mlflow_model

    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=mlflow_model.__file__,
        artifacts={"bundle": str(model_dir)},
        input_example=example,
        registered_model_name=name,
        pip_requirements=["loopline", "xgboost", "pandas", "pyarrow", "pandera"],
    )
    version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(name, version, BUNDLE_TAG, bundle_id)
    return version


OWNER_TAG = "loopline.owner"  # "host:pid" of the process that opened the run


def owner() -> str:
    """Return this process's "host:pid" (a run tagged with it is ours while we live)."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def end_orphaned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs whose process on this host is gone; return their ids.

    A `track` killed mid-run (SIGKILL, a crash) cannot close its run, which would otherwise
    stay RUNNING forever. Runs of live processes (a sweep's other workers) are left alone.
    """
    import os
    import socket

    import mlflow
    from mlflow import MlflowClient

    host, ended = socket.gethostname(), []
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        output_format="list",
    )
    for run in runs:
        tag = run.data.tags.get(OWNER_TAG, "")
        run_host, _, pid = tag.rpartition(":")
        if run_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            MlflowClient().set_terminated(run.info.run_id, status="KILLED")
            ended.append(run.info.run_id)
        except PermissionError:  # alive, someone else's
            continue
    return ended


BUNDLE_TAG = "bundle_id"  # run and model-version tag: the bundle's content id (bundle.json)


def find_tracked(experiment_id: str, name: str, bundle_id: str) -> dict[str, str] | None:
    """Return {run_id, version} of a run that already recorded this exact bundle, else None.

    The MLflow store is state DVC cannot see: on a fresh clone (or after the store was reset)
    the track stage must record the bundle again, and when the store has it already, re-running
    the stage must not register a duplicate version.
    """
    import mlflow
    from mlflow import MlflowClient

    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.{BUNDLE_TAG} = '{bundle_id}' and attributes.status = 'FINISHED'",
        output_format="list",
    )
    client = MlflowClient()
    for run in runs:
        versions = client.search_model_versions(f"name = '{name}' and run_id = '{run.info.run_id}'")
        if versions:
            return {"run_id": run.info.run_id, "version": str(versions[0].version)}
    return None
