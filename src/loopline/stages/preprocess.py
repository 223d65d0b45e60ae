"""DVC stage `preprocess`: fit imputation/clipping/categories on train, apply to every row."""

from __future__ import annotations

from pathlib import Path

from loopline import preprocess
from loopline.config import Config
from loopline.io import read_table, write_table
from loopline.io.artifacts import ModelDir
from loopline.schemas import table_schema
from loopline.split import SPLIT
from loopline.stages import run_stage


def task(cfg: Config) -> None:
    frame = read_table(cfg.paths.split)
    numeric, categorical = preprocess.model_columns(
        table_schema(cfg.dataset.schema_path), cfg.dataset
    )
    state = preprocess.fit(
        frame[frame[SPLIT] == "train"], numeric=numeric, categorical=categorical, cfg=cfg.preprocess
    )
    ModelDir(Path(cfg.paths.model_dir), cfg.artifacts).write_state(state)
    write_table(preprocess.apply(frame, state), cfg.paths.preprocessed)


if __name__ == "__main__":
    run_stage("preprocess", task)
