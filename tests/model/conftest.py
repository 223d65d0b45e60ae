"""A real model, trained in process, for behavioural tests (Made-With-ML's tests/model).

`trained` (tests/conftest.py) runs the pipeline's own stage entry points on conf/ composed with
`experiment=tiny` under a temporary folder, in about 5 s: the model the tiny configuration trains.

Tests score with `loopline.bundle.Bundle`, the object the REST service and batch scoring load,
on `fresh`: applications drawn from the same simulated lender with another seed, under ids the
bundle's history has never seen (new applications of new customers), with their ground truth.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from loopline import simulate
from loopline.bundle import Bundle
from tests.conftest import TrainedRun
from tests.rest import as_request

# the new applications: any seed but the training one (conf/config.yaml's seed, 42), and
# enough rows that slice AUCs have standard errors near 0.02 (about 100 defaults per group)
FRESH_SEED = 7
FRESH_ROWS = 20_000
FRESH_PREFIX = "new-"


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


@pytest.fixture(scope="session")
def fresh_requests(bundle: Bundle, fresh: pd.DataFrame) -> list[dict[str, Any]]:
    """The first 300 fresh applications as REST requests (schema columns only)."""
    columns = bundle.schema.names
    return [as_request(row, columns) for row in fresh.head(300).to_dict("records")]


@pytest.fixture(scope="session")
def fresh_scored(bundle: Bundle, fresh: pd.DataFrame) -> pd.DataFrame:
    """`Bundle.score_frame` of the fresh applications: score, decision, decided_by, reasons."""
    return bundle.score_frame(fresh)
