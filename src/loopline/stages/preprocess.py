"""DVC stage `preprocess`: fit imputation/clipping/categories on train, apply to every row (the
preprocessing service, `loopline.services.preprocessing`)."""

from __future__ import annotations

import logging

from loopline.config import Config
from loopline.services.preprocessing import preprocess_rows
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    state = preprocess_rows(cfg)
    log.info(
        "%d numeric, %d categorical columns in %s",
        len(state.numeric),
        len(state.categorical),
        cfg.paths.preprocessed,
    )


if __name__ == "__main__":
    run_stage("preprocess", task)
