"""DVC stage `ingest`: raw batches -> one canonical Parquet partition per batch file (the
ingestion service, `loopline.services.ingestion`)."""

from __future__ import annotations

from loopline.config import Config
from loopline.services import ServiceError
from loopline.services.ingestion import ingest_batches
from loopline.stages import StageError, run_stage

# the config this stage reads: dvc.yaml declares exactly these (tests/unit/test_dvc_deps.py)
PARAMS = (
    "dataset.sources",
    "dataset.labels",
    "dataset.na_values",
    "dataset.batch_period_regex",
    "dataset.schema_path",
    "dataset.id_column",
    "dataset.target",
    "dataset.target_values",
)


def task(cfg: Config) -> None:
    try:
        ingest_batches(cfg, PARAMS)
    except ServiceError as exc:
        raise StageError(str(exc)) from None


if __name__ == "__main__":
    run_stage("ingest", task)
