"""Batch scoring of one file: read it chunk by chunk (`io.chunks`), score each chunk
(`loopline.scoring.score_batches`), write the scored and quarantined rows (`io.tables`), append
the prediction log and its data-quality record (`io.predlog`). Used by `loopline score` and
`loopline loop`.

A file that cannot be scored at all (unreadable, required columns missing) leaves neither output
file behind.
"""

from __future__ import annotations

import gc
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from loopline.bundle import Bundle
from loopline.config import SourceConfig
from loopline.io import DataFileError, write_json
from loopline.io.chunks import estimate_records, read_chunks
from loopline.io.predlog import QUALITY_PREFIX
from loopline.io.tables import TableWriter, output_format
from loopline.scoring import ScoredChunk, log_rows, quarantine_rows, score_batches, scored_rows

STEPS = ("read", "normalise", "validate", "score", "write", "log")


@dataclass(frozen=True)
class ScoringOptions:
    """How a file is read and logged: its source's dialect, chunk size, log, progress bar."""

    source_key: str = "canonical"
    source: SourceConfig = field(default_factory=SourceConfig)
    chunk_rows: int = 100_000
    log_dir: Path | None = None  # the prediction log's folder; None: nothing is logged
    progress: bool = True


@dataclass
class ScoreSummary:
    """What scoring one file did: counts, per-rule counts, where things went, time per step."""

    input: Path
    output: Path
    quarantine: Path
    source: str
    bundle_id: str
    rows_read: int = 0
    scored: int = 0
    quarantined: int = 0
    chunks: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    unknown_categories: dict[str, Counter[str]] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)
    batch_id: str | None = None  # the prediction log's batch id (None: not logged)
    logged: int = 0
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))

    @property
    def exit_code(self) -> int:
        """0 when every row was scored, 1 when some were quarantined."""
        return 1 if self.quarantined else 0


def quarantine_path(output: str | Path) -> Path:
    """Return `<stem>.quarantine.<ext>` beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.quarantine{output.suffix}")


def new_batch_id(input_path: str | Path) -> str:
    """Return a prediction-log batch id: the input's stem (made safe) and a random suffix."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(input_path).stem).strip("_.-") or "batch"
    return f"{stem[:60]}-{uuid.uuid4().hex[:12]}"


def score_file(
    input_path: str | Path,
    output: str | Path,
    *,
    bundle: Bundle,
    model_version: str,
    options: ScoringOptions | None = None,
) -> ScoreSummary:
    """Score a batch file into OUTPUT and its quarantine file; log scored rows unless the
    options have no log_dir.

    Raises DataFileError / ValidationStopError / ValueError when the file cannot be scored at
    all; then neither output file is left behind.
    """
    from tqdm import tqdm

    from loopline.io.predlog import PredictionLog

    options = options or ScoringOptions()
    input_path, output, source = Path(input_path), Path(output), options.source
    log_dir = None if options.log_dir is None else Path(options.log_dir)
    output_format(output)
    if not input_path.is_file():
        raise DataFileError(f"{input_path}: file not found")
    if output.resolve() == input_path.resolve():
        raise ValueError(f"{output}: the output would overwrite the input")
    summary = ScoreSummary(
        input=input_path,
        output=output,
        quarantine=quarantine_path(output),
        source=options.source_key,
        bundle_id=bundle.bundle_id,
    )
    id_column = bundle.dataset.id_column
    id_column = id_column if id_column in bundle.schema.names else None
    log: PredictionLog | None = None  # opened (the folder created) once there is a row to log
    summary.batch_id = new_batch_id(input_path) if log_dir is not None else None
    writers = (TableWriter(summary.output), TableWriter(summary.quarantine))
    progress = options.progress
    total = estimate_records(input_path, source=source) if progress else None
    bar = tqdm(total=total, desc=f"scoring {input_path.name}", unit="rows", disable=not progress)
    chunks = read_chunks(input_path, source=source, chunk_rows=options.chunk_rows)
    time_column = bundle.dataset.time_column
    latest = None  # the latest accepted application time: which period the batch belongs to
    collecting = gc.isenabled()
    gc.disable()  # a chunk creates a list (reasons) per row: see the gc.collect() below
    try:
        for chunk in score_batches(
            chunks,
            bundle=bundle,
            source_key=options.source_key,
            source=source,
            file_name=input_path.name,
        ):
            started = time.perf_counter()
            writers[0].write(scored_rows(chunk, id_column=id_column))
            writers[1].write(quarantine_rows(chunk, schema_names=bundle.schema.names))
            chunk.timings["write"] = time.perf_counter() - started
            if summary.batch_id is not None and len(chunk.accepted):
                started = time.perf_counter()
                log = log or PredictionLog(log_dir)
                flat = log_rows(
                    chunk,
                    bundle=bundle,
                    model_version=model_version,
                    batch_id=summary.batch_id,
                    logged_at=datetime.now(UTC),
                )
                log.write_batch(flat, batch_id=summary.batch_id)
                summary.logged += len(flat)
                chunk.timings["log"] = time.perf_counter() - started
            _add(summary, chunk)
            if time_column and len(chunk.accepted):
                top = chunk.accepted[time_column].max()
                latest = top if latest is None or top > latest else latest
            bar.update(chunk.report["rows_in"])
            gc.collect()  # once per chunk, not every few thousand of its million small objects
            pa.default_memory_pool().release_unused()  # the chunk's Arrow buffers, to the OS
        writers[0].close()
        writers[1].close()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        bar.close()
        if collecting:
            gc.enable()
    if summary.rows_read != summary.scored + summary.quarantined:  # a broken invariant is a bug
        raise AssertionError(
            f"{summary.rows_read} rows read but {summary.scored} scored and "
            f"{summary.quarantined} quarantined"
        )
    if summary.batch_id is not None:
        write_quality_record(log_dir, summary, latest)
    return summary


def write_quality_record(log_dir: Path, summary: ScoreSummary, latest: Any) -> Path:
    """Record what a batch's validation did (rows in, quarantined, rules) for monitoring."""
    path = log_dir / f"{QUALITY_PREFIX}{summary.batch_id}.json"
    record = {
        "batch_id": summary.batch_id,
        "input": summary.input.name,
        "logged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows_in": summary.rows_read,
        "quarantined": summary.quarantined,
        "rules": dict(summary.rules),
        "applied_to": None if latest is None or pd.isna(latest) else str(latest),
    }
    write_json(record, path)
    return path


def _add(summary: ScoreSummary, chunk: ScoredChunk) -> None:
    report = chunk.report
    summary.chunks += 1
    summary.rows_read += report["rows_in"]
    summary.scored += report["accepted"]
    summary.quarantined += report["quarantined"]
    summary.rules.update(report["rules"])
    for column, counts in report["unknown_categories"].items():
        summary.unknown_categories.setdefault(column, Counter()).update(counts)
    summary.extra_columns = sorted({*summary.extra_columns, *chunk.extra_columns})
    summary.decisions.update(chunk.scores["decision"].to_numpy(dtype=object))
    for step, seconds in chunk.timings.items():
        summary.timings[step] = summary.timings.get(step, 0.0) + seconds


def summary_lines(summary: ScoreSummary) -> list[str]:
    """Return the one-line summary and the per-rule counts, as the CLI prints them."""
    decisions = ", ".join(f"{k} {v}" for k, v in sorted(summary.decisions.items()))
    lines = [
        f"{summary.input}: {summary.rows_read} rows read, {summary.scored} scored, "
        f"{summary.quarantined} quarantined (source {summary.source}, bundle {summary.bundle_id})"
        + (f"; {decisions}" if decisions else "")
    ]
    lines += [f"  {count:>7}  {rule}" for rule, count in summary.rules.most_common()]
    for column, values in summary.unknown_categories.items():
        lines.append(f"  unknown {column} accepted as __unknown__: {dict(values)}")
    if summary.extra_columns:
        lines.append(f"  extra columns ignored: {', '.join(summary.extra_columns)}")
    lines.append(f"  scores: {summary.output}; quarantined rows: {summary.quarantine}")
    if summary.batch_id:
        lines.append(f"  prediction log: {summary.logged} records, batch {summary.batch_id}")
    spent = ", ".join(f"{step} {seconds:.2f}s" for step, seconds in summary.timings.items())
    lines.append(f"  time: {spent} ({summary.chunks} chunks)")
    return lines
