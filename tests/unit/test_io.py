"""Tests for loopline.io: defensive reading of raw batch files and atomic writes."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from loopline.config import SourceConfig, to_config
from loopline.io import (
    SOURCE_ROW,
    DataFileError,
    RawBatch,
    detect_format,
    file_sha256,
    read_batch_file,
    read_json,
    read_table,
    write_json,
    write_table,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# --- detect_format ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("a.csv", "auto", "csv"),
        ("a.TSV", "auto", "csv"),
        ("a.jsonl", "auto", "jsonl"),
        ("a.ndjson", "auto", "jsonl"),
        ("a.json", "auto", "jsonl"),
        ("a.parquet", "auto", "parquet"),
        ("a.pq", "auto", "parquet"),
        ("a.txt", "csv", "csv"),  # a declared format wins over the extension
        ("a.csv.gz", "auto", "csv"),  # compressed: the extension inside counts
        ("a.TSV.BZ2", "auto", "csv"),
        ("a.jsonl.xz", "auto", "jsonl"),
        ("a.parquet.zip", "auto", "parquet"),
        ("german.data.gz", "csv", "csv"),
    ],
)
def test_detect_format(name: str, declared: str, expected: str) -> None:
    assert detect_format(Path(name), declared) == expected


def test_unknown_extension_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, "batch.xlsx", "a,b\n1,2\n")
    with pytest.raises(DataFileError) as info:
        read_batch_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "'.xlsx'" in message
    assert "format" in message  # says how to fix it


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="file not found"):
        read_batch_file(tmp_path / "absent.csv")


# --- CSV ----------------------------------------------------------------------------------


def test_good_csv_keeps_values_as_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", "id,amount,note\n007,1.50,\nA2,20,NA\n")
    batch = read_batch_file(path)
    assert batch.columns == ["id", "amount", "note"]
    assert list(batch.frame.columns) == [SOURCE_ROW, "id", "amount", "note"]
    assert _records(batch.frame) == [
        {SOURCE_ROW: 1, "id": "007", "amount": "1.50", "note": ""},
        {SOURCE_ROW: 2, "id": "A2", "amount": "20", "note": "NA"},
    ]
    assert batch.malformed.empty
    assert list(batch.malformed.columns) == [SOURCE_ROW, "raw", "reason"]


def test_csv_with_custom_delimiter_and_quotes(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", 'id;amount\nA;"1;5"\nB;"x\ny"\n')
    batch = read_batch_file(path, SourceConfig(delimiter=";"))
    assert batch.frame["amount"].tolist() == ["1;5", "x\ny"]
    assert batch.frame[SOURCE_ROW].tolist() == [1, 2]


def test_csv_line_with_too_many_fields_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", "a,b,c\n1,2,3\n4,5,6,7\n7,8,9\n")
    batch = read_batch_file(path)
    assert _records(batch.frame) == [
        {SOURCE_ROW: 1, "a": "1", "b": "2", "c": "3"},
        {SOURCE_ROW: 3, "a": "7", "b": "8", "c": "9"},
    ]
    assert _records(batch.malformed) == [
        {SOURCE_ROW: 2, "raw": "4,5,6,7", "reason": "record:wrong_field_count"}
    ]
    assert batch.columns == ["a", "b", "c"]


def test_csv_line_with_too_few_fields_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.csv", "a,b,c\n1,2,3\n4,5\n7,8,9\n")
    batch = read_batch_file(path)
    assert batch.frame[SOURCE_ROW].tolist() == [1, 3]
    assert _records(batch.malformed) == [
        {SOURCE_ROW: 2, "raw": "4,5", "reason": "record:wrong_field_count"}
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n\n3,4\n",  # fast path
        "a,b\n1,2\n\n3,4\n5,6,7\n",  # slow path (a broken record elsewhere)
    ],
)
def test_csv_blank_lines_are_skipped(tmp_path: Path, text: str) -> None:
    batch = read_batch_file(_write(tmp_path, "b.csv", text))
    assert batch.frame[["a", "b"]].to_numpy().tolist() == [["1", "2"], ["3", "4"]]
    assert batch.frame[SOURCE_ROW].tolist() == [1, 2]


def test_empty_file_has_no_rows_and_no_columns(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"")
    batch = read_batch_file(path)
    assert batch.columns == []
    assert len(batch.frame) == 0
    assert list(batch.frame.columns) == [SOURCE_ROW]
    assert batch.malformed.empty


def test_header_only_csv_has_columns_and_no_rows(tmp_path: Path) -> None:
    batch = read_batch_file(_write(tmp_path, "b.csv", "id,amount\n"))
    assert batch.columns == ["id", "amount"]
    assert list(batch.frame.columns) == [SOURCE_ROW, "id", "amount"]
    assert len(batch.frame) == 0


def test_latin1_file_read_as_utf8_names_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))  # é is byte 13
    with pytest.raises(DataFileError) as info:
        read_batch_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "not valid utf-8" in message
    assert "0xe9" in message
    assert "offset 13" in message
    assert "encoding" in message  # says what to do


def test_declared_encoding_reads_latin1(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    batch = read_batch_file(path, SourceConfig(encoding="latin-1"))
    assert batch.frame["name"].tolist() == ["José"]


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes("\ufeffid,amount\nA,1\n".encode())
    batch = read_batch_file(path)
    assert batch.columns == ["id", "amount"]
    assert batch.frame["id"].tolist() == ["A"]


# --- JSONL --------------------------------------------------------------------------------


def test_jsonl_invalid_and_non_object_lines_are_malformed(tmp_path: Path) -> None:
    text = '{"id": "A", "amount": 1.5}\n{"id": "B", \n[1, 2]\n"text"\n{"id": "C", "extra": true}\n'
    batch = read_batch_file(_write(tmp_path, "b.jsonl", text))
    assert batch.columns == ["id", "amount", "extra"]
    assert batch.frame["id"].tolist() == ["A", "C"]
    assert batch.frame[SOURCE_ROW].tolist() == [1, 5]
    assert batch.frame.loc[0, "amount"] == 1.5  # JSON values keep their JSON type
    assert _records(batch.malformed) == [
        {SOURCE_ROW: 2, "raw": '{"id": "B", ', "reason": "record:invalid_json"},
        {SOURCE_ROW: 3, "raw": "[1, 2]", "reason": "record:not_a_json_object"},
        {SOURCE_ROW: 4, "raw": '"text"', "reason": "record:not_a_json_object"},
    ]


def test_jsonl_blank_lines_are_skipped(tmp_path: Path) -> None:
    batch = read_batch_file(_write(tmp_path, "b.jsonl", '{"id": "A"}\n\n   \n{"id": "B"}\n\n'))
    assert batch.frame["id"].tolist() == ["A", "B"]
    assert batch.malformed.empty


def test_jsonl_with_only_bad_lines(tmp_path: Path) -> None:
    batch = read_batch_file(_write(tmp_path, "b.jsonl", "nope\n[]\n"))
    assert len(batch.frame) == 0
    assert batch.columns == []
    assert batch.malformed["reason"].tolist() == ["record:invalid_json", "record:not_a_json_object"]


# --- Parquet ------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["A", "B", None],
            "amount": [1.5, None, 3.0],
            "at": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
        }
    )
    path = write_table(frame, tmp_path / "b.parquet")
    batch = read_batch_file(path)
    assert batch.columns == ["id", "amount", "at"]
    assert batch.frame[SOURCE_ROW].tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(
        batch.frame.drop(columns=SOURCE_ROW), frame, check_dtype=False, check_index_type=False
    )


def test_corrupt_parquet_raises(tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataFileError) as info:
        read_batch_file(path)
    assert str(path) in str(info.value)
    assert "not a readable Parquet file" in str(info.value)


# --- compression ----------------------------------------------------------------------------

CSV_TEXT = 'id,amount,note\nA1,1.5,"x, y"\nA2,2,\nA3,3,4,5\n'
JSONL_TEXT = '{"id": "A1", "amount": 1.5}\n{broken\n{"id": "A2", "amount": 2}\n'


def _compress(path: Path, data: bytes, kind: str) -> Path:
    """Write `data` compressed as `path` + the kind's extension; return the new path."""
    target = path.with_name(f"{path.name}.{kind}")
    if kind == "gz":
        target.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        target.write_bytes(bz2.compress(data))
    elif kind == "xz":
        target.write_bytes(lzma.compress(data))
    else:
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr(path.name, data)
    return target


def _same(a: RawBatch, b: RawBatch) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.malformed, b.malformed)
    assert a.columns == b.columns


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
@pytest.mark.parametrize(("name", "text"), [("b.csv", CSV_TEXT), ("b.jsonl", JSONL_TEXT)])
def test_compressed_files_read_as_the_plain_file(
    tmp_path: Path, kind: str, name: str, text: str
) -> None:
    plain = _write(tmp_path, name, text)
    compressed = _compress(plain, text.encode(), kind)
    batch = read_batch_file(compressed)
    _same(batch, read_batch_file(plain))
    assert len(batch.malformed) == 1  # the broken record is quarantined, not lost


@pytest.mark.parametrize("kind", ["gz", "zip"])
def test_compressed_parquet_reads_as_the_plain_file(tmp_path: Path, kind: str) -> None:
    plain = write_table(pd.DataFrame({"id": ["A", "B"], "x": [1.0, None]}), tmp_path / "b.parquet")
    compressed = _compress(plain, plain.read_bytes(), kind)
    _same(read_batch_file(compressed), read_batch_file(plain))


def test_compressed_file_with_unknown_inner_extension_needs_format(tmp_path: Path) -> None:
    path = _compress(tmp_path / "german.data", b"A11 6 1\nA12 48 2\n", "gz")
    with pytest.raises(DataFileError) as info:
        read_batch_file(path)
    assert "'.data'" in str(info.value) and "format" in str(info.value)
    names = ["status", "months", "label"]
    source = SourceConfig(format="csv", delimiter="whitespace", header=False, names=names)
    batch = read_batch_file(path, source)
    assert batch.columns == ["status", "months", "label"]
    assert batch.frame[["status", "months", "label"]].to_numpy().tolist() == [
        ["A11", "6", "1"],
        ["A12", "48", "2"],
    ]


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("b.csv.gz", b"id,amount\nA,1\n", "gzip"),  # plain text named .gz
        ("b.csv.gz", gzip.compress(b"id,amount\nA,1\n" * 50, mtime=0)[:-20], "gzip"),  # truncated
        ("b.csv.bz2", b"BZh9 not really", "bz2"),
        ("b.csv.xz", b"\xfd7zXZ\x00 not really", "xz"),
        ("b.csv.zip", b"PK\x03\x04 not really", "zip"),
    ],
)
def test_corrupt_compressed_file_names_the_compression_not_the_encoding(
    tmp_path: Path, name: str, data: bytes, kind: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    for source in (None, SourceConfig(format="csv")):
        with pytest.raises(DataFileError) as info:
            read_batch_file(path, source)
        message = str(info.value)
        assert str(path) in message
        assert f"not a valid {kind} file" in message
        assert "encoding" not in message


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])  # latin-1 would decode anything
def test_gzip_data_without_gz_in_the_name_says_so(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "german.data"
    path.write_bytes(gzip.compress(b"A11 6 1\n"))
    with pytest.raises(DataFileError) as info:
        read_batch_file(path, SourceConfig(format="csv", encoding=encoding))
    message = str(info.value)
    assert "compressed (.gz)" in message and "german.data.gz" in message
    assert "encoding" not in message


def test_zip_must_hold_exactly_one_file(tmp_path: Path) -> None:
    path = tmp_path / "b.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("one.csv", "a\n1\n")
        archive.writestr("two.csv", "a\n2\n")
    with pytest.raises(DataFileError) as info:
        read_batch_file(path)
    assert str(path) in str(info.value)
    assert "one.csv, two.csv" in str(info.value)


def test_zip_ignores_folders_and_macos_resource_forks(tmp_path: Path) -> None:
    path = tmp_path / "b.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/", "")
        archive.writestr("data/b.csv", "a\n1\n")
        archive.writestr("__MACOSX/data/._b.csv", "junk")
    assert read_batch_file(path).frame["a"].tolist() == ["1"]


# --- dialects: headerless files, delimiters, whitespace -----------------------------------


def test_headerless_csv_takes_names_from_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "adult.data", "39,State-gov,<=50K\n50,Private,>50K\n")
    source = SourceConfig(format="csv", header=False, names=["age", "workclass", "income"])
    batch = read_batch_file(path, source)
    assert batch.columns == ["age", "workclass", "income"]
    assert _records(batch.frame) == [  # the first line is data, record 1
        {SOURCE_ROW: 1, "age": "39", "workclass": "State-gov", "income": "<=50K"},
        {SOURCE_ROW: 2, "age": "50", "workclass": "Private", "income": ">50K"},
    ]


def test_headerless_record_with_wrong_field_count_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.txt", "1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    batch = read_batch_file(path, SourceConfig(format="csv", header=False, names=["a", "b", "c"]))
    assert batch.frame[SOURCE_ROW].tolist() == [1, 4]
    assert _records(batch.malformed) == [
        {SOURCE_ROW: 2, "raw": "4,5", "reason": "record:wrong_field_count"},
        {SOURCE_ROW: 3, "raw": "6,7,8,9", "reason": "record:wrong_field_count"},
    ]


def test_csv_values_and_names_lose_surrounding_whitespace(tmp_path: Path) -> None:
    path = _write(tmp_path, "adult.csv", 'age, workclass , note\n39, State-gov, " a, b "\n')
    batch = read_batch_file(path)
    assert batch.columns == ["age", "workclass", "note"]
    assert _records(batch.frame) == [
        {SOURCE_ROW: 1, "age": "39", "workclass": "State-gov", "note": "a, b"}
    ]


@pytest.mark.parametrize(
    ("delimiter", "text"),
    [
        (";", "id;amount\nA;1,5\nB;2\n"),
        ("semicolon", "id;amount\nA;1,5\nB;2\n"),
        ("\t", "id\tamount\nA\t1,5\nB\t2\n"),
        ("tab", "id\tamount\nA\t1,5\nB\t2\n"),
        ("TAB", "id\tamount\nA\t1,5\nB\t2\n"),
        ("\\t", "id\tamount\nA\t1,5\nB\t2\n"),  # '\t' in single-quoted YAML
        ("comma", 'id,amount\nA,"1,5"\nB,2\n'),
        ("whitespace", "id   amount\n  A \t 1,5  \nB\t\t2\n\n   \n"),
    ],
)
def test_delimiters(tmp_path: Path, delimiter: str, text: str) -> None:
    batch = read_batch_file(_write(tmp_path, "b.csv", text), SourceConfig(delimiter=delimiter))
    assert batch.columns == ["id", "amount"]
    assert batch.frame[["id", "amount"]].to_numpy().tolist() == [["A", "1,5"], ["B", "2"]]
    assert batch.malformed.empty


def test_whitespace_delimiter_keeps_quotes_and_quarantines_wrong_counts(tmp_path: Path) -> None:
    text = 'id note n\nA "two  words" 1\nB x\nC "" 3\n'
    batch = read_batch_file(
        _write(tmp_path, "b.txt", text), SourceConfig(format="csv", delimiter="whitespace")
    )
    assert batch.frame[["id", "note", "n"]].to_numpy().tolist() == [
        ["A", "two  words", "1"],
        ["C", "", "3"],
    ]
    assert _records(batch.malformed) == [
        {SOURCE_ROW: 2, "raw": "B x", "reason": "record:wrong_field_count"}
    ]


@pytest.mark.parametrize("compressed", [False, True])
def test_tsv_reads_tabs_unless_a_delimiter_is_set(tmp_path: Path, compressed: bool) -> None:
    text = "id\tnote\nA\tx;y\n"
    path = _write(tmp_path, "b.tsv", text)
    if compressed:
        path = _compress(path, text.encode(), "gz")  # b.tsv.gz
    assert read_batch_file(path).frame["note"].tolist() == ["x;y"]
    assert read_batch_file(path, SourceConfig(delimiter=";")).columns == ["id\tnote"]


def test_header_false_is_for_csv_only(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.jsonl", '{"a": 1}\n')
    with pytest.raises(DataFileError, match="CSV files only"):
        read_batch_file(path, SourceConfig(header=False, names=["a"]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header": False}, "`header: false` needs `names`"),
        ({"names": ["a", "b"]}, "`names` is for files without a header row"),
        ({"header": False, "names": ["a", "a"]}, "duplicates"),
        ({"delimiter": "||"}, "delimiter '||'"),
        ({"delimiter": '"'}, "is not one character"),
        ({"delimiter": "tabs"}, "comma, semicolon, tab or whitespace"),
        ({"decimal": ";"}, "decimal must be"),
        ({"decimal": ",", "thousands": ","}, "both ','"),
        ({"encoding": "utf-9"}, "unknown encoding 'utf-9'"),
        ({"format": "excel"}, "format 'excel'"),
    ],
)
def test_source_config_refuses_an_unreadable_dialect(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SourceConfig(pattern="*.data", **options)
    assert "'*.data'" in str(info.value)  # names the source


def test_dataset_yaml_with_a_headerless_source_loads() -> None:
    source = {"pattern": "*.data.gz", "format": "csv", "header": False, "names": ["a", "b"]}
    raw = {"dataset": {"sources": {"german": source | {"delimiter": "whitespace"}}}}
    loaded = to_config(raw).dataset.sources["german"]
    assert (loaded.header, loaded.names, loaded.resolved_delimiter()) == (
        False,
        ["a", "b"],
        "whitespace",
    )
    with pytest.raises(ValueError, match="needs `names`"):
        to_config({"dataset": {"sources": {"german": {"header": False}}}})


# --- writing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.parquet", "out.csv", "out.jsonl"])
def test_write_table_is_atomic_and_round_trips(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"id": ["A", "B"], "amount": [1.5, 2.0]})
    path = write_table(frame, tmp_path / "deep" / name)
    assert path == tmp_path / "deep" / name
    assert sorted(p.name for p in path.parent.iterdir()) == [name]  # no leftover .tmp
    if name.endswith(".parquet"):
        back = read_table(path)
    else:
        back = read_batch_file(path).frame.drop(columns=SOURCE_ROW)
        back["amount"] = back["amount"].astype(float)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_write_table_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"a": [1, 2, 3]}), path)
    write_table(pd.DataFrame({"a": [9]}), path)
    assert read_table(path)["a"].tolist() == [9]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_write_table_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown extension '\.xlsx'"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_write_json_is_atomic_and_round_trips(tmp_path: Path) -> None:
    obj = {"b": [1, 2.5, None], "a": {"nested": "x"}, "when": pd.Timestamp("2024-01-02")}
    path = write_json(obj, tmp_path / "sub" / "report.json")
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]
    back = read_json(path)
    assert back == {"b": [1, 2.5, None], "a": {"nested": "x"}, "when": "2024-01-02 00:00:00"}
    assert list(back) == ["b", "a", "when"]  # key order kept
    assert path.read_text().endswith("}\n")


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_large_tables_are_written_a_slice_at_a_time_with_the_same_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopline.io import files

    monkeypatch.setattr(files, "PARQUET_SLICE_ROWS", 3)
    frame = pd.DataFrame(
        {
            "id": pd.Series([f"a{i}" for i in range(8)], dtype="str"),
            "x": [float(i) for i in range(8)],
            "when": pd.date_range("2024-01-01", periods=8, freq="D"),
            "cat": pd.Categorical(list("abcabcab")),
        }
    )
    write_table(frame, tmp_path / "sliced.parquet")
    frame.to_parquet(tmp_path / "whole.parquet", index=False)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "sliced.parquet").metadata.num_row_groups == 3
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "sliced.parquet"), read_table(tmp_path / "whole.parquet")
    )
    # a column with no value in the first slice has no type yet: the table goes in one piece
    late = frame.assign(note=pd.Series([None] * 5 + ["x", "y", "z"], dtype=object))
    write_table(late, tmp_path / "late.parquet")
    late.to_parquet(tmp_path / "late-whole.parquet", index=False)
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "late.parquet"), read_table(tmp_path / "late-whole.parquet")
    )


def test_read_table_reads_only_the_rows_asked_for_in_file_order(tmp_path: Path) -> None:
    frame = pd.DataFrame({"split": ["train", "test", "valid", "test"], "x": [1, 2, 3, 4]})
    write_table(frame, tmp_path / "t.parquet")
    got = read_table(tmp_path / "t.parquet", columns=["x"], where=("split", ["test", "valid"]))
    assert got["x"].tolist() == [2, 3, 4] and list(got.index) == [0, 1, 2]
