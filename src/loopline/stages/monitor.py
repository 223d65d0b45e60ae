"""DVC stage `monitor`: the champion's recent traffic vs its reference.

Reads the prediction log, the feedback partitions and the champion bundle's reference.json;
writes reports/<dataset>/monitoring.json (metrics), monitoring.html (for people) and
plots/monitoring.csv (one row per month, for `dvc plots`). The work is the monitoring
service's (`loopline.services.monitoring`), shared with `loopline monitor` and the loop.
"""

from __future__ import annotations

import logging

from loopline.config import Config
from loopline.services import ServiceError
from loopline.services.monitoring import monitor_champion
from loopline.stages import StageError, run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    try:
        verdict = monitor_champion(cfg)["verdict"]
    except ServiceError as exc:
        raise StageError(str(exc)) from None
    log.info("verdict: %s %s", verdict["status"], "; ".join(verdict["reasons"]))


if __name__ == "__main__":
    run_stage("monitor", task)
