"""DVC stage `track`: record the model in MLflow and register it (the registration service,
`loopline.services.registration`); writes reports/<dataset>/mlflow_run.json for the gate."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from loopline.config import Config
from loopline.io import write_json
from loopline.services.registration import record_model
from loopline.stages import run_stage


def task(cfg: Config) -> None:
    # SIGTERM (a stopped `dvc repro`) ends the run as FAILED instead of leaving it RUNNING
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    write_json(record_model(cfg), Path(cfg.paths.reports) / "mlflow_run.json")


if __name__ == "__main__":
    run_stage("track", task)
