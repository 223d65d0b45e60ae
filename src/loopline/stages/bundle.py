"""DVC stage `bundle`: the servable bundle beside the model (the bundling service,
`loopline.services.bundling`)."""

from __future__ import annotations

import logging

from loopline.config import Config
from loopline.services.bundling import build_bundle
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    meta = build_bundle(cfg)
    log.info("bundle %s in %s", meta["bundle_id"], cfg.paths.model_dir)


if __name__ == "__main__":
    run_stage("bundle", task)
