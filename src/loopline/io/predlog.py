"""The durable prediction log: every scored application, appended; windows of it read back fast.

A log is a directory of segment files. A segment, once closed, is never modified.

* Online segments (`online-<UTC yyyymmddTHHMMSS>-<pid>-<n>.jsonl`) hold one record per line,
  `<json>\\t<crc32 of the json bytes, 8 lower-case hex digits>\\n`, each line written with a
  single `os.write` on an `O_APPEND` descriptor. A writer owns its segment (the name carries its
  pid and the file is created with `O_EXCL`), rotates to a new one after `max_segment_records`,
  and never reopens a segment it closed.
* Batch segments (`batch-<UTC stamp>-<batch id>-<chunk n>.parquet`) are written to a hidden
  temporary name in the same directory (`.<segment name>.<pid>.<thread>.tmp`), fsynced, and
  published under the segment name with a no-clobber hard link (so a half-written file is never
  visible under a segment name and an existing segment is never replaced). A temporary file left
  by a crash is ignored by readers (and may be deleted by hand).

Failure model: a *process* crash (kill -9, OOM, a segfault) loses at most the record in flight.
Bytes handed to the kernel by `os.write` survive the process, and a line torn by the crash is
recognised on reading (no newline, or a checksum that does not match) and skipped and counted.
Online appends are not fsynced (that would cost milliseconds per request), so a power loss or a
kernel crash can lose the records of the last few seconds; `PredictionLog.close` fsyncs.

Reading (`read_log`) returns one flat frame, the layout of batch segments: `request_id`,
`logged_at` (datetime64[ns, UTC]), `source`, `model_version`, `bundle_id`, `score`, `decision`,
`reasons` (a Python list of str per row), `input.<name>` and `feature.<name>`. Online lines are
checksummed in one pass and parsed by Arrow's JSON reader; a segment Arrow cannot type (say an
input sent as 42 by one client and as "42" by another) falls back to `json` and `to_flat`, which
keep every value as decoded (an object column where the types are mixed). `since`/`until` filter
rows; only batch segments are pruned (by their parquet row-group statistics), because a caller
may set `logged_at` itself, so an online segment's name does not bound its records' times. A line
being written while a reader reads a live segment is, at that moment, an incomplete tail: it is
skipped and counted in `corrupt_lines` and is read whole the next time.

Every reader of the frame (monitor, feedback) turns times into pandas' datetime64[ns], which holds
1677-09-21 .. 2262-04-11 only. A record holding a time outside that range (a `logged_at`, or an
input such as `applied_at` that a service before the date-range rule accepted) is skipped,
counted in `out_of_range_records` and warned about, never allowed to stop the reader; the
segment is left as it is. Time inputs come back as datetime64[ns] (Arrow typed them) or as text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import weakref
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from loopline.io.files import fsync_file

CORE_COLUMNS = (
    "request_id",
    "logged_at",
    "source",
    "model_version",
    "bundle_id",
    "score",
    "decision",
    "reasons",
)
INPUT_PREFIX = "input."
FEATURE_PREFIX = "feature."
SOURCES = frozenset({"rest", "batch"})
QUALITY_PREFIX = "quality-"  # batch scoring's per-batch data-quality records beside the segments

_REQUIRED = ("request_id", "model_version", "bundle_id", "score", "decision")
_RECORD_KEYS = frozenset({*CORE_COLUMNS, "input", "features"})
_STR_COLUMNS = ("request_id", "source", "model_version", "bundle_id", "decision")
_ONLINE_NAME = re.compile(r"online-(\d{8}T\d{6})-(\d+)-(\d+)\.jsonl")
_BATCH_NAME = re.compile(r"batch-(\d{8}T\d{6})-(.+)-(\d+)\.parquet")
_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_STAMP = "%Y%m%dT%H%M%S"
_CRC_WIDTH = 8  # hex digits after the tab
_SUFFIX = _CRC_WIDTH + 1  # "\t" + hex digits
_TS = pa.timestamp("ns", tz="UTC")
# text that starts with a year pandas' datetime64[ns] may not hold (before 1678 or after 2261)
_FAR_YEAR = (
    r"\s*(?:0[0-9]{3}|1[0-5][0-9]{2}|16[0-7][0-9]|22[6-9][0-9]|2[3-9][0-9]{2}|[3-9][0-9]{3})-"
)
_NS_MIN, _NS_MAX = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")

log = logging.getLogger(__name__)


@dataclass
class LogRead:
    """The valid records of a log window, with a count of what had to be skipped."""

    frame: pd.DataFrame  # flat columns, logged_at datetime64[ns, UTC], sorted by logged_at
    corrupt_lines: int  # online lines skipped: bad checksum, not JSON, torn or unterminated
    segments: int  # segment files found (online and batch)
    unreadable_segments: list[str] = field(default_factory=list)  # batch files Arrow rejected
    out_of_range_records: int = 0  # records skipped: a time pandas cannot hold (see above)
    names: list[str] = field(default_factory=list)  # the segment files read


class PredictionLog:
    """Appends prediction records to a log directory; safe to share between threads."""

    def __init__(self, root: str | Path, *, max_segment_records: int = 100_000) -> None:
        """Open (creating if needed) the log directory `root`; no segment is created yet."""
        if max_segment_records < 1:
            raise ValueError(f"max_segment_records must be >= 1, got {max_segment_records}")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_segment_records = max_segment_records
        self._encode = json.JSONEncoder(
            separators=(",", ":"), check_circular=False, default=_json_default
        ).encode
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._fd: int | None = None
        self._release: weakref.finalize | None = None
        self._segment: Path | None = None
        self._in_segment = 0
        self._next_n = 0
        self._chunks: dict[str, int] = {}
        self._closed = False

    @property
    def segment(self) -> Path | None:
        """The online segment being appended to, or None before the first append."""
        return self._segment

    def append(self, record: dict[str, Any]) -> None:
        """Append one online record as one line, with one `os.write`."""
        line = self._line(record)
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            self._write(line)

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Append several online records, one line and one `os.write` each (all validated first)."""
        lines = [self._line(record) for record in records]
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            for line in lines:
                self._write(line)

    def write_batch(self, frame: pd.DataFrame, *, batch_id: str) -> Path:
        """Write a flat frame of batch-scored records as a new parquet segment; return its path."""
        if not _BATCH_ID.fullmatch(batch_id):
            raise ValueError(f"batch_id {batch_id!r}: use letters, digits, '_', '.', '-'")
        table = _batch_table(frame)
        pid = os.getpid()
        stamp = datetime.now(UTC).strftime(_STAMP)
        with self._lock:
            chunk = self._chunks.get(batch_id, 0)
        final = self.root / f"batch-{stamp}-{batch_id}-{chunk}.parquet"
        tmp = self.root / f".{final.name}.{pid}.{threading.get_ident()}.tmp"
        try:
            pq.write_table(table, tmp)
            fsync_file(tmp)
            while True:
                final = self.root / f"batch-{stamp}-{batch_id}-{chunk}.parquet"
                if _publish(tmp, final):
                    break
                chunk += 1
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            self._chunks[batch_id] = max(self._chunks.get(batch_id, 0), chunk + 1)
        return final

    def close(self) -> None:
        """Fsync and close the current online segment; later appends raise ValueError."""
        with self._lock:
            self._close_segment(sync=True)
            self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _line(self, record: Mapping[str, Any]) -> bytes:
        """Return the checksummed log line of a record (validated and normalised)."""
        data = self._encode(_normalise(record)).encode("ascii")
        return b"%b\t%08x\n" % (data, zlib.crc32(data))

    def _write(self, line: bytes) -> None:
        """Write one line to the current segment, rotating first when it is full (lock held)."""
        if self._closed:
            raise ValueError("PredictionLog is closed")
        if self._fd is None or self._in_segment >= self.max_segment_records:
            self._close_segment(sync=False)
            self._open_segment()
        fd = self._fd
        assert fd is not None
        try:
            view = memoryview(line)
            while view:  # regular files write everything unless the disk is full
                view = view[os.write(fd, view) :]
        except BaseException:
            # The segment may now end in a torn line: never append after it.
            self._close_segment(sync=False)
            raise
        self._in_segment += 1

    def _open_segment(self) -> None:
        """Create a fresh segment file that no one else has (O_EXCL), and make it current."""
        stamp = datetime.now(UTC).strftime(_STAMP)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        while True:
            path = self.root / f"online-{stamp}-{self._pid}-{self._next_n}.jsonl"
            self._next_n += 1
            try:
                fd = os.open(path, flags, 0o644)
            except FileExistsError:
                continue
            break
        self._fd, self._segment, self._in_segment = fd, path, 0
        self._release = weakref.finalize(self, os.close, fd)

    def _close_segment(self, *, sync: bool) -> None:
        """Close the current segment for good (lock held)."""
        if self._fd is None:
            return
        if sync:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
        assert self._release is not None
        self._release()  # closes the descriptor once, also when the object is collected
        self._fd, self._release = None, None

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's lock and segment, write a segment of our own."""
        self._lock = threading.Lock()
        if self._release is not None:
            self._release()
        self._fd, self._release, self._segment = None, None, None
        self._pid, self._next_n = os.getpid(), 0


def read_log(
    root: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: list[str] | None = None,
    skip: Collection[str] = (),
) -> LogRead:
    """Read the valid records logged in [since, until) (naive datetimes are taken as UTC),
    leaving out the segments named in `skip` (`LogRead.names` lists those read)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: prediction log directory not found")
    lo = None if since is None else _utc_ns(since)
    hi = None if until is None else _utc_ns(until)
    names = sorted(p.name for p in root.iterdir() if p.name not in skip)
    online = [root / n for n in names if _ONLINE_NAME.fullmatch(n)]
    batch = [root / n for n in names if _BATCH_NAME.fullmatch(n)]
    frames: list[pd.DataFrame] = []
    corrupt = 0
    for path in online:
        frame, bad = _read_online_file(path, lo, hi, columns)
        corrupt += bad
        frames.append(frame)
    unreadable: list[str] = []
    for path in batch:
        try:
            frames.append(_read_batch(path, lo, hi, columns))
        except FileNotFoundError:
            continue
        except (pa.ArrowInvalid, OSError):
            unreadable.append(path.name)
    frame = _combine(frames, columns)
    frame, far = _drop_far_times(frame)
    far += sum(getattr(f, "attrs", {}).get(_FAR, 0) for f in frames)
    if far:
        log.warning(
            "%s: %d prediction-log records skipped: they hold a time outside 1677-09-21 .. "
            "2262-04-11 (the segments are left as they are)",
            root,
            far,
        )
    read = [p.name for p in (*online, *batch)]
    return LogRead(frame, corrupt, len(online) + len(batch), unreadable, far, read)


def to_flat(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Return online-style records as one flat frame (the layout of batch segments)."""
    columns: dict[str, Any] = {}
    for name in CORE_COLUMNS:
        if name != "reasons":
            columns[name] = [r.get(name) for r in records]
    columns["reasons"] = [_reasons(r.get("reasons")) for r in records]
    for key, prefix in (("input", INPUT_PREFIX), ("features", FEATURE_PREFIX)):
        maps = [r.get(key) or {} for r in records]
        for name in dict.fromkeys(k for m in maps for k in m):
            columns[prefix + name] = [m.get(name) for m in maps]
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))
    return _core_dtypes(frame)


# --- writing helpers -------------------------------------------------------------------------


def _normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the record in canonical key order and types; raise ValueError if malformed."""
    if not isinstance(record, Mapping):
        raise ValueError(f"a record must be a mapping, got {type(record).__name__}")
    if not record.keys() <= _RECORD_KEYS:
        extra = sorted(set(record) - _RECORD_KEYS)
        raise ValueError(f"unknown record fields {extra}; allowed: {sorted(_RECORD_KEYS)}")
    missing = [k for k in _REQUIRED if record.get(k) is None]
    if missing:
        raise ValueError(f"record lacks {missing}")
    source = record.get("source") or "rest"
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    inputs = record.get("input") or {}
    features = record.get("features") or {}
    if not isinstance(inputs, Mapping) or not isinstance(features, Mapping):
        raise ValueError("record input and features must be mappings")
    return {
        "request_id": str(record["request_id"]),
        "logged_at": _iso_utc(record.get("logged_at")),
        "source": source,
        "model_version": str(record["model_version"]),
        "bundle_id": str(record["bundle_id"]),
        "score": float(record["score"]),
        "decision": str(record["decision"]),
        "reasons": _reasons(record.get("reasons")),
        "input": inputs,
        "features": features,
    }


def _reasons(value: Any) -> list[str]:
    """Return reason codes as a list of str (None → [])."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        raise ValueError(f"reasons must be a list of str, got the string {value!r}")
    return [str(v) for v in value]


def _reasons_array(values: Any) -> pa.Array:
    """Return a column of reason codes as Arrow lists of strings, each row as `_reasons`
    reads it: converted by Arrow in one call when every row is a list of str already."""
    kind = pa.list_(pa.string())
    if not any(v is None or isinstance(v, str | bytes) for v in values):
        try:
            array = pa.array(values, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = None  # a reason that is not a str: converted (or refused) row by row below
        if array is not None and not array.null_count:
            return array
    return pa.array([_reasons(v) for v in values], kind)


def _iso_utc(value: Any) -> str:
    """Return a timestamp (None = now) as a UTC ISO 8601 string with microseconds."""
    if value is None:
        moment = datetime.now(UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    else:
        raise ValueError(f"logged_at must be a datetime or an ISO string, got {value!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    """Encode the non-JSON values a scorer produces (numpy scalars, timestamps)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"cannot log a value of type {type(value).__name__}: {value!r}")


def _batch_table(frame: pd.DataFrame) -> pa.Table:
    """Return a flat frame as the Arrow table of a batch segment; raise ValueError if invalid."""
    missing = [c for c in (*_REQUIRED, "logged_at") if c not in frame.columns]
    if missing:
        raise ValueError(f"batch frame lacks columns {missing}")
    other = [
        c
        for c in frame.columns
        if c not in CORE_COLUMNS and not str(c).startswith((INPUT_PREFIX, FEATURE_PREFIX))
    ]
    if other:
        raise ValueError(f"batch frame has columns {other}; use input.<name> or feature.<name>")
    if frame.columns.duplicated().any():
        raise ValueError("batch frame has duplicate column names")
    frame = frame.reset_index(drop=True)
    for name in ("request_id", "logged_at"):
        if frame[name].isna().any():
            raise ValueError(f"batch frame has missing {name}")
    sources = set(frame["source"].unique()) if "source" in frame.columns else {"batch"}
    if not sources <= SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {sorted(sources)}")
    arrays: dict[str, pa.Array] = {}
    for name in CORE_COLUMNS:
        if name == "logged_at":
            stamps = pd.to_datetime(frame[name], utc=True, format="ISO8601")
            utc = stamps.dt.tz_convert(None).astype("datetime64[ns]").to_numpy()
            arrays[name] = pa.array(utc, _TS)
        elif name == "score":
            arrays[name] = pa.array(frame[name].astype("float64").to_numpy(), pa.float64())
        elif name == "reasons":
            values = frame[name] if name in frame.columns else [None] * len(frame)
            arrays[name] = _reasons_array(values)
        elif name == "source" and name not in frame.columns:
            arrays[name] = pa.array(["batch"] * len(frame), pa.string())
        else:
            values = frame[name].astype("str").to_numpy(object)
            arrays[name] = pa.array(values, pa.string(), from_pandas=True)
    for name in frame.columns:
        if name in CORE_COLUMNS:
            continue
        try:
            arrays[name] = pa.Array.from_pandas(frame[name])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise ValueError(f"batch column {name!r} cannot be stored: {error}") from error
    return pa.table(arrays)


def _publish(tmp: Path, final: Path) -> bool:
    """Give the finished temporary file its segment name unless taken; return False if taken.

    Not `files.publish`: a segment is never replaced, so the name is claimed with a hard link,
    which fails when it exists, where os.replace would overwrite it."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: rename, after a (racy) existence check
        if final.exists():
            return False
        tmp.replace(final)
    return True


# --- reading helpers -------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytearray:
    """Return a file's bytes in a writable buffer (the reader blanks bad lines in place)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        buffer = bytearray(size)
        got = handle.readinto(buffer)
    del buffer[got:]  # the file may have shrunk; growth after fstat is left for the next read
    return buffer


def _utc_ns(moment: datetime) -> int:
    """Return a datetime (naive = UTC) as nanoseconds since the epoch."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def _read_online_file(
    path: Path, lo: int | None, hi: int | None, columns: list[str] | None
) -> tuple[pd.DataFrame, int]:
    """Read one online segment (a segment removed meanwhile reads as empty)."""
    try:
        data = _read_bytes(path)
    except FileNotFoundError:  # removed by retention while we were listing
        return _empty_frame(), 0
    return _read_online(data, lo, hi, columns)


def _read_online(
    data: bytearray, lo: int | None, hi: int | None, columns: list[str] | None
) -> tuple[pd.DataFrame, int]:
    """Return an online segment's valid records in [lo, hi) and the number of corrupt lines."""
    good, corrupt = _check_lines(data)
    if not good.any():
        return _empty_frame(), corrupt
    try:
        table = _parse_arrow(data, int(good.sum()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        table = None
    if table is None:
        records, bad = _parse_python(data, good)
        held = [r for r in records if _holdable(r.get("logged_at"))]
        frame = to_flat(held)
        frame = _window(frame, lo, hi, columns)
        frame.attrs[_FAR] = len(records) - len(held)
        return frame, corrupt + bad
    return _arrow_to_frame(table, lo, hi, columns), corrupt


def _check_lines(data: bytearray) -> tuple[np.ndarray, int]:
    """Verify every line's checksum; blank bad lines and the checksums in place.

    Returns a mask of the valid lines (in order) and the number of corrupt ones. Afterwards
    `data` holds, line for line, the JSON of each valid record followed by spaces, and spaces
    only where a line was bad: the JSON Lines Arrow parses, with no per-line copying.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 0x0A)
    last = int(ends[-1]) + 1 if len(ends) else 0
    corrupt = int(last < len(data))  # an unterminated tail: a torn or in-flight write
    if corrupt:
        raw[last:] = 0x20
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    tabs = ends - _SUFFIX
    shaped = (ends - starts) > _SUFFIX  # room for at least one byte of JSON, a tab and a crc
    shaped[shaped] = raw[tabs[shaped]] == 0x09
    expected = np.full(len(ends), -1, dtype=np.int64)
    expected[shaped] = _hex_values(raw[tabs[shaped, None] + np.arange(1, _SUFFIX)])
    view = memoryview(data)
    crc32 = zlib.crc32
    stops = np.maximum(tabs, starts).tolist()
    actual = np.fromiter(
        (crc32(view[s:t]) for s, t in zip(starts.tolist(), stops, strict=True)),
        dtype=np.int64,
        count=len(ends),
    )
    view.release()
    good = shaped & (actual == expected)
    raw[tabs[good, None] + np.arange(0, _SUFFIX)] = 0x20  # "\t<crc>" becomes blanks
    for s, e in zip(starts[~good].tolist(), ends[~good].tolist(), strict=True):
        raw[s:e] = 0x20
    return good, corrupt + int((~good).sum())


def _hex_values(digits: np.ndarray) -> np.ndarray:
    """Return rows of lower-case hex digit bytes as integers (-1 where a row is not hex)."""
    digits = digits.astype(np.int64)
    is_digit = (digits >= 0x30) & (digits <= 0x39)
    is_letter = (digits >= 0x61) & (digits <= 0x66)
    values = np.where(is_digit, digits - 0x30, digits - 0x61 + 10)
    number = (values << np.arange(4 * (_CRC_WIDTH - 1), -1, -4)).sum(axis=1)
    return np.where((is_digit | is_letter).all(axis=1), number, -1)


def _json_core_schema() -> pa.Schema:
    """Return the Arrow types of the top-level fields of an online line."""
    return pa.schema(
        [
            ("request_id", pa.string()),
            ("logged_at", pa.string()),
            ("source", pa.string()),
            ("model_version", pa.string()),
            ("bundle_id", pa.string()),
            ("score", pa.float64()),
            ("decision", pa.string()),
            ("reasons", pa.list_(pa.string())),
        ]
    )


def _parse_arrow(data: bytearray, expected_rows: int) -> pa.Table:
    """Parse the blanked JSON Lines with Arrow; raise ArrowInvalid if they do not fit a table."""
    table = pa_json.read_json(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pa_json.ReadOptions(block_size=8 << 20),
        parse_options=pa_json.ParseOptions(
            explicit_schema=_json_core_schema(), unexpected_field_behavior="infer"
        ),
    )
    if table.num_rows != expected_rows:
        raise pa.ArrowInvalid(f"{table.num_rows} rows parsed from {expected_rows} lines")
    nested = {"input", "features"}
    for name in table.column_names:
        if name not in CORE_COLUMNS and name not in nested:
            raise pa.ArrowInvalid(f"unexpected field {name!r}")
    for name in nested:
        if name in table.column_names and not pa.types.is_struct(table.schema.field(name).type):
            raise pa.ArrowInvalid(f"{name} is not an object in every line")
    flat: dict[str, pa.ChunkedArray] = {}
    for name in CORE_COLUMNS:
        flat[name] = table.column(name)
    flat["logged_at"] = flat["logged_at"].cast(_TS)  # out of range: ArrowInvalid, the slow path
    for name, prefix in (("input", INPUT_PREFIX), ("features", FEATURE_PREFIX)):
        if name not in table.column_names:
            continue
        column = table.column(name)
        for i, child in enumerate(column.type):
            flat[prefix + child.name] = pc.struct_field(column, [i])
    return pa.table(flat)


def _parse_python(data: bytearray, good: np.ndarray) -> tuple[list[dict[str, Any]], int]:
    """Decode the valid lines one by one with `json`; return records and undecodable lines."""
    records: list[dict[str, Any]] = []
    bad = 0
    for line in bytes(data).split(b"\n")[: len(good)]:
        if not line.strip():
            continue  # a blanked bad line (already counted)
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    return records, bad


def _read_batch(
    path: Path, lo: int | None, hi: int | None, columns: list[str] | None
) -> pd.DataFrame:
    """Return a batch segment's records in [lo, hi), skipping row groups by their statistics."""
    schema = pq.read_schema(path)
    wanted = None
    if columns is not None:
        keep = {*columns, "logged_at"}
        wanted = [n for n in schema.names if n in keep]
    condition = None
    if lo is not None:
        condition = ds.field("logged_at") >= pa.scalar(lo, _TS)
    if hi is not None:
        upper = ds.field("logged_at") < pa.scalar(hi, _TS)
        condition = upper if condition is None else condition & upper
    table = pq.read_table(path, columns=wanted, filters=condition)
    if "logged_at" in table.column_names:
        index = table.column_names.index("logged_at")
        table = table.set_column(index, "logged_at", table.column("logged_at").cast(_TS))
    return _arrow_to_frame(table, None, None, None)


def _arrow_to_frame(
    table: pa.Table, lo: int | None, hi: int | None, columns: list[str] | None
) -> pd.DataFrame:
    """Return an Arrow table of flat records as a frame, filtered to [lo, hi) and projected."""
    if lo is not None or hi is not None:
        stamps = table.column("logged_at")
        mask = pc.is_valid(stamps)
        if lo is not None:
            mask = pc.and_(mask, pc.greater_equal(stamps, pa.scalar(lo, _TS)))
        if hi is not None:
            mask = pc.and_(mask, pc.less(stamps, pa.scalar(hi, _TS)))
        table = table.filter(mask)
    if columns is not None:
        keep = {*columns, "logged_at"}
        table = table.select([n for n in table.column_names if n in keep])
    reasons = table.column("reasons").to_pylist() if "reasons" in table.column_names else None
    frame = table.to_pandas()
    if reasons is not None:
        frame["reasons"] = pd.Series(reasons, index=frame.index, dtype=object)
    return frame


_FAR = "out_of_range_records"  # frame.attrs key: records a segment reader skipped


def _holdable(value: Any) -> bool:
    """Return whether a logged_at (ISO text or missing) is a time datetime64[ns] can hold."""
    if not isinstance(value, str):
        return True  # missing or malformed: to_flat's rules, as before
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return True
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        return _NS_MIN <= pd.Timestamp(moment) <= _NS_MAX
    except (OverflowError, ValueError):  # pandas.errors.OutOfBoundsDatetime is a ValueError
        return False


def _drop_far_times(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the frame without records whose time inputs datetime64[ns] cannot hold, and
    their number; time input columns Arrow typed come back as datetime64[ns]."""
    far = np.zeros(len(frame), dtype=bool)
    typed: list[str] = []
    for name in frame.columns:
        if not str(name).startswith(INPUT_PREFIX):
            continue
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            if values.dt.unit != "ns":
                stamps = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
                far |= (values.notna() & ((stamps < _NS_MIN) | (stamps > _NS_MAX))).to_numpy()
                typed.append(name)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            text = (
                values.where(values.map(lambda v: isinstance(v, str)))
                if values.dtype == object
                else values
            )
            suspect = text.str.match(_FAR_YEAR).fillna(False).to_numpy(dtype=bool)
            if suspect.any():
                stamps = pd.to_datetime(text[suspect], errors="coerce", format="ISO8601", utc=True)
                outside = stamps.notna() & ((stamps < _NS_MIN) | (stamps > _NS_MAX))
                far[np.flatnonzero(suspect)[outside.to_numpy()]] = True
    if far.any():
        frame = frame.loc[~far].reset_index(drop=True)
    for name in typed:
        frame[name] = frame[name].astype(
            "datetime64[ns]" if frame[name].dt.tz is None else "datetime64[ns, UTC]"
        )
    return frame, int(far.sum())


def _window(
    frame: pd.DataFrame, lo: int | None, hi: int | None, columns: list[str] | None
) -> pd.DataFrame:
    """Return the rows of a flat frame in [lo, hi) and the wanted columns (+ logged_at)."""
    stamps = frame["logged_at"]
    mask = stamps.notna() if lo is not None or hi is not None else None
    if lo is not None:
        mask &= stamps >= pd.Timestamp(lo, tz="UTC")
    if hi is not None:
        mask &= stamps < pd.Timestamp(hi, tz="UTC")
    if mask is not None:
        frame = frame.loc[mask]
    if columns is not None:
        keep = {*columns, "logged_at"}
        frame = frame[[c for c in frame.columns if c in keep]]
    return frame


def _core_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Give the core columns of a flat frame their documented dtypes."""
    stamps = pd.to_datetime(frame["logged_at"], utc=True, format="ISO8601")
    frame["logged_at"] = stamps.astype("datetime64[ns, UTC]")
    frame["score"] = pd.to_numeric(frame["score"]).astype("float64")
    for name in _STR_COLUMNS:
        frame[name] = frame[name].astype("str")
    return frame


def _empty_frame() -> pd.DataFrame:
    """Return a flat frame with the core columns and no rows."""
    return to_flat([])


def _combine(frames: list[pd.DataFrame], columns: list[str] | None) -> pd.DataFrame:
    """Concatenate segment frames, order columns and rows, and project to `columns`."""
    frames = [f for f in frames if len(f)]
    if not frames:
        frame = _empty_frame()
    elif len(frames) == 1:
        frame = frames[0]
    else:
        frame = pd.concat(frames, ignore_index=True, sort=False)
    if "logged_at" in frame.columns:
        frame = frame.sort_values("logged_at", kind="stable", na_position="last")
    frame = frame.reset_index(drop=True)
    if columns is not None:
        return frame.reindex(columns=list(columns))
    names = list(frame.columns)
    core = [c for c in CORE_COLUMNS if c in names]
    inputs = [c for c in names if c.startswith(INPUT_PREFIX)]
    features = [c for c in names if c.startswith(FEATURE_PREFIX)]
    rest = [c for c in names if c not in {*core, *inputs, *features}]
    return frame[core + inputs + features + rest]
