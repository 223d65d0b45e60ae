"""Training: XGBoost (model.ubj, warm-started from the champion when configured) and the
logistic-regression baseline (baseline.json), written beside the feature spec. Used by the
`train` DVC stage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loopline import train
from loopline.config import Config
from loopline.features import FeatureSpec, model_frame
from loopline.io import read_table
from loopline.io.artifacts import ModelDir
from loopline.services import ServiceError
from loopline.split import SPLIT, TARGET

log = logging.getLogger(__name__)


@dataclass
class TrainingInputs:
    """What XGBoost and the baseline train on: model inputs and targets of the train and valid
    rows, and the train rows' recency weights (None without a half-life)."""

    x: dict[str, pd.DataFrame]
    y: dict[str, np.ndarray]
    weight: np.ndarray | None


def training_inputs(cfg: Config, spec: FeatureSpec) -> TrainingInputs:
    """Read the train and valid rows of the features table (only the model's columns) and
    return them as the models see them."""
    time_column = [cfg.dataset.time_column] if cfg.dataset.time_column else []
    frame = read_table(
        cfg.paths.features,
        columns=[*spec.feature_names, SPLIT, TARGET, *time_column],
        where=(SPLIT, ["train", "valid"]),
    )
    parts = {name: frame[frame[SPLIT] == name] for name in ("train", "valid")}
    del frame
    weight = None
    if cfg.train.recency_half_life_days:
        if not cfg.dataset.time_column:
            raise ServiceError("train.recency_half_life_days needs a dataset.time_column")
        weight = train.recency_weights(
            parts["train"][cfg.dataset.time_column], cfg.train.recency_half_life_days
        )
    return TrainingInputs(
        x={name: model_frame(part, spec) for name, part in parts.items()},
        y={name: part[TARGET].to_numpy() for name, part in parts.items()},
        weight=weight,
    )


def fit_xgboost(
    inputs: TrainingInputs, cfg: Config, init_model: object | None = None
) -> tuple[object, dict]:
    """Fit XGBoost on the train rows, early stopping on valid (continuing `init_model`'s
    trees when given); return the booster and the training summary."""
    return train.train_xgboost(
        inputs.x["train"],
        inputs.y["train"],
        inputs.x["valid"],
        inputs.y["valid"],
        model=cfg.model,
        cfg=cfg.train,
        init_model=init_model,
        weight=inputs.weight,
    )


def train_models(cfg: Config) -> dict:
    """Train both models on the train split (early stopping on valid); return the summary."""
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    spec = model_dir.read_spec()
    inputs = training_inputs(cfg, spec)
    x, y = inputs.x, inputs.y
    init, note = _warm_start(cfg, spec)
    booster, summary = fit_xgboost(inputs, cfg, init_model=init)
    summary["warm_start"] = note
    model_dir.save_booster(booster)
    baseline = train.train_baseline(
        x["train"], y["train"], categorical=spec.levels(), c=cfg.train.baseline_c
    )
    model_dir.write_baseline(baseline)
    summary |= {"train_rows": len(y["train"]), "valid_rows": len(y["valid"])}
    return summary


def _warm_start(cfg: Config, spec: FeatureSpec) -> tuple[object | None, str]:
    """Return the champion's booster to continue from (train.warm_start: champion), and why."""
    if cfg.train.warm_start == "scratch":
        return None, "scratch"
    if cfg.train.warm_start != "champion":
        raise ServiceError(
            f"train.warm_start must be scratch or champion, not {cfg.train.warm_start!r}"
        )
    import mlflow

    from loopline.io import registry
    from loopline.paths import mlflow_uri, shared_root

    mlflow.set_tracking_uri(mlflow_uri())
    try:
        found = registry.resolve(
            registry.CHAMPION,
            dataset=cfg.dataset.name,
            cache_dir=shared_root() / ".loopline" / "models",
        )
    except LookupError:
        return None, "scratch (no champion yet)"
    champion = ModelDir(found.path, cfg.artifacts)
    old = champion.read_spec()
    if old.feature_names != spec.feature_names or old.categorical != spec.categorical:
        log.warning("champion %s has other features or levels: training from scratch", found.label)
        return None, f"scratch (champion {found.label} has other features)"
    return champion.load_booster(), f"champion {found.label}"
