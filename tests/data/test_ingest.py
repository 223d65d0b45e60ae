"""Tests for loopline.ingest: raw batches in a source's dialect -> canonical columns and dtypes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline.config import DatasetConfig, SourceConfig, to_config
from loopline.ingest import (
    AS_OF,
    PARSE_ERRORS,
    RAW,
    SOURCE,
    SOURCE_FILE,
    batch_as_of,
    canonical_name,
    normalise,
)
from loopline.io import SOURCE_ROW, RawBatch, read_batch_file
from loopline.params import compose
from loopline.schemas import TableSchema, parse_table_schema, table_schema

ROOT = Path(__file__).resolve().parents[2]
BRANCH_FILE = "applications/2024-03_branch.csv"


@pytest.fixture(scope="module")
def loans() -> DatasetConfig:
    return to_config(compose(root=ROOT)).dataset


@pytest.fixture(scope="module")
def loans_schema(loans: DatasetConfig) -> TableSchema:
    return table_schema(ROOT / loans.schema_path)


# A small schema for tests that do not need the whole loans contract.
SMALL = parse_table_schema(
    {
        "columns": {
            "id": {"dtype": "string", "nullable": False},
            "at": {"dtype": "datetime", "nullable": False},
            "age": {"dtype": "int", "nullable": False},
            "income": {"dtype": "float"},
            "region": {"dtype": "category", "allowed": ["n", "s"]},
            "note": {"dtype": "string", "required": False},
        }
    },
    name="small",
)


def _raw(rows: list[dict], malformed: list[tuple[int, str, str]] | None = None) -> RawBatch:
    frame = pd.DataFrame(rows, dtype="str")
    frame.insert(0, SOURCE_ROW, range(1, len(frame) + 1))
    bad = pd.DataFrame(malformed or [], columns=[SOURCE_ROW, "raw", "reason"])
    return RawBatch(frame=frame, malformed=bad.astype({SOURCE_ROW: "int64"}), columns=list(rows[0]))


def _normalise(raw: RawBatch, **kwargs) -> pd.DataFrame:
    options = {
        "schema": SMALL,
        "source": SourceConfig(),
        "source_key": "api",
        "file_name": "2024-03_api.jsonl",
        "na_values": ["", "NA", "N/A"],
        "period_regex": r"(\d{4}-\d{2})",
    } | kwargs
    return normalise(raw, **options)


ROW = {"id": "A1", "at": "2024-03-05T10:00:00", "age": "30", "income": "100.5", "region": "n"}


# --- canonical_name / batch_as_of ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("annual_income", "annual_income"),
        ("Annual Income ", "annual_income"),
        ("  Annual   Income", "annual_income"),
        ("Term (months)", "term_months"),
        ("DTI", "dti"),
        ("App-ID", "app_id"),
        ("loan.amount", "loan_amount"),
        ("a--b__c", "a_b_c"),
        ("_private_", "private"),
        ("Age2", "age2"),
    ],
)
def test_canonical_name(raw: str, expected: str) -> None:
    assert canonical_name(raw) == expected


@pytest.mark.parametrize(
    ("file_name", "regex", "expected"),
    [
        ("applications/2024-03_branch.csv", r"(\d{4}-\d{2})", "2024-04-01"),
        ("2024-12_api.jsonl", r"(\d{4}-\d{2})", "2025-01-01"),
        ("batch_2023-01.parquet", r"(\d{4}-\d{2})", "2023-02-01"),
        ("no_period.csv", r"(\d{4}-\d{2})", None),
        ("2024-13_api.jsonl", r"(\d{4}-\d{2})", None),  # not a month
        ("2024-03_api.jsonl", None, None),
        ("2024-03_api.jsonl", "", None),
    ],
)
def test_batch_as_of(file_name: str, regex: str | None, expected: str | None) -> None:
    result = batch_as_of(file_name, regex)
    assert result == (None if expected is None else pd.Timestamp(expected))


# --- normalise with the branch source of conf/dataset/loans.yaml --------------------------

BRANCH_CSV = (
    "App ID,Customer No,Application Date,Applicant Age,Annual Salary,Years Employed,"
    "Employment Type,Home Ownership,Loan Amount,Term (months),Purpose,Region,Channel,"
    "Credit Utilisation,Open Accounts,Past Delinquencies,DTI,Branch Code\n"
    'B1,C1,03/04/2024 10:30,34,"45,000",3,salaried,rent,"12,500",36,car,north,branch,'
    "0.3,4,0,0.2,X9\n"
    "B2,C2,31/03/2024 23:59,abc,N/A,NA,salaried,NULL,5000,36,car,north,branch,,,,,X9\n"
    'B3,C3,2024-03-04,40,"1,234,567.5",1,contract,own,5000,24,car,south,branch,1,2,0,0.1,X9\n'
    "B4,C4,05/03/2024 09:00,40,50000,1,contract,own,5000,24,car,south,branch,1,2,0,0.1,X9,oops\n"
)


@pytest.fixture
def branch(tmp_path: Path, loans: DatasetConfig, loans_schema: TableSchema) -> pd.DataFrame:
    path = tmp_path / "2024-03_branch.csv"
    path.write_text(BRANCH_CSV)
    result = normalise(
        read_batch_file(path),
        schema=loans_schema,
        source=loans.sources["branch"],
        source_key="branch",
        file_name=BRANCH_FILE,
        na_values=loans.na_values,
        period_regex=loans.batch_period_regex,
    )
    assert result.missing_columns == []
    assert result.extra_columns == ["branch_code"]
    return result.frame


def test_branch_columns_are_renamed_to_canonical_order(
    branch: pd.DataFrame, loans_schema: TableSchema
) -> None:
    assert list(branch.columns) == [
        *loans_schema.names,
        SOURCE,
        SOURCE_FILE,
        SOURCE_ROW,
        AS_OF,
        PARSE_ERRORS,
        RAW,
    ]
    assert branch["application_id"].tolist() == ["B1", "B2", "B3", np.nan]
    assert branch["customer_id"].tolist()[:3] == ["C1", "C2", "C3"]


def test_branch_thousands_separators(branch: pd.DataFrame) -> None:
    assert branch.loc[0, "annual_income"] == 45_000.0
    assert branch.loc[0, "loan_amount"] == 12_500.0
    assert branch.loc[2, "annual_income"] == 1_234_567.5


def test_branch_day_first_dates(branch: pd.DataFrame) -> None:
    assert branch.loc[0, "applied_at"] == pd.Timestamp("2024-04-03 10:30")  # 3 April, not 4 March
    assert branch.loc[1, "applied_at"] == pd.Timestamp("2024-03-31 23:59")
    assert branch["applied_at"].dtype == "datetime64[ns]"


def test_branch_parse_errors_and_na_markers(branch: pd.DataFrame) -> None:
    assert pd.isna(branch.loc[0, PARSE_ERRORS])
    # "abc" in a number is an error; N/A, NA, NULL and "" are missing without an error
    assert branch.loc[1, PARSE_ERRORS] == "age:not_a_number"
    assert branch.loc[1, ["age", "annual_income", "employment_years"]].isna().all()
    assert pd.isna(branch.loc[1, "home_ownership"])
    assert branch.loc[1, ["credit_utilization", "debt_to_income"]].isna().all()
    # an ISO date is not the source's day-first format
    assert branch.loc[2, PARSE_ERRORS] == "applied_at:bad_timestamp"
    assert pd.isna(branch.loc[2, "applied_at"])


def test_branch_malformed_record_is_a_row_with_its_reason(branch: pd.DataFrame) -> None:
    bad = branch.iloc[3]
    assert bad[PARSE_ERRORS] == "record:wrong_field_count"
    assert bad[RAW].startswith("B4,C4,05/03/2024 09:00")
    assert bad[SOURCE_ROW] == 4
    assert bad[["application_id", "age", "applied_at"]].isna().all()


def test_branch_lineage(branch: pd.DataFrame) -> None:
    assert branch[SOURCE].tolist() == ["branch"] * 4
    assert branch[SOURCE_FILE].tolist() == [BRANCH_FILE] * 4
    assert branch[SOURCE_ROW].tolist() == [1, 2, 3, 4]
    assert (branch[AS_OF] == pd.Timestamp("2024-04-01")).all()


def test_branch_dtypes(branch: pd.DataFrame, loans_schema: TableSchema) -> None:
    for name in loans_schema.of_dtype("float", "int"):
        assert branch[name].dtype == "float64", name
    for name in loans_schema.of_dtype("string", "category"):
        assert branch[name].dtype == "str", name
    assert branch[SOURCE_ROW].dtype == "int64"
    assert branch[AS_OF].dtype == "datetime64[ns]"


# --- normalise on hand-built batches ------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "error", "parsed"),
    [
        ("age", "abc", "age:not_a_number", np.nan),
        ("age", "3o", "age:not_a_number", np.nan),
        ("income", "1.2.3", "income:not_a_number", np.nan),
        ("at", "yesterday", "at:bad_timestamp", pd.NaT),
        ("at", "2024-02-30", "at:bad_timestamp", pd.NaT),
        ("age", " 41 ", None, 41.0),
        ("income", "-3e2", None, -300.0),
        ("at", "2024-03-05T10:00:00+02:00", None, pd.Timestamp("2024-03-05 08:00")),
        ("age", "NA", None, np.nan),
        ("income", "N/A", None, np.nan),
        ("at", "", None, pd.NaT),
        ("region", " NA ", None, np.nan),
        ("region", " s ", None, "s"),
    ],
)
def test_parse_errors_and_na_markers(column: str, value: str, error: str | None, parsed) -> None:
    frame = _normalise(_raw([ROW | {column: value}])).frame
    if error is None:
        assert pd.isna(frame.loc[0, PARSE_ERRORS])
    else:
        assert frame.loc[0, PARSE_ERRORS] == error
    if pd.isna(parsed):
        assert pd.isna(frame.loc[0, column])
    else:
        assert frame.loc[0, column] == parsed


@pytest.mark.parametrize(
    ("value", "thousands", "decimal", "parsed"),
    [
        ("1.234,5", ".", ",", 1234.5),
        (" 12,5 ", ".", ",", 12.5),
        ("-0,25", None, ",", -0.25),
        ("1.234.567,5", ".", ",", 1234567.5),
        ("1 234,5", " ", ",", 1234.5),
        ("1,234.5", ",", ".", 1234.5),  # the default decimal point is unchanged
        ("1.5", None, ",", None),  # a point is no separator of this source: not a guess
        ("1,2,3", ".", ",", None),
        ("12,5", None, ".", None),
        ("abc", ".", ",", None),
    ],
)
def test_decimal_commas(value: str, thousands: str | None, decimal: str, parsed) -> None:
    source = SourceConfig(thousands=thousands, decimal=decimal)
    frame = _normalise(_raw([ROW | {"income": value}]), source=source).frame
    if parsed is None:
        assert pd.isna(frame.loc[0, "income"])
        assert frame.loc[0, PARSE_ERRORS] == "income:not_a_number"
    else:
        assert frame.loc[0, "income"] == parsed
        assert pd.isna(frame.loc[0, PARSE_ERRORS])


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "2024-03_api.csv"
    path.write_text(
        "ID;At;Age;Income;Region\nA1;2024-03-05;30;1.234,5;n\nA2;2024-03-06;31;9,99;s\n"
    )
    source = SourceConfig(delimiter="semicolon", thousands=".", decimal=",")
    frame = _normalise(read_batch_file(path, source), source=source).frame
    assert frame["income"].tolist() == [1234.5, 9.99]
    assert frame["id"].tolist() == ["A1", "A2"]  # header names canonicalised
    assert frame[PARSE_ERRORS].isna().all()


def test_headerless_gzip_file_with_spaces_after_commas(tmp_path: Path) -> None:
    """An adult-census-style file: no header, ", " between fields, gzip-compressed."""
    path = tmp_path / "2024-03_survey.data.gz"
    text = (
        "A1, 2024-03-05T10:00:00, 39, 77516, n\n"
        "A2, 2024-03-05T11:00:00, 50\n"  # too few fields: quarantined, not padded
        "A3, 2024-03-05T12:00:00, 38, 215646.5, s\n"
    )
    path.write_bytes(gzip.compress(text.encode()))
    names = ["ID", "At", "Age", "Income", "Region"]  # canonical_name applies to names too
    source = SourceConfig(format="csv", header=False, names=names)
    raw = read_batch_file(path, source)
    result = _normalise(raw, source=source, file_name=path.name)
    assert result.missing_columns == []
    frame = result.frame
    assert frame[SOURCE_ROW].tolist() == [1, 2, 3]
    assert frame["region"].tolist() == ["n", np.nan, "s"]  # " n" lost its space
    assert frame["income"].tolist()[0] == 77516.0
    assert frame["age"].tolist()[2] == 38.0
    assert frame[PARSE_ERRORS].tolist() == [np.nan, "record:wrong_field_count", np.nan]
    assert frame[RAW].tolist()[1] == "A2,2024-03-05T11:00:00,50"


@pytest.mark.parametrize("value", [" State-gov", "State-gov ", "  State-gov  "])
def test_category_and_string_values_lose_surrounding_spaces(value: str) -> None:
    """From JSONL or Parquet (whose reader does not strip), as from CSV."""
    schema = parse_table_schema(
        {
            "columns": {
                "workclass": {"dtype": "category", "allowed": ["State-gov"]},
                "note": {"dtype": "string"},
            }
        },
        name="adult",
    )
    raw = _raw([{"workclass": value, "note": value}])
    frame = _normalise(raw, schema=schema).frame
    assert frame.loc[0, "workclass"] == "State-gov"
    assert frame.loc[0, "note"] == "State-gov"


def test_several_parse_errors_in_one_row_are_joined() -> None:
    frame = _normalise(_raw([ROW | {"age": "x", "at": "y", "income": "z"}, ROW])).frame
    expected = "at:bad_timestamp;age:not_a_number;income:not_a_number"  # schema order
    assert frame[PARSE_ERRORS].tolist()[0] == expected
    assert pd.isna(frame[PARSE_ERRORS].tolist()[1])


def test_missing_required_columns_are_listed_and_filled() -> None:
    row = {"id": "A1", "income": "1"}
    result = _normalise(_raw([row]))
    assert result.missing_columns == ["at", "age", "region"]  # "note" is not required
    assert result.frame[["at", "age", "region", "note"]].isna().all(axis=None)
    assert result.frame["age"].dtype == "float64"


def test_extra_columns_are_listed_in_canonical_spelling() -> None:
    result = _normalise(_raw([ROW | {"Branch Code": "x", "zeta": "1", "Alpha": "2"}]))
    assert result.extra_columns == ["alpha", "branch_code", "zeta"]
    assert "branch_code" not in result.frame.columns


def test_rename_wins_over_canonical_name() -> None:
    row = {"ID": "A1", "When": "05/03/2024", "Age (yrs)": "30", "income": "1", "region": "n"}
    rename = {"ID": "id", "When": "at", "Age (yrs)": "age"}
    source = SourceConfig(rename=rename, date_format="%d/%m/%Y")
    result = _normalise(_raw([row]), source=source)
    assert result.missing_columns == []
    expected = ["A1", pd.Timestamp("2024-03-05"), 30.0]
    assert result.frame.loc[0, ["id", "at", "age"]].tolist() == expected


def test_malformed_records_are_appended_in_record_order() -> None:
    raw = _raw(
        [ROW, ROW | {"id": "A3"}],
        malformed=[(2, "A2,broken", "record:wrong_field_count"), (4, "{x", "record:invalid_json")],
    )
    raw.frame[SOURCE_ROW] = [1, 3]
    frame = _normalise(raw).frame
    assert frame[SOURCE_ROW].tolist() == [1, 2, 3, 4]
    assert frame["id"].tolist() == ["A1", np.nan, "A3", np.nan]
    assert frame[PARSE_ERRORS].tolist() == [
        np.nan,
        "record:wrong_field_count",
        np.nan,
        "record:invalid_json",
    ]
    assert frame[RAW].tolist() == [np.nan, "A2,broken", np.nan, "{x"]
    assert frame[SOURCE].tolist() == ["api"] * 4
    assert (frame[AS_OF] == pd.Timestamp("2024-04-01")).all()
    assert frame["age"].dtype == "float64"


def test_batch_of_only_malformed_records_keeps_lineage() -> None:
    raw = RawBatch(
        frame=pd.DataFrame({SOURCE_ROW: pd.Series([], dtype="int64")}),
        malformed=pd.DataFrame({SOURCE_ROW: [1], "raw": ["{x"], "reason": ["record:invalid_json"]}),
        columns=[],
    )
    frame = _normalise(raw, file_name="2024-05_api.jsonl").frame
    assert len(frame) == 1
    assert frame.loc[0, SOURCE] == "api"
    assert frame.loc[0, SOURCE_FILE] == "2024-05_api.jsonl"
    assert frame.loc[0, AS_OF] == pd.Timestamp("2024-06-01")
    assert frame.loc[0, PARSE_ERRORS] == "record:invalid_json"


def test_typed_values_from_jsonl_and_parquet() -> None:
    frame = pd.DataFrame(
        {
            SOURCE_ROW: [1, 2],
            "id": ["A1", "A2"],
            "at": pd.to_datetime(["2024-03-01 10:00", None]).tz_localize("Europe/Paris"),
            "age": [30, 40],
            "income": [1.5, None],
            "region": ["n", None],
        }
    )
    result = _normalise(RawBatch(frame=frame, malformed=pd.DataFrame(), columns=[]))
    out = result.frame
    assert out["at"].tolist()[0] == pd.Timestamp("2024-03-01 09:00")  # UTC, naive
    assert out["age"].tolist() == [30.0, 40.0]
    assert out["income"].tolist()[0] == 1.5
    assert out[PARSE_ERRORS].isna().all()


def test_no_period_regex_leaves_as_of_missing() -> None:
    frame = _normalise(_raw([ROW]), period_regex=None).frame
    assert frame[AS_OF].isna().all()
    assert frame[AS_OF].dtype == "datetime64[ns]"
