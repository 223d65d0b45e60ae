"""The files a stage writes and the next one reads: tables, JSON, text, digests.

Every write is atomic (`atomic_path`): the content goes to a hidden temporary name beside the
file (`.<name>.tmp`), is flushed to disk, and replaces the file with `os.replace`, so a reader
(or a `dvc repro` killed halfway) sees the old file or the new one, never part of one. Every
module of loopline that writes a whole file goes through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def temporary_path(path: Path) -> Path:
    """Return the hidden name a file is written under before it is moved into place."""
    return path.with_name(f".{path.name}.tmp")


def fsync_file(path: Path) -> None:
    """Flush a written file's bytes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, path: Path) -> Path:
    """Flush a finished temporary file and move it over `path` in one step; return `path`."""
    fsync_file(tmp)
    tmp.replace(path)  # os.replace: atomic on one file system
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it is renamed to `path` (which must not
    exist), so a folder of several files appears whole or not at all; on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would make the folder private
        yield tmp
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    """Return the process umask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(data: bytes, path: str | Path) -> Path:
    """Write bytes atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def read_table(
    path: str | Path,
    columns: list[str] | None = None,
    *,
    where: tuple[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """Return a Parquet table written by a pipeline stage: optionally only some columns, and
    only the rows whose column `where[0]` holds one of `where[1]` (filtered while reading, so
    the other rows never take memory), in file order."""
    filters = None if where is None else [(where[0], "in", list(where[1]))]
    return pd.read_parquet(path, columns=columns, filters=filters)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table atomically by extension (parquet, csv, jsonl) and return its path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".jsonl", ".ndjson"):
        raise ValueError(f"cannot write {path}: unknown extension {suffix!r}")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            _write_parquet(frame, tmp)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, date_format="iso")
    return path


PARQUET_SLICE_ROWS = 250_000


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame as Parquet a slice of rows at a time, so that the Arrow copy of a large
    table is one slice, not the whole table, on top of the frame (the file holds the same
    rows, schema and pandas metadata as `frame.to_parquet(index=False)`)."""
    if len(frame) <= PARQUET_SLICE_ROWS:
        frame.to_parquet(path, index=False)
        return
    first = pa.Table.from_pandas(frame.iloc[:PARQUET_SLICE_ROWS], preserve_index=False)
    if any(pa.types.is_null(field.type) for field in first.schema):
        frame.to_parquet(path, index=False)  # a column with no value yet: its type is unknown
        return
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_table(first)
        del first
        for start in range(PARQUET_SLICE_ROWS, len(frame), PARQUET_SLICE_ROWS):
            part = frame.iloc[start : start + PARQUET_SLICE_ROWS]
            writer.write_table(
                pa.Table.from_pandas(part, schema=writer.schema, preserve_index=False)
            )


def read_json(path: str | Path) -> Any:
    """Return the parsed content of a JSON file."""
    return json.loads(Path(path).read_text())


def write_json(obj: Any, path: str | Path) -> Path:
    """Write an object as indented JSON atomically and return the path."""
    return write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
