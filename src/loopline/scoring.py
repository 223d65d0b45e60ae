"""Batch scoring's core, with no file I/O: raw chunks -> scores, decisions and reasons.

Each chunk of a batch file (`io.chunks.read_chunks`) goes through the pipeline's own steps:
`validate.check_batch` (normalise, then validate) -> `Bundle.score_frame` on the accepted rows.
`score_batches` is that core; `scored_rows`, `quarantine_rows` and `log_rows` shape a scored
chunk into the output, quarantine and prediction-log rows. Reading the file, writing those rows
and the prediction log is the scoring service's (`loopline.services.scoring.score_file`).

Chunking does not change the result for a file in time order (as batch exports are):

- the chunk readers keep `io.read_batch_file`'s record numbers and malformed-record rules, and
  refuse a file that cannot be decompressed or decoded before any row is scored;
- ids are checked for duplicates across the whole file (the first occurrence wins, reason
  `<id>:duplicate` as in a single `validate_batch` call);
- entity-history features see the bundle's history plus the accepted rows of earlier chunks,
  as `score_frame` on the whole file would. (In a file out of time order, an application of a
  later chunk dated before a same-entity application of an earlier chunk is missing from the
  earlier one's history, where one whole-file call would count it.)

One other difference from one whole-file call, for malformed files only: JSONL required columns
are checked on the first chunk that has records (a key absent from all of them stops the file
although later lines have it). JSONL values are kept as decoded (`io.json_frame`), so a chunk's
values do not depend on the other records in it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from loopline import ingest
from loopline.bundle import Bundle
from loopline.config import SourceConfig
from loopline.io import SOURCE_ROW, DataFileError, RawBatch
from loopline.validate import (
    REASONS,
    BatchContext,
    SeenIds,
    check_batch,
    check_required_columns,
)

SCORE_COLUMNS = ["score", "decision", "decided_by", "reasons"]


# ------------------------------------------------------------------------------ scoring


@dataclass
class ScoredChunk:
    """One chunk's outcome: accepted rows with their scores, quarantined rows, and counts."""

    accepted: pd.DataFrame  # validated canonical rows with lineage (what was scored)
    scores: pd.DataFrame  # Bundle.score_frame of `accepted`, same index
    quarantined: pd.DataFrame  # canonical rows with lineage and _reasons
    report: dict[str, Any]  # validate_batch's report (rows_in, accepted, quarantined, rules)
    columns: list[str]  # the chunk's columns as written in the file
    extra_columns: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def score_batches(
    chunks: Iterable[RawBatch],
    *,
    bundle: Bundle,
    source_key: str,
    source: SourceConfig,
    file_name: str,
) -> Iterator[ScoredChunk]:
    """Yield each raw chunk normalised, validated across the file, and its accepted rows scored.

    Raises DataFileError for a file with no header and no rows, ValidationStopError when
    required columns are missing (checked on the first chunk that has columns).
    """
    dataset, schema = bundle.dataset, bundle.schema
    id_column = dataset.id_column if dataset.id_column in schema.names else None
    scorer = _HistoryCarrier(bundle)
    seen = SeenIds()
    columns_checked, first = False, True
    context = BatchContext(
        schema=schema,
        source=source,
        source_key=source_key,
        file_name=file_name,
        na_values=dataset.na_values,
        period_regex=dataset.batch_period_regex,
        id_column=id_column,
        time_column=dataset.time_column,
    )
    iterator = iter(chunks)
    while True:
        started = time.perf_counter()
        raw = next(iterator, None)
        if raw is None:
            break
        timings = {"read": time.perf_counter() - started}
        checked = check_batch(
            raw,
            context,
            seen_ids=seen,
            first=first,
            require_columns=not columns_checked and bool(raw.columns),
        )
        first, columns_checked = False, columns_checked or bool(raw.columns)
        normalised, result = checked.normalised, checked.result
        timings |= checked.timings
        started = time.perf_counter()
        quarantined, report = _same_file_duplicates(result.quarantined, result.report, id_column)
        if id_column:
            for part in (result.accepted, result.quarantined):
                seen.add(part[id_column])
        timings["validate"] += time.perf_counter() - started
        started = time.perf_counter()
        scores = scorer.score(result.accepted)
        timings["score"] = time.perf_counter() - started
        yield ScoredChunk(
            accepted=result.accepted,
            scores=scores,
            quarantined=quarantined,
            report=report,
            columns=raw.columns,
            extra_columns=normalised.extra_columns,
            timings=timings,
        )
    if first:
        raise DataFileError(f"{file_name}: the file is empty (no header, no rows)")
    if not columns_checked:  # every record was malformed: no column is present
        check_required_columns(list(schema.required), file_name=file_name, present=[])


def _same_file_duplicates(
    quarantined: pd.DataFrame, report: dict[str, Any], id_column: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Name a duplicate of an earlier chunk `<id>:duplicate`, as one whole-file call would."""
    if not id_column or not len(quarantined):
        return quarantined, report
    earlier, same = f"{id_column}:duplicate_of_earlier_batch", f"{id_column}:duplicate"
    hit = quarantined[REASONS].str.contains(earlier, regex=False)
    if not hit.any():
        return quarantined, report
    quarantined = quarantined.copy()
    quarantined.loc[hit, REASONS] = [
        ";".join(dict.fromkeys(same if r == earlier else r for r in text.split(";")))
        for text in quarantined.loc[hit, REASONS]
    ]
    rules = Counter(r for text in quarantined[REASONS] for r in text.split(";"))
    report = {**report, "rules": dict(sorted(rules.items(), key=lambda kv: -kv[1]))}
    return quarantined, report


class _HistoryCarrier:
    """Scores chunks with the bundle, each chunk's entity history including earlier chunks.

    `Bundle.score_frame` counts a row's same-entity applications in the bundle's history plus
    the frame itself; one history index (a copy of the bundle's) that each scored chunk's new
    applications are merged into gives every chunk what one call on the whole file would, at
    a cost that grows with the chunk, not with the file read so far.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        d = bundle.dataset
        carry = bundle.history is not None and bool(d.entity_column and d.time_column)
        self.index = bundle.history_index().copy() if carry else None

    def score(self, accepted: pd.DataFrame) -> pd.DataFrame:
        """Return score_frame of a chunk's accepted rows, which then count as history."""
        if not len(accepted):
            return _empty_scores(self.bundle)
        return self.bundle.score_frame(accepted, history=self.index)


def _empty_scores(bundle: Bundle) -> pd.DataFrame:
    columns = {c: pd.Series(dtype="str") for c in ("decision", "decided_by")}
    return pd.DataFrame(
        {
            "score": pd.Series(dtype="float32"),
            **columns,
            "reasons": pd.Series(dtype="object"),
            **{f"feature.{n}": pd.Series(dtype="float64") for n in bundle.feature_names},
        }
    )


# ------------------------------------------------------------------------------ outputs


def scored_rows(chunk: ScoredChunk, *, id_column: str | None) -> pd.DataFrame:
    """Return the output rows of a chunk: id, _source_row, score, decision, decided_by, reasons."""
    accepted, scores = chunk.accepted, chunk.scores
    columns: dict[str, Any] = {}
    if id_column:
        columns[id_column] = accepted[id_column].to_numpy()
    columns[SOURCE_ROW] = accepted[SOURCE_ROW].to_numpy(dtype="int64")
    for name in SCORE_COLUMNS:
        columns[name] = scores[name].to_numpy()
    return pd.DataFrame(columns)


def quarantine_rows(chunk: ScoredChunk, *, schema_names: list[str]) -> pd.DataFrame:
    """Return a chunk's quarantined rows: _source_row, canonical columns, _raw and _reasons."""
    return chunk.quarantined[[SOURCE_ROW, *schema_names, ingest.RAW, REASONS]]


def log_rows(
    chunk: ScoredChunk,
    *,
    bundle: Bundle,
    model_version: str,
    batch_id: str,
    logged_at: datetime,
) -> pd.DataFrame:
    """Return a chunk's scored rows as flat prediction-log records (predlog's batch layout)."""
    accepted, scores = chunk.accepted, chunk.scores
    id_column = bundle.dataset.id_column
    if id_column and id_column in accepted.columns:
        keys = accepted[id_column].astype("str").to_numpy(dtype=object)
    else:
        keys = np.char.add("row", accepted[SOURCE_ROW].to_numpy().astype("str")).astype(object)
    n = len(accepted)
    core = pd.DataFrame(
        {
            "request_id": [f"{batch_id}:{key}" for key in keys],
            "logged_at": pd.Series([logged_at] * n, dtype="datetime64[ns, UTC]"),
            "source": "batch",
            "model_version": model_version,
            "bundle_id": bundle.bundle_id,
            "score": scores["score"].to_numpy(dtype="float64"),
            "decision": scores["decision"].to_numpy(),
            "reasons": scores["reasons"].to_numpy(),
        }
    )
    inputs = accepted[bundle.schema.names].add_prefix("input.").reset_index(drop=True)
    features = scores[[c for c in scores.columns if c.startswith("feature.")]]
    features = features.reset_index(drop=True)
    return pd.concat([core, inputs, features], axis=1)
