"""Thin DVC stage entry points: `python -m loopline.stages.<name>` (see dvc.yaml).

Each stage loads its config through Hydra from params.yaml (so `key=value` overrides work
when a stage is run by hand) and calls one service (or domain function), which writes the
outputs. Known failures print a one-screen message and exit 1, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from loopline.config import Config, to_config
from loopline.expressions import ExpressionError
from loopline.io import DataFileError
from loopline.paths import repo_root
from loopline.schemas import SchemaFileError
from loopline.validate import ValidationStopError

# Hydra would otherwise write outputs/<date>/ folders and reconfigure logging on every run.
QUIET_HYDRA = [
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra/job_logging=none",
    "hydra/hydra_logging=none",
]


class StageError(RuntimeError):
    """A stage cannot go on; the message says why and what to do."""


KNOWN_ERRORS = (StageError, ValidationStopError, DataFileError, SchemaFileError, ExpressionError)


def _stop(stage: str, message: str) -> None:
    """Print a one-screen message (no traceback) and exit 1, which stops `dvc repro`."""
    sys.stderr.write(f"\nloopline {stage}: {message}\n\n")
    sys.exit(1)


def run_stage(name: str, task: Callable[[Config], None]) -> None:
    """Run `task` with the typed config Hydra composes from params.yaml and CLI overrides."""
    import hydra
    from omegaconf import DictConfig

    sys.argv = [sys.argv[0], *QUIET_HYDRA, *sys.argv[1:]]

    @hydra.main(version_base=None, config_path=str(repo_root()), config_name="params")
    def main(raw: DictConfig) -> None:
        # after Hydra's own logging setup, which would otherwise silence INFO
        logging.basicConfig(
            level=logging.INFO, format=f"%(asctime)s {name}: %(message)s", force=True
        )
        try:
            task(to_config(raw))
        except KNOWN_ERRORS as exc:
            _stop(name, str(exc))
        except ValueError as exc:  # config that does not fit the data (a rule naming no column)
            if os.environ.get("LOOPLINE_DEBUG"):
                raise
            _stop(name, f"{exc}\n  (LOOPLINE_DEBUG=1 shows the traceback)")

    main()
