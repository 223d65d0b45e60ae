"""DVC stage `gate`: challenger (the model just registered) vs champion; promote only if better.

Writes reports/<dataset>/gate.json. The work is the promotion service's
(`loopline.services.promotion`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services import ServiceError
from loopline.services.promotion import judge_challenger
from loopline.stages import StageError, run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    try:
        report = judge_challenger(cfg)
    except ServiceError as exc:
        raise StageError(str(exc)) from None
    write_json(report, Path(cfg.paths.reports) / "gate.json")
    log.info("gate: %s %s", report["action"], "; ".join(report["reasons"]))


if __name__ == "__main__":
    run_stage("gate", task)
