"""The service's per-customer history, kept up to date beyond the bundle (issue 10).

A bundle's history holds what the pipeline knew when it was built. Since then the service (and
`loopline score`) served applications, and `loopline feedback` published labels. Both count in
the pipeline's next run, so the service counts them too, and a restart or a model swap loses
none of them:

- `restore` (at every load: start or swap) adds every application of the prediction log, once
  per application id, with its canonical values (the bundle's own validator), then every label
  published so far;
- `HistoryFollower.poll` (called by the champion watcher) adds the labels of partitions
  published while serving.

A positive label counts from the time it became known (`split.known_at`: its partition's
period, as the pipeline's ingestion dates it), the rule the pipeline's features use.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline import feedback
from loopline.bundle import Bundle
from loopline.io.predlog import INPUT_PREFIX, read_log
from loopline.labels import outcome
from loopline.split import known_at

log = logging.getLogger(__name__)


def restore(
    bundle: Bundle, log_dir: Path, feedback_dir: Path | None, *, since: datetime | None = None
) -> HistoryFollower:
    """Add the logged applications (logged from `since`, or all) and the published labels the
    bundle's history lacks; return the follower that picks up later segments and partitions."""
    follower = HistoryFollower(bundle, log_dir, feedback_dir)
    follower.read_log(since=since)
    follower.poll()
    log.info(
        "history brought up to date: %d logged applications, %d fed-back labels",
        follower.applications,
        follower.labels,
    )
    return follower


class HistoryFollower:
    """Keeps a bundle's history up to date: batch segments other processes log (`loopline
    score`) and the positive labels of feedback partitions, each learnt once."""

    def __init__(self, bundle: Bundle, log_dir: Path, feedback_dir: Path | None) -> None:
        self.bundle = bundle
        self.log_dir = log_dir
        self.feedback_dir = feedback_dir
        self.partitions: set[str] = set()  # feedback partitions already learnt
        self.segments: set[str] = set()  # batch segments already learnt (immutable files)
        self.applications = 0  # logged applications added
        self.labels = 0  # labels added

    def read_log(self, *, since: datetime | None = None, batch_only: bool = False) -> int:
        """Add the logged applications the history lacks; return how many were added."""
        history, d = self.bundle.history, self.bundle.dataset
        if history is None or not self.log_dir.is_dir():
            return 0
        names = [c for c in (d.id_column, d.entity_column, d.time_column) if c]
        skip = self.segments | (_online_segments(self.log_dir) if batch_only else set())
        read = read_log(
            self.log_dir, since=since, columns=[f"{INPUT_PREFIX}{c}" for c in names], skip=skip
        )
        self.segments.update(n for n in read.names if n.startswith("batch-"))
        added = 0
        for record in read.frame.set_axis(names, axis=1).to_dict("records"):
            record = {k: _plain(v) for k, v in record.items()}
            raw_id = record.get(d.id_column) if d.id_column else None
            if raw_id is not None and str(raw_id).strip() in history:
                continue  # already known: skip the validator
            values, _ = self.bundle.validator.validate(record)
            added += history.add_application(
                values.get(d.entity_column),
                values.get(d.time_column),
                values.get(d.id_column) if d.id_column else None,
            )
        self.applications += added
        return added

    def poll(self) -> int:
        """Learn new batch segments, then partitions published since the last poll; return
        the labels added."""
        self.read_log(batch_only=True)
        history, d = self.bundle.history, self.bundle.dataset
        if history is None or d.labels is None or not d.id_column or self.feedback_dir is None:
            return 0
        labels = feedback.published_labels(self.feedback_dir, d, self.partitions)
        if labels.empty:
            return 0
        self.partitions.update(labels["_partition"].unique())
        positive = outcome(labels[d.target], d.positive_label) == 1.0
        labels = labels[positive]
        when = known_at(labels, d.labels.observed_at)
        ids = labels[d.id_column].astype("str").to_numpy(dtype=object)
        added = sum(history.add_label(i, t) for i, t in zip(ids, when, strict=True))
        self.labels += added
        return added


def _online_segments(log_dir: Path) -> set[str]:
    """Online segments (the service's own records, already in the history as served)."""
    return {p.name for p in log_dir.glob("online-*.jsonl")}


def _plain(value: Any) -> Any:
    """A logged value as the validator takes it (NaN and NaT as missing)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
