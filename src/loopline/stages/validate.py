"""DVC stage `validate`: each ingested partition -> accepted rows + quarantined rows with
reasons (the validation service, `loopline.services.validation`); writes
reports/<dataset>/validation.json."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services.validation import validate_partitions
from loopline.stages import run_stage

log = logging.getLogger(__name__)

# the config this stage reads: dvc.yaml declares exactly these (tests/unit/test_dvc_deps.py)
PARAMS = (
    "validate",
    "dataset.schema_path",
    "dataset.id_column",
    "dataset.time_column",
    "dataset.target",
    "dataset.target_values",
    "dataset.labels",
)


def task(cfg: Config) -> None:
    summary = validate_partitions(cfg, PARAMS)
    write_json(summary, Path(cfg.paths.reports) / "validation.json")
    for table in ("applications", "labels"):
        if table in summary:
            log.info("%s: %s", table, summary[table])


if __name__ == "__main__":
    run_stage("validate", task)
