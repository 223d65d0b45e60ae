"""Splitting: validated partitions + delayed labels -> one table with a split column (labels
joined at the time they became known; conflicts and unknown ids counted). Used by the `split`
DVC stage."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from loopline import split
from loopline.config import Config
from loopline.io import read_table, write_table
from loopline.labels import check_both_classes
from loopline.services import ServiceError

log = logging.getLogger(__name__)


def _concat(folder: Path) -> pd.DataFrame | None:
    files = sorted(folder.glob("*.parquet"))
    return pd.concat([read_table(f) for f in files], ignore_index=True) if files else None


def split_rows(cfg: Config) -> dict:
    """Join the delayed labels, split train/valid/test (by time when there is one), write the
    split table; return the report (split.json)."""
    joined, label_report = _joined(cfg)  # the partitions read are released here
    if cfg.dataset.time_column:
        joined = joined.sort_values(cfg.dataset.time_column, kind="stable", ignore_index=True)
    try:
        joined[split.SPLIT] = split.assign_split(
            joined, time_column=cfg.dataset.time_column, cfg=cfg.split, seed=cfg.seed
        )
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    write_table(joined, cfg.paths.split)
    return {"labels": label_report, "splits": split.split_report(joined, cfg.dataset.time_column)}


def _joined(cfg: Config) -> tuple[pd.DataFrame, dict]:
    """Return the accepted applications with their labels joined, and the label report;
    raise ServiceError when there is nothing to train on or one class only."""
    validated = Path(cfg.paths.validated)
    apps = _concat(validated / "applications")
    if apps is None or apps.empty:
        raise ServiceError(f"no accepted rows under {validated}/applications: nothing to train on")
    labels = _concat(validated / "labels") if cfg.dataset.labels is not None else None
    if cfg.dataset.labels is not None and labels is None:
        raise ServiceError(f"dataset {cfg.dataset.name} expects label batches; none were accepted")
    joined, label_report = split.join_labels(apps, labels, cfg.dataset)
    source = labels if labels is not None else apps
    try:
        check_both_classes(
            joined[split.TARGET].to_numpy(),
            dataset_name=cfg.dataset.name,
            target=cfg.dataset.target,
            positive=cfg.dataset.positive_label,
            seen=sorted(map(str, source[cfg.dataset.target].dropna().unique())),
        )
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return joined, label_report
