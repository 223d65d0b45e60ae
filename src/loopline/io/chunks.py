"""A raw batch file read chunk by chunk (`read_chunks`): batch scoring's input.

The chunk readers keep `read_batch_file`'s record numbers and its malformed-record rules (a CSV
record with the wrong number of fields is quarantined as `record:wrong_field_count`, never
padded or dropped; compression, headerless files and delimiters are `file_dialect`'s), and a
file that cannot be decompressed or decoded is refused before the first chunk is yielded.

JSONL values are kept as decoded (`json_frame`), so a chunk's values do not depend on the other
records in it.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline.config import SourceConfig
from loopline.io.batches import (
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

_BLOCK = 1 << 22  # bytes (or characters) read at a time from a text file
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits on


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
    """The record rules of `read_batch_file` for CSV (`csv_batches`), `chunk_rows` at a time."""
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
    """The record rules of `batches._read_jsonl`, `chunk_rows` non-blank lines at a time."""
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
    """Row batches of a Parquet file, as `batches._read_parquet` reads the whole file."""
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
