"""Batch scoring's file handling, without a model: chunk readers and output writers.

The chunk readers must give exactly what `io.read_batch_file` gives for the whole file (same
record numbers, same malformed records and reasons), whatever the chunk size. Scoring with a
real bundle is tested end to end in tests/e2e/test_scoring.py.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from loopline.config import SourceConfig
from loopline.io import SOURCE_ROW, DataFileError, read_batch_file
from loopline.io import chunks as chunk_io
from loopline.io.chunks import read_chunks
from loopline.io.tables import TableWriter, output_format
from loopline.services.scoring import new_batch_id, quarantine_path

HEADER = "application_id,customer_id,age,region"
CSV_CASES = {
    "plain": f"{HEADER}\nA1,C1,30,north\nA2,C2,40,south\n",
    "wrong_field_counts": (
        f"{HEADER}\nA1,C1,30,north\nA2,C2,40\nA3,C3,50,east,extra\nA4,C4,60,west\n"
        "A5,C5\nA6,C6,70,north\n"
    ),
    "quoted_newline_and_blank_lines": (
        f'{HEADER}\r\nA1,C1,30,"no\nrth"\r\n\r\nA2,"C,2",40,south\r\n\nA3,C3,50,east'
    ),
    "bom_and_crlf": f"\ufeff{HEADER}\r\nA1,C1,30,north\r\nA2,C2,,\r\n",
    "header_only": f"{HEADER}\n",
    "bad_quote": f'{HEADER}\nA1,C1,30,north\nA2,"C2"x,40,south\nA3,C3,50,east\n',
}
RECORDS = [
    {"application_id": "A1", "age": 30, "region": "north"},
    {"application_id": "A2", "age": "41", "region": None},
    {"application_id": "A3", "age": 50.5, "note": "line\u2028separator inside a string"},
]
JSONL_CASES = {
    "plain": "\n".join(json.dumps(r) for r in RECORDS) + "\n",
    "malformed_and_blank": (
        json.dumps(RECORDS[0])
        + "\n\n{not json\n[1, 2]\n   \n"
        + json.dumps(RECORDS[1])
        + "\r\n"
        + json.dumps(RECORDS[2])
    ),
    "raw_line_separator": (
        "\ufeff" + json.dumps(RECORDS[2], ensure_ascii=False) + "\n" + json.dumps(RECORDS[0])
    ),
    "crlf": "\r\n".join(json.dumps(r) for r in RECORDS) + "\r\n",
}


def _chunks(
    path: Path, n: int, source: SourceConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[list[str]]]:
    chunks = list(read_chunks(path, source=source or SourceConfig(), chunk_rows=n))
    assert chunks, "a reader yields at least one chunk"
    assert all(len(c.frame) + len(c.malformed) <= n for c in chunks)
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    malformed = pd.concat([c.malformed for c in chunks], ignore_index=True)
    return frame, malformed, [c.columns for c in chunks]


@pytest.fixture(params=[1, 2, 3, 1000], ids=lambda n: f"chunk{n}")
def chunk_rows(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(chunk_io, "_BLOCK", 5)  # tiny read blocks: lines cross block boundaries
    return request.param


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_csv_chunks_match_whole_file_reader(tmp_path: Path, case: str, chunk_rows: int) -> None:
    path = tmp_path / f"{case}.csv"
    path.write_bytes(CSV_CASES[case].encode())
    whole = read_batch_file(path)
    frame, malformed, columns = _chunks(path, chunk_rows)
    # (read_batch_file's empty _source_row is float64; the chunks' is int64 like a full one)
    pd.testing.assert_frame_equal(frame, whole.frame, check_dtype=len(frame) > 0)
    pd.testing.assert_frame_equal(malformed, whole.malformed)
    assert all(c == whole.columns for c in columns)


def test_short_and_long_csv_records_are_malformed_not_padded(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV_CASES["wrong_field_counts"])
    frame, malformed, _ = _chunks(path, 2)
    assert frame[SOURCE_ROW].tolist() == [1, 4, 6]
    assert malformed[SOURCE_ROW].tolist() == [2, 3, 5]
    assert set(malformed["reason"]) == {"record:wrong_field_count"}
    assert malformed["raw"].tolist() == ["A2,C2,40", "A3,C3,50,east,extra", "A5,C5"]


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_jsonl_chunks_match_whole_file_reader(tmp_path: Path, case: str, chunk_rows: int) -> None:
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(JSONL_CASES[case].encode())
    whole = read_batch_file(path)
    frame, malformed, _ = _chunks(path, chunk_rows)
    pd.testing.assert_frame_equal(malformed, whole.malformed)
    assert frame[SOURCE_ROW].tolist() == whole.frame[SOURCE_ROW].tolist()
    # a chunk infers its own value types (None vs NaN, int vs object); the values are the same
    left = frame.drop(columns=SOURCE_ROW).astype("object")
    right = whole.frame.drop(columns=SOURCE_ROW).astype("object")
    pd.testing.assert_frame_equal(left.where(left.notna(), None), right.where(right.notna(), None))


def test_parquet_chunks_match_whole_file_reader(tmp_path: Path, chunk_rows: int) -> None:
    frame = pd.DataFrame(
        {"application_id": ["A1", "A2", None], "age": [30.0, None, 50.0], "n": [1, 2, 3]},
        index=pd.Index([10, 20, 30], name="stored_index"),
    )
    for name, data in (("indexed", frame), ("empty", frame.iloc[:0])):
        path = tmp_path / f"{name}.parquet"
        data.to_parquet(path)  # the index is stored as a column; it is not a record field
        whole = read_batch_file(path)
        got, malformed, columns = _chunks(path, chunk_rows)
        pd.testing.assert_frame_equal(got, whole.frame)
        assert malformed.empty
        assert columns[0] == whole.columns == ["application_id", "age", "n"]


def test_badly_encoded_file_is_refused_before_any_chunk(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\n".encode() + "A1,C1,30,nörth\n".encode("latin-1"))
    with pytest.raises(DataFileError) as expected:
        read_batch_file(path)
    chunks = read_chunks(path, source=SourceConfig(), chunk_rows=1)
    with pytest.raises(DataFileError) as got:
        next(chunks)
    assert str(got.value) == str(expected.value)


NAMES = ["application_id", "customer_id", "age", "region"]
DIALECT_CASES = {
    # file name, source, text: compressed, headerless and delimited files as people have them
    "headerless_gzip": (
        "apps.data.gz",
        SourceConfig(format="csv", header=False, names=NAMES),
        "A1, C1, 30, north\nA2,C2,40\nA3 ,C3,50,east,x\n\nA4,C4, 60 ,west\n",
    ),
    "whitespace_zip": (
        "apps.txt.zip",
        SourceConfig(format="csv", delimiter="whitespace", header=False, names=NAMES),
        '  A1 C1\t30   north  \nA2 C2 40\nA3 C3 50 "east side"\r\n',
    ),
    "semicolon_bz2": (
        "apps.csv.bz2",
        SourceConfig(delimiter=";"),
        f'{HEADER.replace(",", ";")}\nA1;C1;30;north\nA2;C2;40;"so;uth"\nA3;C3\n',
    ),
    "tsv_xz": ("apps.tsv.xz", SourceConfig(), f"{HEADER.replace(',', chr(9))}\nA1\tC1\t30\tn\n"),
}


def _compressed(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, compressed as its extension says."""
    kind = path.suffix
    if kind == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.stem, data)
    else:
        compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[kind]
        path.write_bytes(compress(data))
    return path


@pytest.mark.parametrize("case", sorted(DIALECT_CASES))
def test_compressed_and_headerless_chunks_match_whole_file_reader(
    tmp_path: Path, case: str, chunk_rows: int
) -> None:
    name, source, text = DIALECT_CASES[case]
    path = _compressed(tmp_path / name, text.encode())
    whole = read_batch_file(path, source)
    assert len(whole.frame) >= 1
    frame, malformed, columns = _chunks(path, chunk_rows, source)
    pd.testing.assert_frame_equal(frame, whole.frame)
    pd.testing.assert_frame_equal(malformed, whole.malformed)
    assert all(c == whole.columns for c in columns)


def test_headerless_gzip_chunks_keep_record_numbers_and_quarantine(tmp_path: Path) -> None:
    name, source, text = DIALECT_CASES["headerless_gzip"]
    path = _compressed(tmp_path / name, text.encode())
    frame, malformed, columns = _chunks(path, 2, source)
    assert columns[0] == NAMES
    assert frame[SOURCE_ROW].tolist() == [1, 4]
    assert frame.loc[0, NAMES].tolist() == ["A1", "C1", "30", "north"]  # stripped
    assert frame.loc[1, NAMES].tolist() == ["A4", "C4", "60", "west"]
    assert malformed[SOURCE_ROW].tolist() == [2, 3]
    assert set(malformed["reason"]) == {"record:wrong_field_count"}


def test_parquet_gzip_chunks_match_whole_file_reader(tmp_path: Path, chunk_rows: int) -> None:
    frame = pd.DataFrame({"application_id": ["A1", "A2", "A3"], "age": [30.0, None, 50.0]})
    plain = tmp_path / "b.parquet"
    frame.to_parquet(plain, index=False)
    path = _compressed(tmp_path / "b.parquet.gz", plain.read_bytes())
    whole = read_batch_file(path)
    got, _, columns = _chunks(path, chunk_rows)
    pd.testing.assert_frame_equal(got, whole.frame)
    assert columns[0] == whole.columns == ["application_id", "age"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("apps.csv.gz", gzip.compress(f"{HEADER}\nA1,C1,30,north\n".encode() * 200, mtime=0)[:-30]),
        ("apps.data.gz", f"{HEADER}\n".encode()),  # not compressed at all
        ("apps.data", gzip.compress(f"{HEADER}\n".encode(), mtime=0)),  # compressed, name says not
    ],
)
def test_corrupt_or_misnamed_compressed_file_is_refused_before_any_chunk(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    source = SourceConfig(format="csv")
    with pytest.raises(DataFileError) as expected:
        read_batch_file(path, source)
    chunks = read_chunks(path, source=source, chunk_rows=1)
    with pytest.raises(DataFileError) as got:
        next(chunks)
    assert str(got.value) == str(expected.value)
    assert "gzip" in str(got.value) or ".gz" in str(got.value)
    assert "encoding" not in str(got.value)


@pytest.mark.parametrize("name", ["empty.csv", "blank.jsonl"])
def test_empty_file_is_one_empty_chunk(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("" if name.endswith(".csv") else "\n  \n")
    (chunk,) = read_chunks(path, source=SourceConfig(), chunk_rows=10)
    assert chunk.columns == [] and chunk.frame.empty and chunk.malformed.empty


def test_missing_file_and_bad_chunk_size(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="file not found"):
        next(read_chunks(tmp_path / "nope.csv", source=SourceConfig(), chunk_rows=10))
    with pytest.raises(ValueError, match="chunk_rows"):
        next(read_chunks(tmp_path / "nope.csv", source=SourceConfig(), chunk_rows=0))


def _scores(reasons: list[list[str]], start: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            SOURCE_ROW: range(start, start + len(reasons)),
            "score": [0.5] * len(reasons),
            "reasons": reasons,
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_table_writer_appends_chunks_and_publishes_on_close(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    writer = TableWriter(path)
    writer.write(_scores([[], []], 1))  # a first chunk with only empty lists
    writer.write(_scores([], 3))
    writer.write(_scores([["a", "b"], ["c"]], 3))
    assert not path.exists(), "the file appears only when complete"
    writer.close()
    if suffix == ".parquet":
        back = pd.read_parquet(path)
        assert [list(r) for r in back["reasons"]] == [[], [], ["a", "b"], ["c"]]
    else:
        reader = pd.read_csv if suffix == ".csv" else lambda p: pd.read_json(p, lines=True)
        back = reader(path)
        assert back["reasons"].fillna("").tolist() == ["", "", "a; b", "c"]
    assert back[SOURCE_ROW].tolist() == [1, 2, 3, 4]


def test_table_writer_abort_leaves_nothing(tmp_path: Path) -> None:
    writer = TableWriter(tmp_path / "out.parquet")
    writer.write(_scores([["a"]], 1))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_output_names() -> None:
    assert quarantine_path(Path("out/scores.csv")) == Path("out/scores.quarantine.csv")
    with pytest.raises(ValueError, match=r"use \.csv, \.jsonl or \.parquet"):
        output_format("scores.txt")
    batch_id = new_batch_id("data/2024-01 api (copy).jsonl")
    assert batch_id.startswith("2024-01_api_copy-")
