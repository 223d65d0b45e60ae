"""DVC stage `train`: XGBoost (model.ubj) and the logistic-regression baseline (baseline.json);
the training service (`loopline.services.training`) does the work, the stage writes train.json."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services import ServiceError
from loopline.services.training import train_models
from loopline.stages import StageError, run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    try:
        summary = train_models(cfg)
    except ServiceError as exc:
        raise StageError(str(exc)) from None
    write_json(summary, Path(cfg.paths.reports) / "train.json")
    log.info("%s", summary)


if __name__ == "__main__":
    run_stage("train", task)
