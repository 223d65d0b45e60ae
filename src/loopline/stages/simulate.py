"""DVC stage `simulate`: write the simulated lender's raw batches under simulate.out_dir."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from tqdm import tqdm

from loopline import simulate
from loopline.config import Config
from loopline.io import write_table
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    out = Path(cfg.simulate.out_dir)
    batches, future = simulate.release(simulate.simulate(cfg.simulate), cfg.simulate)
    if future:
        log.info("periods %d..%d held back as the future", min(future), max(future))
    if out.exists():
        shutil.rmtree(out)
    for relative, frame in tqdm(sorted(batches.items()), desc="writing batches", unit="file"):
        write_table(frame, out / relative)
    log.info("wrote %d batch files to %s", len(batches), out)


if __name__ == "__main__":
    run_stage("simulate", task)
