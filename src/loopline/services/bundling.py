"""Bundling: the servable bundle (history.parquet, reference.json, bundle.json) beside the
model, so REST and batch scoring need nothing else. Used by the `bundle` DVC stage."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import yaml

from loopline import bundle, drift, evaluate, train
from loopline.config import Config
from loopline.features import model_frame
from loopline.io import read_table
from loopline.io.artifacts import ModelDir
from loopline.schemas import scoring_spec
from loopline.split import LABEL_TIME, SPLIT, TARGET

log = logging.getLogger(__name__)


def build_bundle(cfg: Config) -> dict:
    """Write the bundle's history, reference statistics and manifest beside the model; return
    the manifest (bundle.json)."""
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    d = cfg.dataset
    history_columns = [c for c in (d.entity_column, d.time_column, d.id_column) if c]
    frame = read_table(cfg.paths.split, columns=[*history_columns, TARGET, LABEL_TIME])
    model_dir.write_history(bundle.history_table(frame, cfg.dataset, TARGET, LABEL_TIME))
    del frame  # the history is written: the reference statistics read the features table
    model_dir.write_reference(reference(cfg, model_dir))
    schema_spec = scoring_spec(
        yaml.safe_load(Path(cfg.dataset.schema_path).read_text()), cfg.dataset
    )
    meta = bundle.manifest(
        model_dir, dataset=cfg.dataset, features_cfg=cfg.features, schema_spec=schema_spec
    )
    model_dir.write_manifest(meta)
    return meta


def reference(cfg: Config, model_dir: ModelDir) -> dict:
    """Reference statistics for monitoring, computed once here: model inputs on the training
    rows, the score distribution on the validation rows, performance on the test rows."""
    spec = model_dir.read_spec()
    frame = read_table(cfg.paths.features, columns=[*spec.feature_names, SPLIT, TARGET])
    inputs = model_frame(frame[frame[SPLIT] == "train"], spec)
    categorical = list(spec.categorical)
    numeric = spec.numeric
    stats = drift.reference_stats(inputs, numeric=numeric, categorical=categorical)
    valid = frame[frame[SPLIT] == "valid"]
    booster = model_dir.load_booster()
    scores = train.predict(booster, model_frame(valid, spec))
    stats["score"] = drift.reference_stats(
        pd.DataFrame({"score": scores}), numeric=["score"], categorical=[]
    )["numeric"]["score"]
    # what realised performance is held against: the model on its held-out test rows (valid
    # steered early stopping and the threshold, so its AUC is optimistic)
    test = frame[frame[SPLIT] == "test"]
    metrics = evaluate.binary_metrics(
        test[TARGET].to_numpy(dtype="float64"), train.predict(booster, model_frame(test, spec))
    )
    keys = ("roc_auc", "ece", "positive_rate", "mean_score")
    stats["performance"] = {k: metrics[k] for k in keys}
    return stats
