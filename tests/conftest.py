"""Suite-wide settings (how many workers `make test` runs, which modules start first) and the
fixtures more than one layer uses: `trained`, a real model trained in process.

`trained` runs the pipeline's own stage entry points (`loopline.stages.<name>.task`, what
`dvc repro` runs, minus Hydra and dvc) on conf/ composed with `experiment=tiny`, with every
path of the config moved under a temporary folder: simulate -> ingest -> validate -> split ->
preprocess -> features -> train -> evaluate -> policy -> bundle, in about 5 s. The model is the
one the tiny configuration trains (same seed, same parameters, byte-identical model.ubj on every
run); nothing here changes the model's config. tests/model scores its bundle; tests/unit serves
it in process (FastAPI's TestClient).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from filelock import FileLock

from loopline.config import Config, to_config
from loopline.params import compose

if TYPE_CHECKING:
    import pandas as pd

    from loopline.bundle import Bundle

ROOT = Path(__file__).resolve().parents[1]
# the stages of dvc.yaml up to the servable bundle, in dependency order (track, gate and
# monitor need MLflow and served traffic: not a model's behaviour)
STAGES = tuple(
    name
    for name in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    if name not in ("check_params", "track", "gate", "monitor")
)  # dvc.yaml's order: simulate ... bundle

# the end-to-end modules, longest first (`make test` prints the slowest tests): with modules
# spread over workers (`--dist loadfile`), starting the long ones first keeps the tail short
LONGEST_FIRST = (
    "test_review.py",
    "test_loop.py",
    "test_onboarding.py",
    "test_pipeline.py",
    "test_online_history.py",
    "test_late_batch.py",
    "test_clone.py",
    "test_serving.py",
    "test_gate.py",
    "test_scoring.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core. End-to-end tests spend much of their time waiting on
    the processes they start (dvc, uvicorn, git), so one worker per core leaves cores idle."""
    return max(2, min(2 * (os.cpu_count() or 1), 8))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        if item.path.parent.name == "e2e" and name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a module is kept


def tiny_config(base: Path) -> Config:
    """conf/ composed with experiment=tiny, every file it reads or writes under `base`
    (the schema is the repository's), so the stages never depend on the working directory."""
    cfg = to_config(compose(["experiment=tiny"], root=ROOT))
    paths = {k: str(base / v) for k, v in dataclasses.asdict(cfg.paths).items()}
    return dataclasses.replace(
        cfg,
        paths=dataclasses.replace(cfg.paths, **paths),
        simulate=dataclasses.replace(cfg.simulate, out_dir=str(base / cfg.simulate.out_dir)),
        dataset=dataclasses.replace(
            cfg.dataset,
            raw_dir=str(base / cfg.dataset.raw_dir),
            schema_path=str(ROOT / cfg.dataset.schema_path),
        ),
    )


@dataclass(frozen=True)
class TrainedRun:
    """The outputs of one in-process pipeline run."""

    cfg: Config

    @property
    def model_dir(self) -> Path:
        """The bundle folder (what `loopline serve --model models/<dataset>` serves)."""
        return Path(self.cfg.paths.model_dir)

    @property
    def reports(self) -> Path:
        return Path(self.cfg.paths.reports)

    def load_bundle(self) -> Bundle:
        """A new Bundle (its history is its own: `score_record` adds to it)."""
        from loopline.bundle import Bundle

        return Bundle.load(self.model_dir)

    def report(self, name: str) -> dict[str, Any]:
        from loopline.io import read_json

        return read_json(self.reports / name)

    def split_table(self) -> pd.DataFrame:
        from loopline.io import read_table

        return read_table(self.cfg.paths.split)


def shared_root(factory: pytest.TempPathFactory) -> Path:
    """A folder every test process of this run sees (pytest-xdist workers share the parent)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The tiny configuration's model, trained once per test run (whichever worker comes first
    trains it, the others wait) and never written to: a test that needs a changed copy makes
    its own."""
    base = shared_root(tmp_path_factory) / "trained-tiny"
    cfg = tiny_config(base)
    with FileLock(f"{base}.lock"):
        if not Path(f"{base}.done").exists():
            for name in STAGES:
                importlib.import_module(f"loopline.stages.{name}").task(cfg)
            Path(f"{base}.done").touch()
    return TrainedRun(cfg)
