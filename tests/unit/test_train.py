"""Training helpers: recency weights for retraining under drift, warm start from a booster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline import train
from loopline.config import ModelConfig, TrainConfig


def test_recency_weights_halve_every_half_life():
    times = pd.Series(pd.to_datetime(["2025-01-01", "2025-03-02", "2025-05-01", "2025-05-01"]))
    weights = train.recency_weights(times, 60)
    assert weights[-1] == weights[-2] == 1.0
    assert weights[1] == pytest.approx(0.5, rel=0.01)  # 60 days before the newest row
    assert weights[0] == pytest.approx(0.25, rel=0.02)
    assert train.recency_weights(times, None) is None


def test_warm_start_continues_from_the_given_trees():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = (x["a"] + rng.normal(scale=0.5, size=400) > 0).astype(float).to_numpy()
    model = ModelConfig(num_boost_round=10, nthread=1, eval_metric=["logloss"])
    cfg = TrainConfig(early_stopping_rounds=100)
    first, _ = train.train_xgboost(x, y, x, y, model=model, cfg=cfg)
    second, summary = train.train_xgboost(x, y, x, y, model=model, cfg=cfg, init_model=first)
    assert first.num_boosted_rounds() == 10
    assert second.num_boosted_rounds() == 20 and summary["rounds_trained"] == 20
