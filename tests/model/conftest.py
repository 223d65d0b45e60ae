"""A real model, trained in process, for behavioural tests (Made-With-ML's tests/model).

`trained` runs the pipeline's own stage entry points (`loopline.stages.<name>.task`, what
`dvc repro` runs, minus Hydra and dvc) on conf/ composed with `experiment=tiny`, with every
path of the config moved under a temporary folder: simulate -> ingest -> validate -> split ->
preprocess -> features -> train -> evaluate -> policy -> bundle, in about 5 s. The model is the
one the tiny configuration trains (same seed, same parameters, byte-identical model.ubj on every
run); nothing here changes the model's config.

Tests score with `loopline.bundle.Bundle`, the object the REST service and batch scoring load,
on `fresh`: applications drawn from the same simulated lender with another seed, under ids the
bundle's history has never seen (new applications of new customers), with their ground truth.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline import simulate
from loopline.bundle import Bundle
from loopline.config import Config, to_config
from loopline.io import read_json, read_table
from loopline.params import compose

ROOT = Path(__file__).resolve().parents[2]
# the stages of dvc.yaml up to the servable bundle, in dependency order (track, gate and
# monitor need MLflow and served traffic: not a model's behaviour)
STAGES = tuple(
    name
    for name in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    if name not in ("check_params", "track", "gate", "monitor")
)  # dvc.yaml's order: simulate ... bundle
# the new applications: any seed but the training one (conf/config.yaml's seed, 42), and
# enough rows that slice AUCs have standard errors near 0.02 (about 100 defaults per group)
FRESH_SEED = 7
FRESH_ROWS = 20_000
FRESH_PREFIX = "new-"


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
        return Path(self.cfg.paths.model_dir)

    @property
    def reports(self) -> Path:
        return Path(self.cfg.paths.reports)

    def load_bundle(self) -> Bundle:
        """A new Bundle (its history is its own: `score_record` adds to it)."""
        return Bundle.load(self.model_dir)

    def report(self, name: str) -> dict[str, Any]:
        return read_json(self.reports / name)

    def split_table(self) -> pd.DataFrame:
        return read_table(self.cfg.paths.split)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    cfg = tiny_config(tmp_path_factory.mktemp("model"))
    for name in STAGES:
        importlib.import_module(f"loopline.stages.{name}").task(cfg)
    return TrainedRun(cfg)


@pytest.fixture(scope="session")
def bundle(trained: TrainedRun) -> Bundle:
    """The bundle, shared: score with `score_record(..., remember=False)` only. A test that
    adds to the history (remember=True, `bundle.history.add_*`) loads its own with
    `trained.load_bundle()`."""
    return trained.load_bundle()


@pytest.fixture(scope="session")
def fresh(trained: TrainedRun) -> pd.DataFrame:
    """New applications (clean, canonical, in time order) with their ground truth `defaulted`;
    no application id or customer id among them is in the bundle's history."""
    cfg = dataclasses.replace(trained.cfg.simulate, seed=FRESH_SEED, rows=FRESH_ROWS)
    frame = simulate.simulate_applications(cfg)
    for column in ("application_id", "customer_id"):
        frame[column] = FRESH_PREFIX + frame[column]
    return frame


def as_request(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """One application as a REST client sends it: JSON scalars, ISO times, null for missing."""
    out: dict[str, Any] = {}
    for name in columns:
        value = row[name]
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            out[name] = None
        elif isinstance(value, pd.Timestamp):
            out[name] = value.isoformat()
        elif isinstance(value, np.integer):
            out[name] = int(value)
        elif isinstance(value, np.floating):
            out[name] = float(value)
        else:
            out[name] = value
    return out


@pytest.fixture(scope="session")
def fresh_requests(bundle: Bundle, fresh: pd.DataFrame) -> list[dict[str, Any]]:
    """The first 300 fresh applications as REST requests (schema columns only)."""
    columns = bundle.schema.names
    return [as_request(row, columns) for row in fresh.head(300).to_dict("records")]


@pytest.fixture(scope="session")
def fresh_scored(bundle: Bundle, fresh: pd.DataFrame) -> pd.DataFrame:
    """`Bundle.score_frame` of the fresh applications: score, decision, decided_by, reasons."""
    return bundle.score_frame(fresh)
