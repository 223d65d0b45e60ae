"""Tests for loopline.io.predlog: the durable prediction log, on real files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from loopline.io.predlog import LogRead, PredictionLog, read_log, to_flat

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INPUT_KEYS = ("age", "annual_income", "purpose", "employment_years")
FEATURE_KEYS = ("age", "loan_to_income", "purpose")


def _record(i: int, *, at: datetime | None = None, prefix: str = "r") -> dict[str, Any]:
    return {
        "request_id": f"{prefix}{i}",
        "logged_at": at if at is not None else T0 + timedelta(seconds=i),
        "source": "rest",
        "model_version": "v3",
        "bundle_id": "bundle-7",
        "score": round(0.001 * i + 0.0001, 6),
        "decision": ("approve", "decline", "review")[i % 3],
        "reasons": [f"reason_{j}" for j in range(i % 3)],
        "input": {
            "age": 20 + i % 50,
            "annual_income": 1000.5 * i,
            "purpose": ("car", "medical", "other")[i % 3],
            "employment_years": None if i % 4 == 0 else 0.5 * i,
        },
        "features": {
            "age": float(20 + i % 50),
            "loan_to_income": math.nan if i % 5 == 0 else 1.0 / (i + 1),
            "purpose": ("car", "medical", "other")[i % 3],
        },
    }


def _same(a: Any, b: Any) -> bool:
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    return a == b


def _assert_rows_match(frame: pd.DataFrame, records: list[dict[str, Any]]) -> None:
    by_id = frame.set_index("request_id")
    for rec in records:
        row = by_id.loc[rec["request_id"]]
        assert row["logged_at"] == pd.Timestamp(rec["logged_at"])
        assert row["source"] == rec["source"]
        assert row["model_version"] == rec["model_version"]
        assert row["bundle_id"] == rec["bundle_id"]
        assert row["score"] == rec["score"]
        assert row["decision"] == rec["decision"]
        assert list(row["reasons"]) == rec["reasons"]
        assert isinstance(row["reasons"], list)
        for key in INPUT_KEYS:
            assert _same(row[f"input.{key}"], rec["input"][key]), (rec["request_id"], key)
        for key in FEATURE_KEYS:
            assert _same(row[f"feature.{key}"], rec["features"][key]), (rec["request_id"], key)


def _segments(root: Path, pattern: str = "online-*.jsonl") -> list[Path]:
    return sorted(root.glob(pattern))


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _run_python(code: str, root: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


# --- round trip ------------------------------------------------------------------------------


def test_online_and_batch_records_read_back_identical_and_sorted(tmp_path: Path) -> None:
    online = [_record(i) for i in range(0, 40, 2)]  # even seconds
    batch = [{**_record(i, prefix="b"), "source": "batch"} for i in range(1, 40, 2)]  # odd
    with PredictionLog(tmp_path) as log:
        for rec in online[:10]:
            log.append(rec)
        log.append_many(online[10:])
        path = log.write_batch(to_flat(batch), batch_id="job-42")

    assert path.name.startswith("batch-") and path.name.endswith("-job-42-0.parquet")
    result = read_log(tmp_path)
    assert isinstance(result, LogRead)
    frame = result.frame
    assert (result.corrupt_lines, result.segments, len(frame)) == (0, 2, 40)
    assert frame["request_id"].is_unique
    assert frame["logged_at"].is_monotonic_increasing
    assert str(frame["logged_at"].dtype) == "datetime64[ns, UTC]"
    assert list(frame["request_id"][:4]) == ["r0", "b1", "r2", "b3"]
    assert list(frame.columns[:8]) == [
        "request_id",
        "logged_at",
        "source",
        "model_version",
        "bundle_id",
        "score",
        "decision",
        "reasons",
    ]
    assert {f"input.{k}" for k in INPUT_KEYS} | {f"feature.{k}" for k in FEATURE_KEYS} <= set(
        frame.columns
    )
    _assert_rows_match(frame, online + batch)


def test_numpy_values_and_default_fields_are_logged(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    with PredictionLog(tmp_path) as log:
        log.append(
            {
                "request_id": "np",
                "model_version": "v1",
                "bundle_id": "b",
                "score": np.float32(0.25),
                "decision": "approve",
                "features": {"x": np.float32(1.5), "n": np.int64(3)},
            }
        )
    row = read_log(tmp_path).frame.iloc[0]
    assert (row["source"], row["score"], row["reasons"]) == ("rest", 0.25, [])
    assert (row["feature.x"], row["feature.n"]) == (1.5, 3)
    assert before <= row["logged_at"] <= datetime.now(UTC)


def test_inputs_of_mixed_types_keep_their_decoded_values(tmp_path: Path) -> None:
    base = {"model_version": "v", "bundle_id": "b", "score": 0.5, "decision": "d"}
    with PredictionLog(tmp_path) as log:
        log.append({**base, "request_id": "a", "logged_at": T0, "input": {"age": 42}})
        log.append({**base, "request_id": "b", "logged_at": T0, "input": {"age": "42"}})
    frame = read_log(tmp_path).frame
    assert list(frame["input.age"]) == [42, "42"]


def test_invalid_records_are_rejected_and_nothing_is_written(tmp_path: Path) -> None:
    good = _record(1)
    with PredictionLog(tmp_path) as log:
        with pytest.raises(ValueError, match="lacks"):
            log.append({k: v for k, v in good.items() if k != "score"})
        with pytest.raises(ValueError, match="unknown record fields"):
            log.append({**good, "extra": 1})
        with pytest.raises(ValueError, match="source"):
            log.append({**good, "source": "kafka"})
        with pytest.raises(ValueError, match="lacks"):
            log.append_many([good, {**good, "decision": None}])
        with pytest.raises(ValueError, match="batch_id"):
            log.write_batch(to_flat([good]), batch_id="../x")
        with pytest.raises(ValueError, match="feature"):
            log.write_batch(to_flat([good]).assign(other=1), batch_id="x")
    assert list(tmp_path.iterdir()) == []


# --- crash safety ----------------------------------------------------------------------------


def test_line_truncated_by_a_crash_is_skipped_and_counted(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        log.append_many([_record(i) for i in range(10)])
    (segment,) = _segments(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) - 40])  # the last record, cut mid-JSON

    result = read_log(tmp_path)
    assert result.corrupt_lines == 1
    assert list(result.frame["request_id"]) == [f"r{i}" for i in range(9)]
    _assert_rows_match(result.frame, [_record(i) for i in range(9)])


def test_line_with_a_flipped_byte_is_skipped_and_counted(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        log.append_many([_record(i) for i in range(10)])
    (segment,) = _segments(tmp_path)
    lines = _lines(segment)
    assert b'"decision":"review"' in lines[5]
    lines[5] = lines[5].replace(b'"decision":"review"', b'"decision":"reviev"')  # still JSON
    segment.write_bytes(b"".join(lines))

    result = read_log(tmp_path)
    assert result.corrupt_lines == 1
    assert list(result.frame["request_id"]) == [f"r{i}" for i in range(10) if i != 5]


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(lambda line: line.rstrip(b"\n"), id="line-and-crc-without-newline"),
        pytest.param(lambda line: line.rpartition(b"\t")[0], id="json-without-crc-or-newline"),
        pytest.param(lambda line: line.rpartition(b"\t")[0] + b"\n", id="json-without-crc"),
        pytest.param(lambda line: b"not json at all\t00000000\n", id="garbage"),
        pytest.param(lambda line: b"\n", id="empty-line"),
    ],
)
def test_incomplete_or_foreign_last_line_is_skipped(tmp_path: Path, tail: Any) -> None:
    with PredictionLog(tmp_path) as log:
        log.append_many([_record(i) for i in range(4)])
    (segment,) = _segments(tmp_path)
    lines = _lines(segment)
    json.loads(lines[-1].rpartition(b"\t")[0])  # the cut-off record was valid JSON
    segment.write_bytes(b"".join(lines[:-1]) + tail(lines[-1]))

    result = read_log(tmp_path)
    assert (result.corrupt_lines, len(result.frame)) == (1, 3)


def test_process_killed_while_appending_loses_nothing_it_appended(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from loopline.io.predlog import PredictionLog\n"
        "log = PredictionLog(sys.argv[1])\n"
        "for i in range(300):\n"
        "    log.append({'request_id': f'k{i}', 'model_version': 'v', 'bundle_id': 'b',\n"
        "                'score': 0.5, 'decision': 'd'})\n"
        "os._exit(9)  # no close, no flush: a crash\n"
    )
    assert _run_python(code, tmp_path, check=False).returncode == 9
    result = read_log(tmp_path)
    assert (result.corrupt_lines, len(result.frame)) == (0, 300)


def test_parquet_left_under_its_temporary_name_by_a_crash_is_ignored(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from loopline.io import predlog\n"
        "from loopline.io.predlog import PredictionLog, to_flat\n"
        "rec = {'request_id': 'x', 'logged_at': '2024-05-01T12:00:00+00:00', 'source': 'batch',\n"
        "       'model_version': 'v', 'bundle_id': 'b', 'score': 0.5, 'decision': 'd'}\n"
        "predlog.os.link = lambda *a, **k: os._exit(7)  # die just before publishing\n"
        "PredictionLog(sys.argv[1]).write_batch(to_flat([rec]), batch_id='job')\n"
    )
    assert _run_python(code, tmp_path, check=False).returncode == 7
    (leftover,) = tmp_path.iterdir()
    assert leftover.name.startswith(".batch-") and leftover.name.endswith(".tmp")
    assert pd.read_parquet(leftover).shape[0] == 1  # a complete file, just not published
    (tmp_path / ".batch-20240501T120000-job-1.parquet.1.2.tmp").write_bytes(b"PAR1 half")

    result = read_log(tmp_path)
    assert (len(result.frame), result.segments, result.corrupt_lines) == (0, 0, 0)


def test_unreadable_batch_segment_is_reported_not_fatal(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        log.append(_record(1))
    (tmp_path / "batch-20240501T120000-job-0.parquet").write_bytes(b"PAR1 torn")
    result = read_log(tmp_path)
    assert len(result.frame) == 1
    assert result.unreadable_segments == ["batch-20240501T120000-job-0.parquet"]


# --- segments --------------------------------------------------------------------------------


def test_rotation_after_max_segment_records_never_reopens_a_closed_segment(
    tmp_path: Path,
) -> None:
    log = PredictionLog(tmp_path, max_segment_records=3)
    log.append_many([_record(i) for i in range(7)])
    first = _segments(tmp_path)
    assert [len(_lines(p)) for p in first] == [3, 3, 1]
    closed = {p: p.read_bytes() for p in first[:2]}

    log.append_many([_record(i) for i in range(7, 12)])
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append(_record(99))
    with PredictionLog(tmp_path, max_segment_records=3) as again:
        again.append(_record(12))

    segments = _segments(tmp_path)
    assert [len(_lines(p)) for p in segments] == [3, 3, 3, 3, 1]
    assert all(p.read_bytes() == data for p, data in closed.items())
    assert len(set(segments)) == 5
    assert len(read_log(tmp_path).frame) == 13


def test_each_append_writes_exactly_one_record(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        for i in range(25):
            log.append(_record(i))
            assert sum(len(_lines(p)) for p in _segments(tmp_path)) == i + 1
        log.append_many([_record(i) for i in range(25, 40)])
        log.append_many([])
    assert sum(len(_lines(p)) for p in _segments(tmp_path)) == 40
    result = read_log(tmp_path)
    assert (len(result.frame), result.frame["request_id"].nunique()) == (40, 40)


def test_batches_with_the_same_id_get_separate_segments(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        frame = to_flat([{**_record(i), "source": "batch"} for i in range(3)])
        first = log.write_batch(frame, batch_id="job")
        second = log.write_batch(frame.assign(request_id=frame["request_id"] + "b"), batch_id="job")
    assert first != second and first.name.endswith("-0.parquet")
    assert second.name.endswith("-1.parquet")
    assert len(read_log(tmp_path).frame) == 6


# --- concurrency -----------------------------------------------------------------------------


def test_threads_appending_together_write_whole_lines(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, max_segment_records=1_000)
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(500):
            log.append(_record(i, prefix=f"t{t}-"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    for segment in _segments(tmp_path):
        for line in _lines(segment):
            body, _, crc = line.rstrip(b"\n").rpartition(b"\t")
            assert crc == b"%08x" % zlib.crc32(body)
    result = read_log(tmp_path)
    assert (result.corrupt_lines, len(result.frame), result.segments) == (0, 4_000, 4)
    expected = {f"t{t}-{i}" for t in range(8) for i in range(500)}
    assert set(result.frame["request_id"]) == expected


def test_two_processes_appending_to_one_log(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from loopline.io.predlog import PredictionLog\n"
        "with PredictionLog(sys.argv[1], max_segment_records=700) as log:\n"
        "    for i in range(2000):\n"
        "        log.append({'request_id': f'child{i}', 'model_version': 'v',\n"
        "                    'bundle_id': 'b', 'score': 0.5, 'decision': 'd'})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    with PredictionLog(tmp_path, max_segment_records=700) as log:
        for i in range(2000):
            log.append(_record(i, prefix="parent"))
    assert child.wait(timeout=60) == 0

    pids = {p.name.split("-")[2] for p in _segments(tmp_path)}
    assert pids == {str(child.pid), str(os.getpid())}
    result = read_log(tmp_path)
    assert (result.corrupt_lines, len(result.frame)) == (0, 4_000)
    ids = set(result.frame["request_id"])
    assert ids == {f"child{i}" for i in range(2000)} | {f"parent{i}" for i in range(2000)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_writes_a_segment_of_its_own(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path)
    log.append(_record(0))
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            log.append(_record(1, prefix="child"))
            log.close()
            status = 0
        finally:
            os._exit(status)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    log.append(_record(2))
    log.close()

    owners = {p.name.split("-")[2]: len(_lines(p)) for p in _segments(tmp_path)}
    assert owners == {str(os.getpid()): 2, str(pid): 1}
    assert list(read_log(tmp_path).frame["request_id"]) == ["r0", "child1", "r2"]


# --- windows and projection ------------------------------------------------------------------


def test_since_until_select_a_half_open_window(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, max_segment_records=4) as log:
        log.append_many([_record(i) for i in range(0, 20, 2)])
        batch = [{**_record(i, prefix="b"), "source": "batch"} for i in range(1, 20, 2)]
        log.write_batch(to_flat(batch[:5]), batch_id="early")
        log.write_batch(to_flat(batch[5:]), batch_id="late")

    def ids(**window: datetime) -> list[str]:
        return list(read_log(tmp_path, **window).frame["request_id"])

    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    assert ids(since=at(5), until=at(9)) == ["b5", "r6", "b7", "r8"]
    assert ids(since=at(16)) == ["r16", "b17", "r18", "b19"]
    assert ids(until=at(3)) == ["r0", "b1", "r2"]
    assert ids(since=at(30)) == []
    naive = at(5).replace(tzinfo=None)  # naive datetimes are UTC
    assert ids(since=naive, until=naive + timedelta(seconds=1)) == ["b5"]
    paris = at(5).astimezone(ZoneInfo("Europe/Paris"))
    assert ids(since=paris, until=at(6)) == ["b5"]


def test_columns_projects_and_fills_missing_columns(tmp_path: Path) -> None:
    with PredictionLog(tmp_path) as log:
        log.append_many([_record(i) for i in range(3)])
        log.write_batch(to_flat([{**_record(5, prefix="b"), "source": "batch"}]), batch_id="j")
    result = read_log(tmp_path, columns=["request_id", "feature.purpose", "input.unknown"])
    frame = result.frame
    assert list(frame.columns) == ["request_id", "feature.purpose", "input.unknown"]
    assert list(frame["request_id"]) == ["r0", "r1", "r2", "b5"]
    assert list(frame["feature.purpose"]) == ["car", "medical", "other", "other"]
    assert frame["input.unknown"].isna().all()


def test_empty_log_reads_as_empty_frame(tmp_path: Path) -> None:
    PredictionLog(tmp_path).close()
    result = read_log(tmp_path)
    assert (len(result.frame), result.segments, result.corrupt_lines) == (0, 0, 0)
    assert "request_id" in result.frame.columns
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "missing")


def test_batch_reasons_are_lists_of_text_whatever_their_container(tmp_path: Path) -> None:
    rows = [_record(i) for i in range(4)]
    flat = to_flat(rows)
    flat["reasons"] = pd.Series(
        [["a", "b"], ("c",), np.array(["d"], dtype=object), [7]], dtype=object
    )  # Arrow converts the first three at once; the 7 sends the column the per-row way
    with PredictionLog(tmp_path) as log:
        log.write_batch(flat, batch_id="mixed")
        with pytest.raises(ValueError, match="list of str"):
            log.write_batch(flat.assign(reasons=["x", [], [], []]), batch_id="text")
    got = read_log(tmp_path).frame.sort_values("request_id")["reasons"].map(list).tolist()
    assert got == [["a", "b"], ["c"], ["d"], ["7"]]
