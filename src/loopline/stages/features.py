"""DVC stage `features`: add domain and point-in-time entity features; write features.json."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from loopline import features
from loopline.config import Config
from loopline.io import read_json, read_table, write_json, write_table
from loopline.split import LABEL_TIME, TARGET
from loopline.stages import run_stage


def task(cfg: Config) -> None:
    model_dir = Path(cfg.paths.model_dir)
    frame = read_table(cfg.paths.preprocessed)
    state = read_json(model_dir / "preprocess.json")
    engineered = features.build_features(
        frame, dataset=cfg.dataset, cfg=cfg.features, target=TARGET, label_time=LABEL_TIME
    )
    spec = features.feature_spec(
        numeric=list(state["numeric"]),
        categorical={c: s["levels"] for c, s in state["categorical"].items()},
        engineered=list(engineered.columns),
    )
    write_json(spec, model_dir / "features.json")
    write_table(pd.concat([frame, engineered], axis=1), cfg.paths.features)


if __name__ == "__main__":
    run_stage("features", task)
