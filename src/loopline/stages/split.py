"""DVC stage `split`: validated partitions + delayed labels -> one table with a split column
(the splitting service, `loopline.services.splitting`); writes reports/<dataset>/split.json."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services import ServiceError
from loopline.services.splitting import split_rows
from loopline.stages import StageError, run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    try:
        report = split_rows(cfg)
    except ServiceError as exc:
        raise StageError(str(exc)) from None
    write_json(report, Path(cfg.paths.reports) / "split.json")
    log.info("%s", report)


if __name__ == "__main__":
    run_stage("split", task)
