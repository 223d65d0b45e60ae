"""DVC stage `policy`: the decision policy (the decisions service, `loopline.services.decisions`);
writes reports/<dataset>/policy.json."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services.decisions import choose_policy
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    summary = choose_policy(cfg)
    write_json(summary, Path(cfg.paths.reports) / "policy.json")
    log.info("%s", summary)


if __name__ == "__main__":
    run_stage("policy", task)
