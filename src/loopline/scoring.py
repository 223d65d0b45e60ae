"""Batch scoring: a raw batch file in any source's dialect -> scores, decisions and reasons.

A file is read chunk by chunk (`read_chunks`), and each chunk goes through the pipeline's own
steps: `validate.check_batch` (normalise, then validate) -> `Bundle.score_frame` on the accepted
rows. `score_batches` is that core, with no file I/O; `score_file` reads, writes the scored and
quarantined rows and appends the prediction log.

Chunking does not change the result for a file in time order (as batch exports are):

- the chunk readers keep `io.read_batch_file`'s record numbers and its malformed-record rules
  (a CSV record with the wrong number of fields is quarantined as `record:wrong_field_count`,
  never padded or dropped; compression, headerless files and delimiters are `io.file_dialect`'s),
  and a file that cannot be decompressed or decoded is refused before any row is scored;
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

import codecs
import copy
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline import ingest
from loopline.bundle import Bundle
from loopline.config import SourceConfig
from loopline.io import (
    SOURCE_ROW,
    DataFileError,
    Dialect,
    RawBatch,
    csv_batches,
    file_dialect,
    json_frame,
    malformed_frame,
    open_binary,
    open_text,
    parquet_input,
    undecodable,
)
from loopline.io.tables import TableWriter, output_format
from loopline.validate import REASONS, BatchContext, check_batch, check_required_columns

SCORE_COLUMNS = ["score", "decision", "decided_by", "reasons"]
STEPS = ("read", "normalise", "validate", "score", "write", "log")
_BLOCK = 1 << 22  # bytes (or characters) read at a time from a text file
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on


# ------------------------------------------------------------------------------ reading


def read_chunks(path: str | Path, *, source: SourceConfig, chunk_rows: int) -> Iterator[RawBatch]:
    """Yield a batch file as RawBatch chunks of at most `chunk_rows` records (at least one)."""
    path = Path(path)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    dialect = file_dialect(path, source)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    if dialect.format == "parquet":
        yield from _parquet_chunks(path, chunk_rows)
        return
    if not _check_text(path, source.encoding):
        yield RawBatch(
            frame=pd.DataFrame({SOURCE_ROW: []}), malformed=malformed_frame([]), columns=[]
        )
    elif dialect.format == "csv":
        yield from _csv_chunks(path, chunk_rows, dialect, source.encoding)
    else:
        yield from _jsonl_chunks(path, chunk_rows, source.encoding)


def estimate_records(path: str | Path, *, source: SourceConfig) -> int | None:
    """Return the number of records of a file (Parquet) or its line count (text), for progress."""
    path = Path(path)
    try:
        if file_dialect(path, source).format == "parquet":
            return pq.ParquetFile(parquet_input(path)).metadata.num_rows
        with open_binary(path) as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(_BLOCK), b""))
    except Exception:  # only a progress-bar total: reading errors are reported by the reader
        return None


def _check_text(path: Path, encoding: str) -> bool:
    """Return whether a file has content, decompressing and decoding it once as read_batch_file.

    Refusing a corrupt or badly encoded file here, before the first chunk, keeps "cannot be
    read" (no output) apart from "some rows quarantined".
    """
    decoder = codecs.getincrementaldecoder(encoding)()  # SourceConfig checked the name
    offset, content, first = 0, False, True
    with open_binary(path) as handle:
        while True:
            block = handle.read(_BLOCK)
            final = not block
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                position = offset + exc.start - (len(exc.object) - len(block))
                raise undecodable(path, encoding, exc.object[exc.start], position) from None
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            content = content or bool(text.strip())
            offset += len(block)
            if final:
                return content


def _csv_chunks(path: Path, chunk_rows: int, dialect: Dialect, encoding: str) -> Iterator[RawBatch]:
    """The record rules of `read_batch_file` for CSV (io.csv_batches), `chunk_rows` at a time."""
    with open_text(path, encoding, newline="\n") as handle:  # splits lines as StringIO does
        lines = iter(handle)
        first = next(lines, "").removeprefix("\ufeff")
        yield from csv_batches(
            _chain_first(first, lines), path=path, dialect=dialect, chunk_rows=chunk_rows
        )


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _text_lines(path: Path, encoding: str) -> Iterator[str]:
    """Yield the lines of a text file exactly as `text.splitlines()` of the whole file would."""
    with open_text(path, encoding, newline="") as handle:  # no newline translation
        carry, first = "", True
        while True:
            block = handle.read(_BLOCK)
            if first:
                block, first = block.removeprefix("\ufeff"), False
            if not block:
                if carry:
                    yield carry.rstrip(_LINE_BREAKS)
                return
            pieces = (carry + block).splitlines(keepends=True)
            carry = pieces.pop()  # may be incomplete, or a "\r" whose "\n" is in the next block
            for piece in pieces:
                yield piece.rstrip(_LINE_BREAKS)


def _jsonl_chunks(path: Path, chunk_rows: int, encoding: str) -> Iterator[RawBatch]:
    """The record rules of io._read_jsonl, `chunk_rows` non-blank lines at a time."""
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    emitted = False
    loads = json.loads
    for number, line in enumerate(_text_lines(path, encoding), start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except ValueError:  # JSONDecodeError, or an integer past Python's 4300-digit limit
            bad.append((number, line[:500], "record:invalid_json"))
        else:
            if isinstance(record, dict):
                records.append(record)
                rows.append(number)
            else:
                bad.append((number, line[:500], "record:not_a_json_object"))
        if len(records) + len(bad) >= chunk_rows:
            yield _jsonl_batch(records, rows, bad)
            records, rows, bad, emitted = [], [], [], True
    if records or bad or not emitted:
        yield _jsonl_batch(records, rows, bad)


def _jsonl_batch(
    records: list[dict[str, Any]], rows: list[int], bad: list[tuple[int, str, str]]
) -> RawBatch:
    frame = json_frame(records)
    columns = list(frame.columns)
    frame.insert(0, SOURCE_ROW, np.asarray(rows, dtype="int64"))
    return RawBatch(frame=frame, malformed=malformed_frame(bad), columns=columns)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[RawBatch]:
    """Row batches of a Parquet file, as io._read_parquet reads the whole file."""
    data = parquet_input(path)  # outside the try: a corrupt archive has its own message
    try:
        handle = pq.ParquetFile(data)
        schema = handle.schema_arrow
        stored_index = {
            c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)
        }
        names = [n for n in schema.names if n not in stored_index]
        columns = [str(n) for n in names]
        offset = 0
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=names):
            frame = pa.Table.from_batches([batch]).to_pandas().reset_index(drop=True)
            frame.columns = columns
            frame.insert(0, SOURCE_ROW, np.arange(offset + 1, offset + len(frame) + 1))
            offset += len(frame)
            yield RawBatch(frame=frame, malformed=malformed_frame([]), columns=columns)
    except (OSError, pa.ArrowException) as exc:  # a corrupt file raises either
        raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
    if offset == 0:
        frame = schema.empty_table().to_pandas().reset_index(drop=True)[names]
        frame.columns = columns
        frame.insert(0, SOURCE_ROW, np.zeros(0, dtype="int64"))
        yield RawBatch(frame=frame, malformed=malformed_frame([]), columns=columns)


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
    seen: set[str] = set()
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
                seen.update(part[id_column].dropna().to_numpy(dtype=object))
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
    the frame itself; a copy of the bundle whose history grows by each scored chunk's new
    applications gives every chunk what one call on the whole file would.

    The carried rows have no id: a history id only stops a batch row that is already in the
    history from being counted twice, and a later chunk never scores an id of an earlier chunk
    (it is quarantined as a duplicate). Without ids, the bundle's per-call id lookup stays the
    size of its own history instead of growing with the file (a 5x cost at a million rows).
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        d = bundle.dataset
        self.carry = bundle.history is not None and bool(d.entity_column and d.time_column)
        self.scorer = copy.copy(bundle) if self.carry else bundle
        self.added: list[pd.DataFrame] = []
        if self.carry:
            rows = bundle.history_rows
            ids = rows.loc[rows["kind"] == "application", "id"].dropna()
            self.known = set(ids.to_numpy(dtype=object))

    def score(self, accepted: pd.DataFrame) -> pd.DataFrame:
        """Return score_frame of a chunk's accepted rows, then remember them as history."""
        if not len(accepted):
            return _empty_scores(self.bundle)
        if self.added:
            self.scorer.history_rows = pd.concat(
                [self.scorer.history_rows, *self.added], ignore_index=True
            )
            self.added = []
        scores = self.scorer.score_frame(accepted)
        if self.carry:
            self._remember(accepted)
        return scores

    def _remember(self, accepted: pd.DataFrame) -> None:
        """Queue a scored chunk's new applications (not already in the history) as history."""
        d = self.bundle.dataset
        present = accepted[d.entity_column].notna() & accepted[d.time_column].notna()
        keep = present.to_numpy(copy=True)
        if d.id_column:  # a set lookup: pandas' isin on arrow strings loops in Python
            ids = accepted[d.id_column].to_numpy(dtype=object)
            keep &= np.fromiter((i not in self.known for i in ids), dtype=bool, count=len(ids))
        rows = pd.DataFrame(
            {
                "entity": accepted.loc[keep, d.entity_column].astype("str"),
                "time": accepted.loc[keep, d.time_column].astype("datetime64[s]"),
                "kind": "application",
                "id": pd.Series(None, index=accepted.index[keep], dtype="str"),
            }
        )
        self.added.append(rows.astype(self.bundle.history_rows.dtypes.to_dict()))


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


def quarantine_path(output: str | Path) -> Path:
    """Return `<stem>.quarantine.<ext>` beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.quarantine{output.suffix}")


# ------------------------------------------------------------------------------ a file


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
    source_key: str = "canonical",
    source: SourceConfig | None = None,
    chunk_rows: int = 100_000,
    log_dir: str | Path | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Score a batch file into OUTPUT and its quarantine file; log scored rows unless no log_dir.

    Raises DataFileError / ValidationStopError / ValueError when the file cannot be scored at
    all; then neither output file is left behind.
    """
    from tqdm import tqdm

    from loopline.io.predlog import PredictionLog

    input_path, output = Path(input_path), Path(output)
    source = source or SourceConfig()
    output_format(output)
    if not input_path.is_file():
        raise DataFileError(f"{input_path}: file not found")
    if output.resolve() == input_path.resolve():
        raise ValueError(f"{output}: the output would overwrite the input")
    summary = ScoreSummary(
        input=input_path,
        output=output,
        quarantine=quarantine_path(output),
        source=source_key,
        bundle_id=bundle.bundle_id,
    )
    id_column = bundle.dataset.id_column
    id_column = id_column if id_column in bundle.schema.names else None
    log: PredictionLog | None = None  # opened (the folder created) once there is a row to log
    summary.batch_id = new_batch_id(input_path) if log_dir is not None else None
    writers = (TableWriter(summary.output), TableWriter(summary.quarantine))
    total = estimate_records(input_path, source=source) if progress else None
    bar = tqdm(total=total, desc=f"scoring {input_path.name}", unit="rows", disable=not progress)
    chunks = read_chunks(input_path, source=source, chunk_rows=chunk_rows)
    time_column = bundle.dataset.time_column
    latest = None  # the latest accepted application time: which period the batch belongs to
    try:
        for chunk in score_batches(
            chunks, bundle=bundle, source_key=source_key, source=source, file_name=input_path.name
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
        writers[0].close()
        writers[1].close()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    finally:
        bar.close()
    if summary.rows_read != summary.scored + summary.quarantined:  # a broken invariant is a bug
        raise AssertionError(
            f"{summary.rows_read} rows read but {summary.scored} scored and "
            f"{summary.quarantined} quarantined"
        )
    if summary.batch_id is not None:
        write_quality_record(Path(log_dir), summary, latest)
    return summary


QUALITY_PREFIX = "quality-"  # per-batch data-quality records beside the log's segments


def write_quality_record(log_dir: Path, summary: ScoreSummary, latest: Any) -> Path:
    """Record what a batch's validation did (rows in, quarantined, rules) for monitoring."""
    from loopline.io import write_json

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
