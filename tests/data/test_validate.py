"""Tests for loopline.validate (accept or quarantine every row) and loopline.schemas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from loopline.config import DatasetConfig, LabelsConfig
from loopline.ingest import AS_OF, PARSE_ERRORS, RAW
from loopline.schemas import (
    UNKNOWN_LEVEL,
    SchemaFileError,
    TableSchema,
    empty_frame,
    labels_schema,
    pandas_dtype,
    parse_table_schema,
    table_schema,
    to_pandera,
)
from loopline.validate import (
    REASONS,
    SeenIds,
    ValidationStopError,
    check_quarantine_rate,
    check_required_columns,
    mark_unknown_categories,
    validate_batch,
)

ROOT = Path(__file__).resolve().parents[2]

SPEC = {
    "columns": {
        "id": {"dtype": "string", "nullable": False, "unique": True},
        "at": {"dtype": "datetime", "nullable": False},
        "age": {"dtype": "int", "nullable": False, "min": 18, "max": 100},
        "income": {"dtype": "float", "min": 0, "max": 1000},
        "region": {
            "dtype": "category",
            "nullable": False,
            "allowed": ["north", "south"],
            "unknown": "quarantine",
        },
        "home": {"dtype": "category", "allowed": ["rent", "own"], "unknown": "accept"},
    }
}
SCHEMA = parse_table_schema(SPEC, name="apps")
GOOD = {
    "id": "A1",
    "at": "2024-03-10",
    "age": 30.0,
    "income": 100.0,
    "region": "north",
    "home": "rent",
    AS_OF: "2024-04-01",
    PARSE_ERRORS: None,
    RAW: None,
}


def canonical(*changes: dict, schema: TableSchema = SCHEMA) -> pd.DataFrame:
    """Return a canonical batch: one GOOD row per change (ids A1, A2, ... unless given)."""
    rows = [GOOD | {"id": f"A{i + 1}"} | change for i, change in enumerate(changes)]
    frame = pd.DataFrame(rows)
    dtypes = {rule.name: pandas_dtype(rule) for rule in schema.columns}
    dtypes |= {AS_OF: "datetime64[ns]", PARSE_ERRORS: "str", RAW: "str"}
    for column, dtype in dtypes.items():
        if dtype == "datetime64[ns]":
            frame[column] = pd.to_datetime(frame[column], format="ISO8601")
        frame[column] = frame[column].astype(dtype)
    return frame


def run(frame: pd.DataFrame, **kwargs):
    options = {"schema": SCHEMA, "id_column": "id", "time_column": "at"} | kwargs
    return validate_batch(frame, **options)


def reasons_by_id(result) -> dict[str, str]:
    q = result.quarantined
    return dict(zip(q["id"].fillna("<none>"), q[REASONS], strict=True))


# --- row conservation ---------------------------------------------------------------------

DIRTY = {
    "all_good": [{}, {}, {}],
    "ranges": [{}, {"age": 12.0}, {"income": 5000.0}, {"age": 101.0, "income": -1.0}],
    "categories": [{}, {"region": "mars"}, {"home": "boat"}, {"region": None}],
    "duplicates": [{"id": "X"}, {"id": "X"}, {"id": "X", "age": 5.0}, {"id": None}],
    "parse_errors": [
        {PARSE_ERRORS: "age:not_a_number", "age": np.nan},
        {PARSE_ERRORS: "record:wrong_field_count", RAW: "a,b", "id": None, "age": np.nan},
        {},
    ],
    "future": [{"at": "2024-04-01"}, {"at": "2024-03-31 23:59"}, {"at": "2025-01-01"}],
    "everything_bad": [{"age": 1.0}, {"region": "x"}, {"id": None}],
}


@pytest.mark.parametrize("name", sorted(DIRTY))
def test_rows_are_conserved(name: str) -> None:
    frame = canonical(*DIRTY[name])
    result = run(frame, seen_ids=SeenIds(["A2"]))
    report = result.report
    assert report["rows_in"] == len(frame)
    assert report["accepted"] == len(result.accepted)
    assert report["quarantined"] == len(result.quarantined)
    assert len(result.accepted) + len(result.quarantined) == len(frame)
    assert (result.quarantined[REASONS].str.len() > 0).all()
    assert PARSE_ERRORS not in result.accepted.columns
    assert RAW not in result.accepted.columns
    assert list(result.accepted.index) == list(range(len(result.accepted)))


# --- each rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"age": 17.0}, "age:below_min"),
        ({"age": 101.0}, "age:above_max"),
        ({"age": 30.5}, "age:whole_number"),
        ({"income": -0.01}, "income:below_min"),
        ({"income": 1000.01}, "income:above_max"),
        ({"region": "mars"}, "region:not_allowed"),
        ({"region": None}, "region:missing"),
        ({"age": np.nan}, "age:missing"),
        ({"at": None}, "at:missing"),
        ({"id": None}, "id:missing"),
        ({"at": "2024-04-01"}, "at:in_future"),  # the batch's period ends at _as_of
        ({"at": "2024-06-15"}, "at:in_future"),
    ],
)
def test_each_rule_has_its_name(change: dict, reason: str) -> None:
    result = run(canonical({}, change))
    assert result.accepted["id"].tolist() == ["A1"]
    assert result.quarantined[REASONS].tolist() == [reason]
    assert result.report["rules"] == {reason: 1}


def test_boundaries_are_accepted() -> None:
    frame = canonical({"age": 18.0, "income": 0.0}, {"age": 100.0, "income": 1000.0, "home": None})
    frame.loc[0, "at"] = pd.Timestamp("2024-03-31 23:59:59")
    result = run(frame)
    assert len(result.accepted) == 2
    assert result.report["rules"] == {}


def test_a_row_collects_every_reason() -> None:
    result = run(canonical({}, {"age": 5.0, "income": 2000.0, "region": "mars"}))
    assert result.quarantined[REASONS].tolist() == [
        "age:below_min;income:above_max;region:not_allowed"
    ]
    assert result.report["rules"] == {
        "age:below_min": 1,
        "income:above_max": 1,
        "region:not_allowed": 1,
    }


def test_duplicate_id_keeps_the_first_occurrence() -> None:
    frame = canonical({"id": "X", "income": 1.0}, {"id": "Y"}, {"id": "X", "income": 2.0})
    result = run(frame)
    assert result.accepted["id"].tolist() == ["X", "Y"]
    assert result.accepted["income"].tolist() == [1.0, 100.0]
    assert result.quarantined["income"].tolist() == [2.0]
    assert result.quarantined[REASONS].tolist() == ["id:duplicate"]


def test_missing_ids_are_not_duplicates_of_each_other() -> None:
    result = run(canonical({"id": None}, {"id": None}))
    assert result.quarantined[REASONS].tolist() == ["id:missing", "id:missing"]


def test_duplicate_of_earlier_batch() -> None:
    frame = canonical({"id": "A1"}, {"id": "B7"}, {"id": "C3"})
    result = run(frame, seen_ids=SeenIds(["B7", "Z"]))
    assert result.accepted["id"].tolist() == ["A1", "C3"]
    assert reasons_by_id(result) == {"B7": "id:duplicate_of_earlier_batch"}
    assert result.report["rules"] == {"id:duplicate_of_earlier_batch": 1}


def test_without_a_batch_period_the_future_starts_a_day_after_now() -> None:
    """The rule REST applies (schemas.in_future): no period named, so now + FUTURE_SLACK."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    frame = canonical(
        {"id": "past", "at": "2024-01-01"},
        {"id": "soon", "at": str(now + pd.Timedelta(hours=12))},
        {"id": "later", "at": str(now + pd.Timedelta(days=2))},
        {"id": "far", "at": "2199-01-01"},
    )
    frame[AS_OF] = pd.NaT
    result = run(frame)
    assert result.accepted["id"].tolist() == ["past", "soon"]
    assert reasons_by_id(result) == {"later": "at:in_future", "far": "at:in_future"}


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({PARSE_ERRORS: "age:not_a_number", "age": np.nan}, "age:not_a_number"),
        (
            {PARSE_ERRORS: "at:bad_timestamp;age:not_a_number", "at": None, "age": np.nan},
            "at:bad_timestamp;age:not_a_number",
        ),
        # another column's failure is still reported
        ({PARSE_ERRORS: "age:not_a_number", "age": np.nan, "region": "x"}, None),
        # a record that was never parsed: its empty fields are not separate failures
        (
            {PARSE_ERRORS: "record:wrong_field_count", "id": None, "at": None, "age": np.nan},
            "record:wrong_field_count",
        ),
    ],
)
def test_parse_errors_are_not_double_counted_as_missing(change: dict, reasons: str | None) -> None:
    result = run(canonical({}, change))
    expected = reasons or "age:not_a_number;region:not_allowed"
    assert result.quarantined[REASONS].tolist() == [expected]
    assert not any(r.endswith(":missing") for r in result.report["rules"])


def test_duplicate_and_future_add_to_schema_reasons() -> None:
    result = run(canonical({"id": "X"}, {"id": "X", "age": 1.0, "at": "2024-05-01"}))
    assert result.quarantined[REASONS].tolist() == ["age:below_min;id:duplicate;at:in_future"]


# --- unknown categories -------------------------------------------------------------------


def test_unknown_category_accepted_becomes_unknown_level_and_is_counted() -> None:
    result = run(canonical({"home": "boat"}, {"home": "boat"}, {"home": "tent"}, {"home": None}))
    assert result.report["quarantined"] == 0
    assert result.accepted["home"].tolist() == [UNKNOWN_LEVEL, UNKNOWN_LEVEL, UNKNOWN_LEVEL, np.nan]
    assert result.report["unknown_categories"] == {"home": {"boat": 2, "tent": 1}}


def test_unknown_category_with_quarantine_is_quarantined() -> None:
    result = run(canonical({"region": "mars"}, {}))
    assert reasons_by_id(result) == {"A1": "region:not_allowed"}
    assert result.quarantined["region"].tolist() == ["mars"]  # the raw value is kept
    assert result.report["unknown_categories"] == {}


def test_mark_unknown_categories_leaves_the_input_alone() -> None:
    frame = canonical({"home": "boat"})
    marked, counts = mark_unknown_categories(frame, SCHEMA)
    assert marked["home"].tolist() == [UNKNOWN_LEVEL]
    assert frame["home"].tolist() == ["boat"]
    assert counts == {"home": {"boat": 1}}


def test_wrong_dtype_stops_the_batch() -> None:
    frame = canonical({})
    frame["age"] = frame["age"].astype("str")
    with pytest.raises(
        ValidationStopError, match=r"the table as a whole breaks the schema: age: dtype"
    ):
        run(frame)


def test_empty_batch() -> None:
    result = run(canonical({}).iloc[:0])
    assert result.report | {"rules": {}} == {
        "rows_in": 0,
        "accepted": 0,
        "quarantined": 0,
        "rules": {},
        "unknown_categories": {},
    }


# --- stops --------------------------------------------------------------------------------


def test_check_required_columns_names_file_columns_and_fix() -> None:
    check_required_columns([], file_name="x.csv", present=["a"])  # nothing missing: no error
    with pytest.raises(ValidationStopError) as info:
        check_required_columns(
            ["age", "region"], file_name="applications/2024-03_branch.csv", present=["App ID"]
        )
    message = str(info.value)
    assert message.startswith("applications/2024-03_branch.csv: required column(s) missing")
    assert "age, region" in message
    assert "Columns in the file: App ID" in message
    assert "rename" in message
    assert "conf/dataset/" in message


def test_check_quarantine_rate_names_file_rate_and_fix() -> None:
    report = {"rows_in": 10, "quarantined": 3, "rules": {"age:below_min": 2, "id:missing": 1}}
    check_quarantine_rate(report, file_name="b.csv", ceiling=0.3)  # at the ceiling: fine
    with pytest.raises(ValidationStopError) as info:
        check_quarantine_rate(report, file_name="b.csv", ceiling=0.25)
    message = str(info.value)
    assert message.startswith("b.csv: 3 of 10 rows (30.0%)")
    assert "validate.max_quarantine_rate=25%" in message
    assert "age:below_min (2), id:missing (1)" in message
    assert "raise the ceiling" in message


def test_check_quarantine_rate_empty_batch_passes() -> None:
    """An empty batch has no quarantine rate: even a zero ceiling lets it through, while one
    quarantined row under the same ceiling stops the stage."""
    empty = {"rows_in": 0, "quarantined": 0, "rules": {}}
    assert check_quarantine_rate(empty, file_name="b", ceiling=0) is None
    one = {"rows_in": 1, "quarantined": 1, "rules": {"age:below_min": 1}}
    with pytest.raises(ValidationStopError):
        check_quarantine_rate(one, file_name="b", ceiling=0)


# --- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column_spec", "message"),
    [
        ({"dtype": "float", "maximum": 3}, r"column 'age': unknown field\(s\) \['maximum'\]"),
        ({"dtype": "float", "nulable": True}, r"column 'age': unknown field\(s\) \['nulable'\]"),
        ({"dtype": "integer"}, r"column 'age': dtype must be one of .*got 'integer'"),
        ({"min": 0}, r"column 'age': dtype must be one of .*got None"),
    ],
)
def test_parse_table_schema_rejects_bad_columns(column_spec: dict, message: str) -> None:
    with pytest.raises(SchemaFileError, match=message):
        parse_table_schema({"columns": {"id": {"dtype": "string"}, "age": column_spec}}, "loans")


@pytest.mark.parametrize("spec", [{}, {"columns": {}}, {"columns": ["a", "b"]}])
def test_parse_table_schema_needs_columns(spec: dict) -> None:
    with pytest.raises(SchemaFileError, match="needs a non-empty 'columns' mapping"):
        parse_table_schema(spec, "x")


def test_parse_table_schema_reads_rules() -> None:
    assert SCHEMA.names == ["id", "at", "age", "income", "region", "home"]
    assert SCHEMA["region"].allowed == ("north", "south")
    assert SCHEMA["age"].is_numeric
    assert SCHEMA.of_dtype("category") == ["region", "home"]
    assert SCHEMA.required == SCHEMA.names
    with pytest.raises(KeyError):
        SCHEMA["nope"]


def test_table_schema_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaFileError, match="does not exist"):
        table_schema(tmp_path / "absent.yaml")


def test_labels_schema() -> None:
    dataset = DatasetConfig(
        name="loans",
        id_column="application_id",
        target="defaulted",
        target_values=[0, 1],
        labels=LabelsConfig(observed_at="observed_at"),
    )
    schema = labels_schema(dataset)
    assert schema.name == "loans_labels"
    assert schema.names == ["application_id", "defaulted", "observed_at"]
    assert schema["defaulted"].allowed == ("0", "1")
    assert schema["observed_at"].dtype == "datetime"
    assert not any(c.nullable for c in schema.columns)
    with pytest.raises(SchemaFileError, match="no separate label batches"):
        labels_schema(DatasetConfig(name="census", labels=None))


def test_labels_schema_validates_label_batches() -> None:
    dataset = DatasetConfig(
        id_column="id", target="y", target_values=[0, 1], labels=LabelsConfig(observed_at="seen")
    )
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "y": ["1", "2", None],
            "seen": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    ).astype({"id": "str", "y": "str"})
    result = validate_batch(frame, schema=labels_schema(dataset), id_column="id")
    assert result.accepted["id"].tolist() == ["a"]
    assert result.quarantined[REASONS].tolist() == ["y:not_allowed", "y:missing"]


def test_to_pandera_accepts_good_rows_and_rejects_bad_ones() -> None:
    schema = to_pandera(SCHEMA)
    good = canonical({}, {"home": UNKNOWN_LEVEL, "income": np.nan})
    pd.testing.assert_frame_equal(schema.validate(good), good)
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(canonical({"age": 10.0}))


def test_loans_schema_accepts_a_good_loan() -> None:
    schema = table_schema(ROOT / "conf/schemas/loans.yaml")
    row = {
        "application_id": "A1",
        "customer_id": "C1",
        "applied_at": pd.Timestamp("2024-03-01"),
        "age": 30.0,
        "annual_income": 50_000.0,
        "employment_years": 2.0,
        "employment_type": "salaried",
        "home_ownership": "rent",
        "loan_amount": 10_000.0,
        "loan_term_months": 36.0,
        "purpose": "car",
        "region": "north",
        "channel": "online",
        "credit_utilization": 0.4,
        "num_open_accounts": 3.0,
        "past_delinquencies": 0.0,
        "debt_to_income": 0.3,
    }
    frame = pd.concat([empty_frame(schema), pd.DataFrame([row])], ignore_index=True)
    frame = frame.astype({r.name: pandas_dtype(r) for r in schema.columns})
    assert len(to_pandera(schema).validate(frame)) == 1
    result = validate_batch(frame, schema=schema, id_column="application_id")
    assert result.report["accepted"] == 1


def test_a_resent_batch_does_not_trip_the_quarantine_ceiling():
    """Copies of earlier rows are quarantined and counted, but a re-send is not a broken source."""
    from loopline.validate import ValidationStopError, check_quarantine_rate

    report = {"rows_in": 100, "quarantined": 100, "rules": {"id:duplicate_of_earlier_batch": 100}}
    check_quarantine_rate(report, file_name="resent.csv", ceiling=0.25, resent=100)
    broken = {"rows_in": 100, "quarantined": 60, "rules": {"age:below_min": 50}}
    with pytest.raises(ValidationStopError, match="above the ceiling"):
        check_quarantine_rate(broken, file_name="b.csv", ceiling=0.25, resent=10)


def test_seen_ids_remember_ids_across_batches_in_8_bytes_each():
    seen = SeenIds(["A1", None, "A2"])
    seen.add(pd.Series(["B1", np.nan, "A1"], dtype="str"))
    assert len(seen) == 4  # missing ids are never remembered; a repeat is held twice, harmlessly
    ids = pd.Series(["A1", "B1", "C1", None, "A2"], dtype="str")
    assert seen.contains(ids).tolist() == [True, True, False, False, True]
    assert SeenIds().contains(ids).tolist() == [False] * 5
    numbers = SeenIds([7, 8])  # an id column of numbers is held the same way
    assert numbers.contains(pd.Series([8, 9], dtype=object)).tolist() == [True, False]
    assert seen._hashes.dtype == np.int64 and seen._hashes.nbytes == 8 * len(seen)
