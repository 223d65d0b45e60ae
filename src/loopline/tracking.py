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


def log_bundle(model_dir: Path, *, name: str, example: Any) -> tuple[str, bool]:
    """Log the bundle as a pyfunc model, register a version; make it champion if none is.

    Returns (version, became_champion). Promotion of later versions is a separate decision.
    """
    import mlflow

    from loopline.serving import mlflow_model, registry

    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=mlflow_model.__file__,
        artifacts={"bundle": str(model_dir)},
        input_example=example,
        registered_model_name=name,
        pip_requirements=["loopline", "xgboost", "pandas", "pyarrow", "pandera"],
    )
    version = str(info.registered_model_version)
    if registry.champion_version(name) is None:
        registry.promote(name, version)
        return version, True
    return version, False
