"""One rule set, one verdict: REST, `loopline validate`/`score` and the pipeline agree on values.

The three ways a row is judged:

- the single-record validator (`RowValidator`, what REST's `Bundle.check_record` runs);
- the batch validator (`io.read_batch_file` + `ingest.normalise` + `validate.validate_batch`,
  what `loopline validate` and `loopline score` run);
- the pipeline's `ingest` and `validate` stages (their task functions on a raw folder).

Hypothesis generates rows, valid and not, and each must break the same set of `column:rule`
names and come out with the same canonical values in all three. Ids are unique (duplicates are
a cross-row rule) and the file name names no batch period, so `in_future` is "after now + a day"
for all three.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopline import ingest
from loopline.config import Config, SourceConfig, to_config
from loopline.io import read_batch_file, read_table
from loopline.params import compose
from loopline.schemas import (
    RowValidator,
    parse_number,
    parse_numbers,
    parse_time,
    parse_times,
    table_schema,
)
from loopline.stages import ingest as ingest_stage
from loopline.stages import validate as validate_stage
from loopline.validate import REASONS, validate_batch

ROOT = Path(__file__).resolve().parents[2]
CFG = to_config(compose(root=ROOT))
DATASET = replace(CFG.dataset, schema_path=str(ROOT / CFG.dataset.schema_path))
SCHEMA = table_schema(DATASET.schema_path)
NA = list(DATASET.na_values)
GOOD: dict[str, Any] = {
    "customer_id": "C1",
    "applied_at": "2024-03-05T10:00:00",
    "age": 41,
    "annual_income": 52000.0,
    "employment_years": 3.5,
    "employment_type": "salaried",
    "home_ownership": "rent",
    "loan_amount": 12000,
    "loan_term_months": 36,
    "purpose": "car",
    "region": "north",
    "channel": "online",
    "credit_utilization": 0.4,
    "num_open_accounts": 4,
    "past_delinquencies": 0,
    "debt_to_income": 0.3,
}
NUMERIC = [r.name for r in SCHEMA.columns if r.is_numeric]
TEXT = [r.name for r in SCHEMA.columns if r.dtype in ("string", "category")]

# --- values ---------------------------------------------------------------------------------

digits = st.text("0123456789", min_size=1, max_size=25)
numbers_as_text = st.one_of(
    st.builds(lambda a, b: f"{a}_{b}", digits, digits),  # "3_4": float() says 34
    st.builds(
        lambda s, d, e: f"{s}{d}e{e}",
        st.sampled_from(["", "-", "+"]),
        digits,
        st.integers(-400, 400),
    ),
    st.builds(lambda d, f: f"{d}.{f}", digits, digits),
    st.builds(
        lambda p, d, q: f"{p}{d}{q}",
        st.sampled_from(["", " ", "\t"]),
        digits,
        st.sampled_from(["", " ", "\n"]),
    ),
    st.sampled_from(
        [
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e400",
            "0x10",
            "١٢",
            "1,5",
            "+",
            ".",
            "5.",
            ".5",
            "-0",
            "True",
            "1 000",
            "12abc",
        ]
    ),
)
numbers = st.one_of(
    numbers_as_text,
    st.integers(-(10**400), 10**400),  # beyond 1e308: float() overflows
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 200),
    st.booleans(),
)


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    """ISO 8601 in its extended and basic forms, in and out of range, with and without offsets."""
    year = draw(
        st.one_of(
            st.integers(1, 9999), st.sampled_from([1677, 1899, 1900, 2199, 2200, 2201, 2262, 2024])
        )
    )
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    basic = draw(st.booleans())
    sep = "" if basic else "-"
    short = draw(st.integers(0, 5))
    if short == 0:
        return f"{year:04d}"
    if short == 1:
        return f"{year:04d}-{month:02d}"
    text = f"{year:04d}{sep}{month:02d}{sep}{day:02d}"
    if draw(st.booleans()):
        colon = "" if draw(st.booleans()) else ":"
        text += draw(st.sampled_from(["T", " "]))
        text += f"{draw(st.integers(0, 24)):02d}"
        if draw(st.integers(0, 4)):
            text += f"{colon}{draw(st.integers(0, 60)):02d}"
            if draw(st.booleans()):
                text += f"{colon}{draw(st.integers(0, 60)):02d}"
                if draw(st.booleans()):
                    text += "." + draw(st.text("0123456789", min_size=1, max_size=10))
        text += draw(st.sampled_from(["", " "]))
        offset = ["", "Z", "+14:00", "-12:00", "+02", "+0530", "-23:59", "+24:00", "-00:00"]
        text += draw(st.sampled_from(offset))
    return text


times = st.one_of(
    timestamps(),
    st.sampled_from(
        [
            "2024-13-45 99:99",
            "yesterday",
            "05/03/2024",
            "2024-03-05T10:00:00z",
            "20240305",
            "2024-W10-2",
            " 2024-03-05 ",
        ]
    ),
    st.integers(0, 2_000_000_000),
    st.booleans(),
)
texts = st.one_of(
    st.sampled_from(["north", " north ", "North", "Atlantis", "salaried", "rent", "car"]),
    st.text(max_size=6),
    st.integers(-5, 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
blanks = st.sampled_from([None, *NA, " NA ", "  "])


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    row = dict(GOOD)
    for name in draw(st.lists(st.sampled_from(list(GOOD)), max_size=4, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            row[name] = draw(blanks)
        elif name in NUMERIC:
            row[name] = draw(numbers)
        elif name == "applied_at":
            row[name] = draw(times)
        else:
            row[name] = draw(texts)
    if draw(st.integers(0, 9)) == 0:
        row.pop(draw(st.sampled_from(sorted(row))))  # a key absent from one record
    return row


# --- the three verdicts ---------------------------------------------------------------------


def _jsonl(records: list[dict[str, Any]]) -> str:
    lines = []
    for i, record in enumerate(records):
        lines.append(json.dumps({"application_id": f"A{i}", **record}, allow_nan=True))
    return "\n".join(lines) + "\n"


def _by_row(result_quarantined: pd.DataFrame, n: int) -> list[set[str]]:
    reasons: list[set[str]] = [set() for _ in range(n)]
    for row, text in zip(
        result_quarantined["_source_row"], result_quarantined[REASONS], strict=True
    ):
        reasons[int(row) - 1] = set(text.split(";"))
    return reasons


def _frames_by_row(*frames: pd.DataFrame) -> dict[int, pd.Series]:
    out = {}
    for frame in frames:
        for _, row in frame.iterrows():
            out[int(row["_source_row"]) - 1] = row
    return out


def rest_verdicts(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], set[str]]]:
    validator = RowValidator(SCHEMA, NA, time_column=DATASET.time_column)
    out = []
    for i, record in enumerate(records):
        values, broken = validator.validate({"application_id": f"A{i}", **record})
        out.append((values, set(broken)))
    return out


def batch_verdicts(path: Path) -> tuple[list[set[str]], dict[int, pd.Series]]:
    raw = read_batch_file(path)
    normalised = ingest.normalise(
        raw,
        schema=SCHEMA,
        source=SourceConfig(),
        source_key="api",
        file_name=path.name,
        na_values=NA,
        period_regex=DATASET.batch_period_regex,
    )
    result = validate_batch(
        normalised.frame,
        schema=SCHEMA,
        id_column=DATASET.id_column,
        time_column=DATASET.time_column,
    )
    n = len(raw.frame)
    return _by_row(result.quarantined, n), _frames_by_row(result.accepted, result.quarantined)


def stage_verdicts(root: Path, text: str) -> tuple[list[set[str]], dict[int, pd.Series]]:
    if root.exists():
        shutil.rmtree(root)
    raw = root / "raw/incoming/applications"
    raw.mkdir(parents=True)
    (raw / "batch_api.jsonl").write_text(text)
    paths = replace(
        CFG.paths,
        raw=str(root / "raw"),
        ingested=str(root / "ingested"),
        validated=str(root / "validated"),
        quarantine=str(root / "quarantine"),
        reports=str(root / "reports"),
        feedback=str(root / "feedback"),
    )
    cfg: Config = replace(
        CFG, paths=paths, dataset=DATASET, validate=replace(CFG.validate, max_quarantine_rate=1.0)
    )
    ingest_stage.task(cfg)
    validate_stage.task(cfg)
    name = "applications/incoming__applications__batch_api.jsonl.parquet"
    accepted = read_table(root / "validated" / name)
    quarantined = read_table(root / "quarantine" / name)
    n = len(accepted) + len(quarantined)
    return _by_row(quarantined, n), _frames_by_row(accepted, quarantined)


def _same_value(fast: Any, slow: Any) -> bool:
    if fast is None:
        return bool(pd.isna(slow))
    if pd.isna(slow):
        return False
    if isinstance(fast, datetime):
        return pd.Timestamp(fast) == pd.Timestamp(slow)
    if isinstance(fast, float):
        return float(slow) == fast or (math.isnan(fast) and math.isnan(float(slow)))
    return fast == slow


def _check_agreement(records, rest, broken, values, label: str) -> None:
    assert len(broken) == len(records), label
    for i, record in enumerate(records):
        fast_values, fast_broken = rest[i]
        assert fast_broken == broken[i], (label, record, fast_broken, broken[i])
        row = values[i]
        for rule in SCHEMA.columns:
            assert _same_value(fast_values[rule.name], row[rule.name]), (
                label,
                record,
                rule.name,
                fast_values[rule.name],
                row[rule.name],
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(rows(), min_size=1, max_size=8))
def test_rest_and_batch_give_the_same_verdict_and_values(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "batch_api.jsonl"
    path.write_text(_jsonl(records))
    broken, values = batch_verdicts(path)
    _check_agreement(records, rest_verdicts(records), broken, values, "batch")


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(rows(), min_size=1, max_size=12))
def test_the_pipeline_stages_give_the_same_verdict_and_values(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    records = [*records, dict(GOOD)]  # every column present: a missing one stops the file
    text = _jsonl(records)
    broken, values = stage_verdicts(tmp_path / "pipeline", text)
    _check_agreement(records, rest_verdicts(records), broken, values, "pipeline")


# --- each rule's two forms on single values -------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(value=numbers)
def test_parse_number_and_parse_numbers_agree(value: Any) -> None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return  # missing, not a number question
    one, reason = parse_number(value)
    column = parse_numbers(pd.Series([value], dtype=object))
    if reason:
        assert reason == "not_a_number" and pd.isna(column.iloc[0]), value
    else:
        assert column.iloc[0] == one and math.isfinite(one), value


@settings(max_examples=200, deadline=None)
@given(value=times)
def test_parse_time_and_parse_times_agree(value: Any) -> None:
    rule = SCHEMA["applied_at"]
    one, reason = parse_time(value, rule)
    column, reasons = parse_times(pd.Series([value], dtype=object), rule)
    assert (reasons.iloc[0] if pd.notna(reasons.iloc[0]) else None) == reason, value
    if reason is None:
        assert pd.Timestamp(one) == column.iloc[0], value
        low, high = rule.date_range
        assert low <= one <= high
    else:
        assert pd.isna(column.iloc[0])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3_4", "not_a_number"),
        (10**309, "not_a_number"),
        ("1" + "0" * 400, "not_a_number"),
        ("1e400", "not_a_number"),
        ("inf", "not_a_number"),
        (True, "not_a_number"),
        (" 1e5 ", None),
    ],
)
def test_number_rule_examples(value: Any, reason: str | None) -> None:
    assert parse_number(value)[1] == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1500-01-01", "date_range"),
        ("9999-12-31T23:59:59+14:00", "date_range"),
        ("9999-12-31T23:59:59-14:00", "date_range"),  # year 10000 in UTC
        ("0001-01-01T00:00:00-12:00", "date_range"),
        ("0001-01-01T00:00:00+14:00", "date_range"),  # year 0 in UTC
        ("1899-12-31T23:59:59", "date_range"),
        ("1900-01-01", None),
        ("2200-01-01T00:00:00", None),
        ("2200-01-01T00:00:01", "date_range"),
        ("2024-03-05T10:00", None),
        ("2024-02-30", "bad_timestamp"),
        ("20240305", None),  # ISO 8601's basic form, read alike by pandas and fromisoformat
        ("2024-03", None),  # the first of the month, as pandas reads it
        ("2024-W10-2", "bad_timestamp"),  # fromisoformat reads week dates, pandas does not
        ("2024-03-05T10:00:00 +02:00", "bad_timestamp"),  # no space before the offset
        ("2024-03-05T10:00:00,5", "bad_timestamp"),  # a decimal comma: fromisoformat only
    ],
)
def test_date_rule_examples(value: str, reason: str | None) -> None:
    assert parse_time(value, SCHEMA["applied_at"])[1] == reason


# --- census: numbers and categories, "?" as its missing marker -------------------------------

CENSUS = table_schema(ROOT / "conf/schemas/census.yaml")
CENSUS_NA = ["?", ""]
CENSUS_GOOD: dict[str, Any] = {
    "age": 39,
    "workclass": "Private",
    "education": "Bachelors",
    "education_num": 13,
    "marital_status": "Never-married",
    "occupation": "Tech",
    "hours_per_week": 40,
    "capital_gain": 2174,
    "capital_loss": 0,
    "sex": "Male",
    "native_region": "US",
    "income": "<=50K",
}


@st.composite
def census_rows(draw: st.DrawFn) -> dict[str, Any]:
    row = dict(CENSUS_GOOD)
    for name in draw(st.lists(st.sampled_from(list(row)), max_size=4, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            row[name] = draw(st.sampled_from([None, "?", " ? ", ""]))
        elif CENSUS[name].is_numeric:
            row[name] = draw(numbers)  # capital_gain has no max: "inf" and 1e400 matter here
        else:
            row[name] = draw(texts)
    return row


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(census_rows(), min_size=1, max_size=8))
def test_census_rest_and_batch_agree(records: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "adult.jsonl"
    path.write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in records))
    normalised = ingest.normalise(
        read_batch_file(path),
        schema=CENSUS,
        source=SourceConfig(),
        source_key="csv",
        file_name=path.name,
        na_values=CENSUS_NA,
    )
    result = validate_batch(normalised.frame, schema=CENSUS)
    broken = _by_row(result.quarantined, len(records))
    values = _frames_by_row(result.accepted, result.quarantined)
    validator = RowValidator(CENSUS, CENSUS_NA)
    for i, record in enumerate(records):
        fast_values, fast_broken = validator.validate(record)
        assert set(fast_broken) == broken[i], (record, fast_broken, broken[i])
        for rule in CENSUS.columns:
            assert _same_value(fast_values[rule.name], values[i][rule.name]), (record, rule.name)
