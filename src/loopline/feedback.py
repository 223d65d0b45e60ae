"""Stage 9, feedback: a batch of delayed labels -> an immutable partition joined to the log.

`loopline feedback LABELS_FILE` reads a label batch (CSV or JSONL: id, outcome, observation
time), validates it with the same label contract the pipeline uses, joins it to the prediction
log, and publishes one partition folder under `paths.feedback`:

* `labels.parquet`: the labels kept (canonical id, target, observed_at);
* `applications.parquet`: the served applications as logged (raw inputs, as text) that no
  earlier partition holds, up to the batch's latest observation time, labelled or not, so
  retraining sees the same per-customer history the service saw;
* `predictions.parquet`: each kept label with the score, decision and model version it was
  served with (what monitoring's realised performance reads);
* `rejected.parquet`: label rows not kept, each with its reasons;
* `meta.json`: the input file's sha256, counts per reason, time range.

A partition is written to a temporary folder and renamed into place, so it appears whole or
not at all, and is never modified afterwards. Its name carries the file's content hash: the
same batch fed twice is recognised and changes nothing. Labels are never silently dropped:
unknown applications, conflicts within the batch or with earlier feedback, duplicates and
labels observed before the application are rejected with a reason and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopline import ingest
from loopline.config import DatasetConfig, SourceConfig
from loopline.io import (
    DataFileError,
    atomic_directory,
    file_sha256,
    read_batch_file,
    read_json,
    read_table,
    write_json,
    write_table,
)
from loopline.labels import conflicting_ids
from loopline.schemas import labels_schema
from loopline.validate import REASONS, BatchContext, check_batch

META = "meta.json"
LOGGED = ("request_id", "logged_at", "model_version", "bundle_id", "score", "decision")


@dataclass
class FeedbackResult:
    partition: Path | None  # the partition holding this batch (new, or the earlier one);
    # None when no label was kept: an empty batch publishes nothing
    already_ingested: bool
    report: dict[str, Any]


def partitions(root: Path) -> list[Path]:
    """Return the published partitions under a feedback folder, oldest name first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / META).exists())


BATCH_PREFIX = "feedback/"  # batch keys of feedback partitions start with this


def batch_key(part: Path, table: str) -> str:
    """Return the batch key under which the pipeline ingests a partition's table; its period
    (the month in the partition's name) is when the partition's labels count as known."""
    return f"{BATCH_PREFIX}{part.name}/{table}.parquet"


def published_labels(root: Path, dataset: DatasetConfig, skip: set[str]) -> pd.DataFrame:
    """Return the labels of published partitions not in `skip` (names), with `_as_of`: when
    each partition's labels became known, as the pipeline's ingestion dates them."""
    frames = []
    for part in partitions(root):
        if part.name in skip:
            continue
        labels = read_table(part / "labels.parquet")
        as_of = ingest.batch_as_of(batch_key(part, "labels"), dataset.batch_period_regex)
        labels[ingest.AS_OF] = pd.Series(as_of, index=labels.index, dtype="datetime64[ns]")
        labels["_partition"] = part.name
        frames.append(labels)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_labels(
    path: Path, dataset: DatasetConfig
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Return (accepted, rejected with reasons, counts) of one label file, validated."""
    raw = read_batch_file(path, SourceConfig())  # label files come in the canonical dialect
    key, target = dataset.id_column, dataset.target

    def conflicting(frame: pd.DataFrame) -> pd.Series:
        """Conflicting outcomes for one id inside the batch: none of them can be trusted."""
        present = frame[[key, target]].dropna()
        hit = (
            frame[key]
            .astype("str")
            .isin(conflicting_ids(present[key].astype("str"), present[target]))
        )
        return pd.Series(np.where(hit, f"{target}:conflicting_in_batch", None), index=frame.index)

    checked = check_batch(
        raw,
        BatchContext(
            schema=labels_schema(dataset),
            source=SourceConfig(),
            source_key="feedback",
            file_name=path.name,
            na_values=dataset.na_values,
            period_regex=None,
            id_column=key,
            time_column=dataset.labels.observed_at,
        ),
        set_aside=conflicting,
    )
    frame, outcome = checked.normalised.frame, checked.result
    accepted = outcome.accepted
    rejected = pd.concat([outcome.quarantined, checked.set_aside], ignore_index=True)
    counts = {"rows_in": len(frame), "malformed": len(raw.malformed)}
    return accepted.reset_index(drop=True), rejected, counts


def earlier_labels(root: Path, dataset: DatasetConfig) -> pd.Series:
    """Return id -> outcome (as text) of every label kept by earlier partitions."""
    frames = [read_table(p / "labels.parquet") for p in partitions(root)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.Series(dtype="str")
    labels = pd.concat(frames, ignore_index=True)
    return pd.Series(
        labels[dataset.target].astype("str").to_numpy(),
        index=labels[dataset.id_column].astype("str").to_numpy(),
    )


def earlier_applications(root: Path, dataset: DatasetConfig) -> set[str]:
    """Return the ids of applications earlier partitions hold."""
    ids: set[str] = set()
    for part in partitions(root):
        apps = read_table(part / "applications.parquet", columns=[dataset.id_column])
        ids.update(apps[dataset.id_column].dropna().astype("str").to_numpy(dtype=object))
    return ids


def application_times(values: pd.Series) -> pd.Series:
    """Parse logged application times (datetimes, or ISO text from REST) as naive datetimes."""
    out = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    return out.dt.tz_localize(None).astype("datetime64[ns]")


def history_times(validated_dir: str | Path, dataset: DatasetConfig) -> dict[str, Any]:
    """Return id -> application time of the applications the pipeline already holds.

    Labels for them have no logged prediction; their time still decides whether a label was
    observed before its application.
    """
    times: dict[str, Any] = {}
    columns = [c for c in (dataset.id_column, dataset.time_column) if c]
    for path in sorted((Path(validated_dir) / "applications").glob("*.parquet")):
        frame = read_table(path, columns=columns).dropna(subset=[dataset.id_column])
        when = (
            frame[dataset.time_column]
            if dataset.time_column
            else pd.Series(pd.NaT, index=frame.index)
        )
        times.update(zip(frame[dataset.id_column].astype("str"), when, strict=True))
    return times


def join(
    labels: pd.DataFrame,
    log: pd.DataFrame,
    earlier: pd.Series,
    dataset: DatasetConfig,
    history: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (labels joined to their logged prediction, rejected labels with reasons).

    A label is known when its application was served (in the log) or is in the pipeline's
    history (`history`: id -> time of applications from before serving, which have no logged
    prediction). Either way, a label observed before its application is rejected.
    """
    history = history or {}
    key, target, observed = dataset.id_column, dataset.target, dataset.labels.observed_at
    logged_key, logged_time = f"input.{key}", f"input.{dataset.time_column}"
    if log.empty:
        log = pd.DataFrame({c: [] for c in (logged_key, logged_time, *LOGGED)})
    served = log.drop_duplicates(logged_key, keep="first").set_index(logged_key)
    ids = labels[key].astype("str")
    text = labels[target].astype("str")
    reasons = pd.Series(None, index=labels.index, dtype="object")
    served_ids = set(served.index.astype("str"))
    known = pd.Series(
        [i in served_ids or i in history for i in ids.to_numpy(dtype=object)], index=ids.index
    )
    reasons[~known] = f"{key}:unknown_application"
    before = earlier.reindex(ids.to_numpy()).to_numpy()
    seen = pd.notna(before)
    same = seen & (before == text.to_numpy())
    reasons[seen & same & reasons.isna()] = f"{key}:duplicate_of_earlier_feedback"
    reasons[seen & ~same & reasons.isna()] = f"{target}:conflicts_with_earlier_feedback"
    joined = labels.copy()
    for column in LOGGED:
        joined[column] = ids.map(served[column]).to_numpy() if column in served else None
    joined["applied_at"] = application_times(ids.map(served[logged_time]))
    if history:  # applications known from the pipeline's history, not from the log
        from_history = application_times(ids.map(pd.Series(history, dtype="object")))
        joined["applied_at"] = joined["applied_at"].fillna(from_history)
    if dataset.amount_column and f"input.{dataset.amount_column}" in served:
        amount = ids.map(served[f"input.{dataset.amount_column}"])
        joined["amount"] = pd.to_numeric(amount, errors="coerce")
    early = joined[observed] < joined["applied_at"]
    reasons[early.to_numpy() & reasons.isna()] = f"{observed}:before_application"
    bad = reasons.notna().to_numpy()
    rejected = labels[bad].assign(**{REASONS: reasons[bad].to_numpy()})
    return joined[~bad].reset_index(drop=True), rejected


def logged_inputs(log: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return the logged raw inputs as text (what a batch file holds), one row per application."""
    out = {}
    for column in columns:
        values = log.get(f"input.{column}")
        if values is None:
            out[column] = pd.Series(None, index=log.index, dtype="str")
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.dt.strftime("%Y-%m-%dT%H:%M:%S").astype("str")
        else:
            text = values.astype("str")
            out[column] = text.where(values.notna(), None)
    return pd.DataFrame(out, index=log.index).reset_index(drop=True)


def ingest_feedback(
    path: str | Path,
    *,
    dataset: DatasetConfig,
    log: pd.DataFrame,
    root: str | Path,
    schema_columns: list[str],
    history: Mapping[str, Any] | None = None,
) -> FeedbackResult:
    """Validate a label file, join it to the log, publish its partition (or find the earlier)."""
    path, root = Path(path), Path(root)
    if dataset.labels is None or not dataset.id_column or not dataset.time_column:
        raise DataFileError(
            f"dataset {dataset.name!r} has its target in the rows: there are no delayed labels "
            "to feed back (feedback needs dataset.labels, id_column and time_column)"
        )
    digest = file_sha256(path)
    for part in partitions(root):
        meta = read_json(part / META)
        if meta.get("sha256") == digest:
            return FeedbackResult(part, True, meta)
    labels, rejected, counts = read_labels(path, dataset)
    earlier = earlier_labels(root, dataset)
    joined, refused = join(labels, log, earlier, dataset, history)
    rejected = pd.concat([rejected, refused], ignore_index=True)
    observed = dataset.labels.observed_at
    key = dataset.id_column
    label_columns = [key, dataset.target, observed]
    until = joined[observed].max() if len(joined) else None
    apps = log.drop_duplicates(f"input.{key}", keep="first") if len(log) else log
    if until is not None and len(apps):
        times = application_times(apps[f"input.{dataset.time_column}"])
        held = earlier_applications(root, dataset)
        ids = apps[f"input.{key}"].astype("str").to_numpy(dtype=object)
        new = np.array([i not in held for i in ids], dtype=bool)
        apps = apps[new & (times <= until).to_numpy()]
    else:
        apps = apps.iloc[:0]
    report = {
        "file": path.name,
        "sha256": digest,
        **counts,
        "kept": len(joined),
        "rejected": len(rejected),
        "reasons": _reason_counts(rejected),
        "applications": len(apps),
        "observed_from": None if until is None else str(joined[observed].min()),
        "observed_to": None if until is None else str(until),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if joined.empty:  # nothing to learn from: no partition, no `dvc add` of an empty folder
        return FeedbackResult(None, False, report)
    month = pd.Timestamp(until).strftime("%Y-%m")
    final = root / f"{month}_{digest[:12]}"
    with atomic_directory(final) as tmp:  # the partition appears whole
        write_table(joined[label_columns], tmp / "labels.parquet")
        write_table(joined, tmp / "predictions.parquet")
        write_table(logged_inputs(apps, schema_columns), tmp / "applications.parquet")
        write_table(_text_reasons(rejected), tmp / "rejected.parquet")
        write_json(report, tmp / META)
    return FeedbackResult(final, False, report)


def realised(root: str | Path) -> pd.DataFrame:
    """Return every kept label joined to its logged prediction, over all partitions."""
    frames = [read_table(p / "predictions.parquet") for p in partitions(Path(root))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _reason_counts(rejected: pd.DataFrame) -> dict[str, int]:
    if rejected.empty:
        return {}
    reasons = rejected[REASONS].astype("str").str.split(";").explode()
    return {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()}


def _text_reasons(rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows with every value as text (rows that failed parsing have mixed types)."""
    return rejected.astype("str").where(rejected.notna(), None) if len(rejected) else rejected
