"""The MLflow model registry: register bundles, name the champion, fetch what serves.

The registry alias `champion` names the model version that serves (aliases, not the
deprecated stages). A registered version's artifacts hold the bundle folder unchanged.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loopline.config import ArtifactsConfig

CHAMPION = "champion"


def model_name(dataset: str) -> str:
    """Return the registered model name of a dataset's models."""
    return f"loopline-{dataset}"


@dataclass(frozen=True)
class Resolved:
    """A bundle folder and the registry version it came from (None for a plain folder)."""

    path: Path
    name: str | None
    version: str | None
    run_id: str | None = None  # the MLflow run that trained and logged it

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}" if self.version else f"path:{self.path}"


def champion_version(name: str, *, tracking_uri: str | None = None) -> str | None:
    """Return the version the champion alias points at, or None when there is none.

    `tracking_uri` names the store; None: the process-wide one (`mlflow.set_tracking_uri`).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def resolve(
    source: str, *, dataset: str, cache_dir: Path, tracking_uri: str | None = None
) -> Resolved:
    """Return the bundle folder for `champion`, `champion@<name>`, `<name>/<version>` or a path.

    `tracking_uri` names the store; None: the process-wide one (`mlflow.set_tracking_uri`).
    """
    path = Path(source)
    if source not in (CHAMPION,) and path.exists():
        return Resolved(path=path, name=None, version=None)
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    name = model_name(dataset)
    if source == CHAMPION:
        version = champion_version(name, tracking_uri=client.tracking_uri)
        if version is None:
            raise LookupError(no_champion_advice(name, tracking_uri=client.tracking_uri))
    elif "/" in source and source.split("/", 1)[1].isdigit():
        name, version = source.split("/", 1)
    else:
        raise LookupError(f"{source!r} is neither a bundle folder nor champion nor NAME/VERSION")
    target = cache_dir / name / version
    manifest = ArtifactsConfig().bundle  # read without a config: the default name
    if not (target / manifest).exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=cache_dir, prefix="download-")
        # the version's own artifact location (a models:/ URI would be resolved against the
        # process-wide registry, not this client's store)
        downloaded = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(name, version),
                dst_path=scratch,
                tracking_uri=client.tracking_uri,
            )
        )
        bundle_dir = next((downloaded / "artifacts").glob(f"*/{manifest}")).parent
        target.parent.mkdir(parents=True, exist_ok=True)
        bundle_dir.rename(target)
        shutil.rmtree(scratch, ignore_errors=True)
    run_id = client.get_model_version(name, version).run_id
    return Resolved(path=target, name=name, version=version, run_id=run_id)


def no_champion_advice(name: str, *, tracking_uri: str | None = None) -> str:
    """Return why nothing is champion and the command that fixes it, from the registry."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    versions = client.search_model_versions(f"name = '{name}'")
    store = client.tracking_uri
    if not versions:
        return (
            f"the MLflow store {store} has no registered model {name}. Record the current "
            "bundle with `dvc repro --force --single-item track && dvc repro` (the store is "
            "not in git or DVC: a new clone or a reset store starts empty)"
        )
    newest = max(versions, key=lambda v: int(v.version))
    why = newest.tags.get("gate_reasons") or newest.tags.get("gate_action") or "not judged yet"
    return (
        f"no version of {name} has the alias '{CHAMPION}': version {newest.version} did not "
        f"pass the gate ({why}; see reports/<dataset>/gate.json). Serve it anyway with "
        f"`loopline promote {newest.version}`, or serve a folder with --model models/<dataset>"
    )


PREVIOUS = "previous_champion"  # model version tag: the champion it replaced


def promote(name: str, version: str) -> str | None:
    """Point the champion alias at `version`; return the version it pointed at before.

    The replaced champion is recorded on the new one (tag `previous_champion`), which is what
    `rollback` follows.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    client.get_model_version(name, version)  # raises when the version does not exist
    previous = champion_version(name)
    if previous is not None and previous != version:
        client.set_model_version_tag(name, version, PREVIOUS, previous)
    client.set_registered_model_alias(name, CHAMPION, version)
    return previous


def rollback(name: str, to: str | None = None) -> tuple[str, str]:
    """Move the champion alias back (to `to`, else to the champion it replaced).

    Returns (from version, to version). Raises LookupError when there is nothing to go back to.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    current = champion_version(name)
    if current is None:
        raise LookupError(f"{name} has no champion to roll back")
    if to is None:
        to = client.get_model_version(name, current).tags.get(PREVIOUS)
        if not to:
            raise LookupError(
                f"{name} version {current} replaced no earlier champion: nothing to roll back "
                "to (name one with --to VERSION)"
            )
    client.get_model_version(name, to)
    client.set_registered_model_alias(name, CHAMPION, to)
    client.set_model_version_tag(name, current, "rolled_back_to", to)
    return current, to
