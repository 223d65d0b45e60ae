"""Where the repository and its shared stores are, also inside DVC's temporary experiment copies.

Queued experiments run in `.dvc/tmp/exps/tmpXXXX`, a copy with tracked files only. Anything that
must be shared across runs (the MLflow store) is located from the real repository root.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root(start: Path | None = None) -> Path:
    """Return the nearest directory at or above `start` (default: cwd) holding dvc.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dvc.yaml").exists():
            return candidate
    return here


def shared_root(start: Path | None = None) -> Path:
    """Return the root of the main repository, even from a DVC experiment's temporary copy."""
    root = Path(os.environ.get("DVC_ROOT") or repo_root(start)).resolve()
    parts = root.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def mlflow_uri(start: Path | None = None) -> str:
    """Return the MLflow tracking URI: env MLFLOW_TRACKING_URI, else SQLite at the shared root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{shared_root(start) / 'mlflow.db'}"
