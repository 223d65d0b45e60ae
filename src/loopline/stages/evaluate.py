"""DVC stage `evaluate`: model vs baseline on valid and test, slices, and DVC plot data."""

from __future__ import annotations

import logging
from pathlib import Path

import xgboost as xgb

from loopline import evaluate, train
from loopline.config import Config
from loopline.features import model_frame
from loopline.io import read_json, read_table, write_json, write_table
from loopline.split import SPLIT, TARGET
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    model_dir, plots = Path(cfg.paths.model_dir), Path(cfg.paths.reports) / "plots"
    spec = read_json(model_dir / "features.json")
    booster = xgb.Booster(model_file=str(model_dir / "model.ubj"))
    baseline = read_json(model_dir / "baseline.json")
    frame = read_table(cfg.paths.features)
    metrics: dict = {}
    for name in ("valid", "test"):
        part = frame[frame[SPLIT] == name]
        x, y = model_frame(part, spec), part[TARGET].to_numpy()
        score = train.predict(booster, x)
        metrics[name] = {
            "xgboost": evaluate.binary_metrics(y, score),
            "baseline": evaluate.binary_metrics(y, train.predict_baseline(baseline, x)),
        }
        if name == "test":
            metrics["slices"] = evaluate.slice_metrics(
                part, y, score, cfg.dataset.slices, cfg.evaluate.min_slice_rows
            )
            write_table(evaluate.roc_points(y, score), plots / "roc.csv")
            write_table(evaluate.pr_points(y, score), plots / "pr.csv")
            calibration = evaluate.calibration_table(y, score, cfg.evaluate.calibration_bins)
            write_table(calibration, plots / "calibration.csv")
    write_table(evaluate.feature_importance(booster), plots / "importance.csv")
    test = metrics["test"]
    if test["xgboost"]["roc_auc"] is not None and test["baseline"]["roc_auc"] is not None:
        metrics["auc_gain_over_baseline"] = test["xgboost"]["roc_auc"] - test["baseline"]["roc_auc"]
    reports = Path(cfg.paths.reports)
    write_json(evaluate.json_safe(metrics), reports / "evaluation.json")
    # DVC's metrics file holds the headline only, so `dvc metrics show` fits a terminal
    write_json(evaluate.json_safe(evaluate.headline(metrics)), reports / "metrics.json")
    log.info("test: %s", test)


if __name__ == "__main__":
    run_stage("evaluate", task)
