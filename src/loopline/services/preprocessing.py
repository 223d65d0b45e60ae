"""Preprocessing: imputation, clipping and category levels fitted on the train split, applied to
every row; writes the state (preprocess.json) and the preprocessed table. Used by the
`preprocess` DVC stage."""

from __future__ import annotations

from pathlib import Path

from loopline import preprocess
from loopline.config import Config
from loopline.io import read_table, write_table
from loopline.io.artifacts import ModelDir
from loopline.schemas import table_schema
from loopline.split import SPLIT


def preprocess_rows(cfg: Config) -> preprocess.PreprocessState:
    """Fit the preprocessing state on the train rows, write it and every row transformed;
    return the state."""
    frame = read_table(cfg.paths.split)
    numeric, categorical = preprocess.model_columns(
        table_schema(cfg.dataset.schema_path), cfg.dataset
    )
    state = preprocess.fit(
        frame[frame[SPLIT] == "train"], numeric=numeric, categorical=categorical, cfg=cfg.preprocess
    )
    ModelDir(Path(cfg.paths.model_dir), cfg.artifacts).write_state(state)
    write_table(preprocess.apply(frame, state), cfg.paths.preprocessed)
    return state
