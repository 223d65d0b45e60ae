"""Evaluation: the model against the baseline on valid and test, per slice, and the tables
behind DVC's plots. Used by the `evaluate` DVC stage."""

from __future__ import annotations

import logging
from pathlib import Path

from loopline import evaluate, train
from loopline.config import Config
from loopline.features import model_frame
from loopline.io import read_table, write_table
from loopline.io.artifacts import ModelDir
from loopline.split import SPLIT, TARGET

log = logging.getLogger(__name__)


def evaluate_model(cfg: Config) -> dict:
    """Score valid and test with the model and the baseline; write the plot tables (ROC, PR,
    calibration, importance); return the metrics (evaluation.json), slices included."""
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    plots = Path(cfg.paths.reports) / "plots"
    spec = model_dir.read_spec()
    booster = model_dir.load_booster()
    baseline = model_dir.read_baseline()
    frame = read_table(cfg.paths.features, where=(SPLIT, ["valid", "test"]))
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
    return evaluate.json_safe(metrics)
