"""DVC stage `evaluate`: model vs baseline on valid and test, slices, and DVC plot data (the
evaluation service, `loopline.services.evaluation`)."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.evaluate import headline, json_safe
from loopline.io import write_json
from loopline.services.evaluation import evaluate_model
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    metrics = evaluate_model(cfg)
    reports = Path(cfg.paths.reports)
    write_json(metrics, reports / "evaluation.json")
    # DVC's metrics file holds the headline only, so `dvc metrics show` fits a terminal
    write_json(json_safe(headline(metrics)), reports / "metrics.json")
    log.info("test: %s", metrics["test"])


if __name__ == "__main__":
    run_stage("evaluate", task)
