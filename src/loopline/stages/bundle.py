"""DVC stage `bundle`: the servable bundle (history.parquet + bundle.json) beside the model."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from loopline import bundle
from loopline.config import Config
from loopline.io import read_table, write_table
from loopline.split import LABEL_TIME, TARGET
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    model_dir = Path(cfg.paths.model_dir)
    frame = read_table(cfg.paths.split)
    write_table(
        bundle.history_table(frame, cfg.dataset, TARGET, LABEL_TIME), model_dir / "history.parquet"
    )
    schema_spec = yaml.safe_load(Path(cfg.dataset.schema_path).read_text())
    meta = bundle.manifest(
        model_dir, dataset=cfg.dataset, features_cfg=cfg.features, schema_spec=schema_spec
    )
    bundle.write_manifest(model_dir, meta)
    log.info("bundle %s in %s", meta["bundle_id"], model_dir)


if __name__ == "__main__":
    run_stage("bundle", task)
