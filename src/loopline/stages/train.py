"""DVC stage `train`: XGBoost (model.ubj) and the logistic-regression baseline (baseline.json)."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline import train
from loopline.config import Config
from loopline.features import model_frame
from loopline.io import read_json, read_table, write_json
from loopline.split import SPLIT, TARGET
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    model_dir = Path(cfg.paths.model_dir)
    spec = read_json(model_dir / "features.json")
    frame = read_table(cfg.paths.features)
    parts = {name: frame[frame[SPLIT] == name] for name in ("train", "valid")}
    x = {name: model_frame(part, spec) for name, part in parts.items()}
    y = {name: part[TARGET].to_numpy() for name, part in parts.items()}
    booster, summary = train.train_xgboost(
        x["train"], y["train"], x["valid"], y["valid"], model=cfg.model, cfg=cfg.train
    )
    booster.save_model(model_dir / "model.ubj")
    baseline = train.train_baseline(
        x["train"], y["train"], categorical=spec["categorical"], c=cfg.train.baseline_c
    )
    write_json(baseline, model_dir / "baseline.json")
    summary |= {"train_rows": len(parts["train"]), "valid_rows": len(parts["valid"])}
    write_json(summary, Path(cfg.paths.reports) / "train.json")
    log.info("%s", summary)


if __name__ == "__main__":
    run_stage("train", task)
