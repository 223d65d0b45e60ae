"""The one place that reads and writes files.

Raw batch files are read defensively: a wrong encoding or an unreadable file raises
`DataFileError` with a message a person can act on; malformed lines inside an otherwise good
file come back as `malformed` records so that they can be quarantined, never silently lost.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SOURCE_ROW = "_source_row"


class DataFileError(ValueError):
    """A data file cannot be read at all; the message says which file, why, and what to do."""


@dataclass
class RawBatch:
    """A batch file read as text values, with the records that could not be parsed."""

    frame: pd.DataFrame  # one row per record, plus SOURCE_ROW (1-based record number)
    malformed: pd.DataFrame  # SOURCE_ROW, raw, reason
    columns: list[str]  # the header as written in the file


def detect_format(path: Path, declared: str = "auto") -> str:
    """Return csv | jsonl | parquet for a file from its declared format or its extension."""
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    formats = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    formats |= {".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in formats:
        raise DataFileError(
            f"{path}: unknown file type {suffix!r}; use .csv, .jsonl or .parquet "
            "or set the source's `format`"
        )
    return formats[suffix]


def read_batch_file(
    path: str | Path, *, fmt: str = "auto", delimiter: str = ",", encoding: str = "utf-8"
) -> RawBatch:
    """Return a raw batch file's records with every value as written (no type conversion)."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    if not path.exists():
        raise DataFileError(f"{path}: file not found")
    if fmt == "parquet":
        return _read_parquet(path)
    text = _decode(path, encoding)
    if not text.strip():
        return RawBatch(
            frame=pd.DataFrame({SOURCE_ROW: []}), malformed=malformed_frame([]), columns=[]
        )
    if fmt == "csv":
        return _read_csv(path, text, delimiter)
    return _read_jsonl(text)


def _decode(path: Path, encoding: str) -> str:
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{path}: not valid {encoding} (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            f"Re-export the file as {encoding}, or set the source's `encoding` to the one it uses."
        ) from None
    return text.removeprefix("\ufeff")


def malformed_frame(records: list[tuple[int, str, str]]) -> pd.DataFrame:
    """Return malformed records (record number, raw text, reason) as a typed table."""
    return pd.DataFrame(records, columns=[SOURCE_ROW, "raw", "reason"]).astype(
        {SOURCE_ROW: "int64", "raw": "str", "reason": "str"}
    )


def _read_csv(path: Path, text: str, delimiter: str) -> RawBatch:
    return next(csv_batches(io.StringIO(text), path=path, delimiter=delimiter))


def csv_batches(
    lines: Iterable[str], *, path: Path, delimiter: str, chunk_rows: int | None = None
) -> Iterator[RawBatch]:
    """Yield a CSV's records `chunk_rows` at a time (all at once when None), bad ones apart.

    The csv module rather than pandas: pandas pads a short record with empty fields, which
    would turn a broken line into a row with missing values instead of a quarantine.
    Record numbers count data records from 1 across chunks.
    """
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DataFileError(f"{path}: cannot read the CSV header ({exc})") from None
    good: list[list[str]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    number, emitted = 0, False
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            bad.append((number, str(exc)[:500], "record:unreadable_csv"))
        else:
            if not record:
                continue
            number += 1
            if len(record) != len(header):
                bad.append((number, delimiter.join(record)[:500], "record:wrong_field_count"))
            else:
                good.append(record)
                rows.append(number)
        if chunk_rows is not None and len(good) + len(bad) >= chunk_rows:
            yield _csv_batch(header, good, rows, bad)
            good, rows, bad, emitted = [], [], [], True
    if good or bad or not emitted:
        yield _csv_batch(header, good, rows, bad)


def _csv_batch(
    header: list[str], good: list[list[str]], rows: list[int], bad: list[tuple[int, str, str]]
) -> RawBatch:
    frame = pd.DataFrame(good, columns=header, dtype=str)
    frame.insert(0, SOURCE_ROW, pd.array(rows, dtype="int64"))
    return RawBatch(frame=frame, malformed=malformed_frame(bad), columns=header)


def _read_jsonl(text: str) -> RawBatch:
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad.append((number, line[:500], "record:invalid_json"))
            continue
        if not isinstance(record, dict):
            bad.append((number, line[:500], "record:not_a_json_object"))
            continue
        records.append(record)
        rows.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    columns = list(frame.columns)
    frame.insert(0, SOURCE_ROW, rows)
    return RawBatch(frame=frame, malformed=malformed_frame(bad), columns=columns)


def _read_parquet(path: Path) -> RawBatch:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
    columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.columns = columns
    frame.insert(0, SOURCE_ROW, range(1, len(frame) + 1))
    return RawBatch(frame=frame, malformed=malformed_frame([]), columns=columns)


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Return a Parquet table written by a pipeline stage (optionally only some columns)."""
    return pd.read_parquet(path, columns=columns)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table atomically by extension (parquet, csv, jsonl) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        frame.to_csv(tmp, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(tmp, orient="records", lines=True, date_format="iso")
    else:
        raise ValueError(f"cannot write {path}: unknown extension {suffix!r}")
    tmp.replace(path)
    return path


def read_json(path: str | Path) -> Any:
    """Return the parsed content of a JSON file."""
    return json.loads(Path(path).read_text())


def write_json(obj: Any, path: str | Path) -> Path:
    """Write an object as indented JSON atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
    return path


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
