"""Raw batch files: formats, compression and dialects (`read_batch_file`).

Raw batch files are read defensively: a wrong encoding, a corrupt archive or an unreadable file
raises `DataFileError` with a message a person can act on; malformed lines inside an otherwise
good file come back as `malformed` records so that they can be quarantined, never silently lost.
A batch file is read in its source's dialect (`SourceConfig`): compression by extension, format,
delimiter, encoding, and a header row or column names from config.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from loopline.config import WHITESPACE, SourceConfig

SOURCE_ROW = "_source_row"
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FORMATS |= {".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
# how each compression's data starts, to recognise a compressed file whose name hides it
_MAGIC = {
    ".gz": re.compile(rb"\x1f\x8b\x08"),
    ".bz2": re.compile(rb"BZh[1-9]1AY&SY"),
    ".xz": re.compile(rb"\xfd7zXZ\x00"),
    ".zip": re.compile(rb"PK\x03\x04"),
}
# what the decompressors raise for data that is not what the extension says (bz2: OSError)
_CORRUPT = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)
# and zipfile for a member it cannot open: an unsupported method, or encrypted
_ZIP_UNREADABLE = (NotImplementedError, RuntimeError)


class DataFileError(ValueError):
    """A data file cannot be read at all; the message says which file, why, and what to do."""


@dataclass
class RawBatch:
    """A batch file read as text values, with the records that could not be parsed."""

    frame: pd.DataFrame  # one row per record, plus SOURCE_ROW (1-based record number)
    malformed: pd.DataFrame  # SOURCE_ROW, raw, reason
    columns: list[str]  # the header as written in the file (a headerless file: `names`)


@dataclass(frozen=True)
class Dialect:
    """How one batch file is read: its format and, for CSV, the delimiter and column names."""

    format: str  # csv | jsonl | parquet
    delimiter: str = ","  # one character, or WHITESPACE
    names: tuple[str, ...] = ()  # a headerless CSV's columns; () = the first line is the header


def compression(path: Path) -> str | None:
    """Return gzip | bz2 | xz | zip from a file's extension, or None for an uncompressed file."""
    return COMPRESSIONS.get(path.suffix.lower())


def inner_name(path: Path) -> Path:
    """Return the file's name without its compression extension (`x.csv.gz` -> `x.csv`)."""
    return Path(path.stem) if compression(path) else Path(path.name)


def detect_format(path: Path, declared: str = "auto") -> str:
    """Return csv | jsonl | parquet for a file from its declared format or its extension."""
    if declared != "auto":
        return declared
    suffix = inner_name(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; use .csv, .tsv, .jsonl "
            "or .parquet (also compressed: .gz, .bz2, .xz, .zip), or set the source's `format` "
            "(e.g. `format: csv` for .data or .txt files)"
        )
    return FORMATS[suffix]


def file_dialect(path: Path, source: SourceConfig) -> Dialect:
    """Return how to read a file under its source's config; DataFileError if it cannot be."""
    fmt = detect_format(path, source.format)
    if fmt != "csv":
        if not source.header:
            raise DataFileError(
                f"{path}: `header: false` and `names` apply to CSV files only; this file is "
                f"read as {fmt}"
            )
        return Dialect(fmt)
    delimiter = source.resolved_delimiter()
    if source.delimiter == "," and inner_name(path).suffix.lower() == ".tsv":
        delimiter = "\t"  # the default delimiter on a .tsv: tab-separated, as the name says
    return Dialect(fmt, delimiter, () if source.header else tuple(source.names))


def read_batch_file(path: str | Path, source: SourceConfig | None = None) -> RawBatch:
    """Return a raw batch file's records as written (no type conversion), in its source's dialect.

    Without a source: the format from the extension, commas, UTF-8 and a header row.
    """
    path, source = Path(path), source or SourceConfig()
    dialect = file_dialect(path, source)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    if dialect.format == "parquet":
        return _read_parquet(path)
    text = _decode(path, source.encoding)
    if not text.strip():
        return RawBatch(
            frame=pd.DataFrame({SOURCE_ROW: []}), malformed=malformed_frame([]), columns=[]
        )
    if dialect.format == "csv":
        return _read_csv(path, text, dialect)
    return _read_jsonl(text)


@contextmanager
def open_binary(path: Path) -> Iterator[IO[bytes]]:
    """Yield a file's bytes, decompressed by extension; DataFileError for a corrupt archive."""
    kind = compression(path)
    if kind is None:
        with path.open("rb") as handle:
            _refuse_hidden_compression(path, handle.peek(16))
            yield handle
        return
    corrupt = _CORRUPT + (_ZIP_UNREADABLE if kind == "zip" else ())
    try:
        with _open_compressed(path, kind) as handle:
            yield handle
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except corrupt as exc:
        raise DataFileError(
            f"{path}: not a valid {kind} file ({exc}). The file may be incomplete: download "
            f"or export it again; if it is not compressed, remove {path.suffix!r} from its name."
        ) from None


@contextmanager
def _open_compressed(path: Path, kind: str) -> Iterator[IO[bytes]]:
    if kind == "gzip":
        with gzip.open(path, "rb") as handle:
            yield handle
    elif kind == "bz2":
        with bz2.open(path, "rb") as handle:
            yield handle
    elif kind == "xz":
        with lzma.open(path, "rb") as handle:
            yield handle
    else:
        with zipfile.ZipFile(path) as archive:
            # folders and macOS resource forks are not data (Finder's "Compress" adds them)
            members = [
                m.filename
                for m in archive.infolist()
                if not m.is_dir() and not m.filename.startswith("__MACOSX/")
            ]
            if len(members) != 1:
                raise DataFileError(
                    f"{path}: a zip batch file must hold exactly one file; it holds "
                    f"{len(members)}: {', '.join(members) or 'none'}. Put each file in its "
                    "own zip, or unpack them into the raw folder."
                )
            with archive.open(members[0]) as handle:
                yield handle


@contextmanager
def open_text(path: Path, encoding: str, newline: str | None) -> Iterator[IO[str]]:
    """Yield a file's text, decompressed by extension (decoding errors: see `undecodable`)."""
    with (
        open_binary(path) as binary,
        io.TextIOWrapper(binary, encoding=encoding, newline=newline) as handle,
    ):
        yield handle


def read_bytes(path: Path) -> bytes:
    """Return a file's bytes, decompressed by extension."""
    with open_binary(path) as handle:
        return handle.read()


def _refuse_hidden_compression(path: Path, head: bytes) -> None:
    """Raise DataFileError for compressed data in a file whose name says it is not compressed.

    Read as text it would be an encoding error (or, in a single-byte encoding, garbage).
    """
    for ext, magic in _MAGIC.items():
        if magic.match(head):
            raise DataFileError(
                f"{path}: the file is compressed ({ext}) but its name does not end in {ext}; "
                f"rename it to {path.name}{ext} so that it is decompressed when read."
            )


def undecodable(path: Path, encoding: str, byte: int, offset: int) -> DataFileError:
    """Return the error for bytes that are not `encoding` text: where, and what to do."""
    where = " of the decompressed data" if compression(path) else ""
    return DataFileError(
        f"{path}: not valid {encoding} (byte 0x{byte:02x} at offset {offset}{where}). "
        f"Re-export the file as {encoding}, or set the source's `encoding` to the one it uses."
    )


def _decode(path: Path, encoding: str) -> str:
    data = read_bytes(path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise undecodable(path, encoding, data[exc.start], exc.start) from None
    return text.removeprefix("\ufeff")


def malformed_frame(records: list[tuple[int, str, str]]) -> pd.DataFrame:
    """Return malformed records (record number, raw text, reason) as a typed table."""
    return pd.DataFrame(records, columns=[SOURCE_ROW, "raw", "reason"]).astype(
        {SOURCE_ROW: "int64", "raw": "str", "reason": "str"}
    )


def _read_csv(path: Path, text: str, dialect: Dialect) -> RawBatch:
    return next(csv_batches(io.StringIO(text), path=path, dialect=dialect))


def csv_batches(
    lines: Iterable[str], *, path: Path, dialect: Dialect, chunk_rows: int | None = None
) -> Iterator[RawBatch]:
    """Yield a CSV's records `chunk_rows` at a time (all at once when None), bad ones apart.

    The csv module rather than pandas: pandas pads a short record with empty fields, which
    would turn a broken line into a row with missing values instead of a quarantine.
    Record numbers count data records from 1 across chunks (a headerless file's first line is
    record 1). Names and values lose surrounding whitespace ("39, State-gov" is "State-gov").
    """
    delimiter = dialect.delimiter
    if delimiter == WHITESPACE:
        lines, delimiter = _whitespace_lines(lines), " "
    # skipinitialspace: a quote after ", " still opens a quoted field
    reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
    if dialect.names:
        header = list(dialect.names)
    else:
        try:
            header = [name.strip() for name in next(reader)]
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


def _whitespace_lines(lines: Iterable[str]) -> Iterator[str]:
    """Lines for a csv reader splitting on single spaces that skips the spaces after each.

    Tabs become spaces (also inside quotes, the one loss) and trailing blanks go, so that runs
    of spaces and tabs separate fields and a line's ends add no empty field.
    """
    for line in lines:
        body = line.rstrip("\r\n")
        yield body.replace("\t", " ").rstrip(" ") + line[len(body) :]


def _csv_batch(
    header: list[str], good: list[list[str]], rows: list[int], bad: list[tuple[int, str, str]]
) -> RawBatch:
    frame = pd.DataFrame(good, columns=header, dtype=str)
    for position in range(frame.shape[1]):  # by position: a header may repeat a name
        frame.isetitem(position, frame.iloc[:, position].str.strip())
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
        except ValueError:  # JSONDecodeError, or an integer past Python's 4300-digit limit
            bad.append((number, line[:500], "record:invalid_json"))
            continue
        if not isinstance(record, dict):
            bad.append((number, line[:500], "record:not_a_json_object"))
            continue
        records.append(record)
        rows.append(number)
    frame = json_frame(records)
    columns = list(frame.columns)
    frame.insert(0, SOURCE_ROW, rows)
    return RawBatch(frame=frame, malformed=malformed_frame(bad), columns=columns)


def json_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Return JSON records as a frame of the values as decoded (object columns).

    Not `from_records`: it would turn a column of ints with a null into floats, so that an id
    sent as 5 would read as "5.0", not "5" as the REST validator reads the same record.
    """
    return pd.DataFrame(records, dtype=object) if records else pd.DataFrame()


def parquet_input(path: Path) -> Path | io.BytesIO:
    """Return what pyarrow opens for a Parquet file: the path, or a compressed one's bytes."""
    return io.BytesIO(read_bytes(path)) if compression(path) else path


def _read_parquet(path: Path) -> RawBatch:
    data = parquet_input(path)
    try:
        frame = pd.read_parquet(data)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
    columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.columns = columns
    frame.insert(0, SOURCE_ROW, range(1, len(frame) + 1))
    return RawBatch(frame=frame, malformed=malformed_frame([]), columns=columns)
