"""Feature engineering: domain (derived) and point-in-time entity features added to the
preprocessed rows; writes the feature spec (features.json) and the features table. Used by the
`features` DVC stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from loopline import features
from loopline.config import Config
from loopline.io import read_table, write_table
from loopline.io.artifacts import ModelDir
from loopline.split import LABEL_TIME, TARGET


def engineer_features(cfg: Config) -> features.FeatureSpec:
    """Add the engineered features to the preprocessed rows, write the table and the feature
    spec; return the spec."""
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    frame = read_table(cfg.paths.preprocessed)
    state = model_dir.read_state()
    engineered = features.build_features(
        frame, dataset=cfg.dataset, cfg=cfg.features, target=TARGET, label_time=LABEL_TIME
    )
    spec = features.feature_spec(
        numeric=list(state.numeric),
        categorical=state.categorical,
        engineered=list(engineered.columns),
    )
    model_dir.write_spec(spec)
    write_table(pd.concat([frame, engineered], axis=1), cfg.paths.features)
    return spec
