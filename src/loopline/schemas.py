"""Every data contract of Loopline, in one module.

A dataset's rules live in a small YAML file (`conf/schemas/<dataset>.yaml`): per column a dtype,
whether it may be missing, a range or a set of allowed values, and what to do with an unknown
category. `table_schema` reads it; `to_pandera` compiles it into the pandera schema that guards
the data boundary. Later code (a faster single-row validator) derives from the same
`TableSchema`, so the rules are written once.

What a value *is* (a number, a timestamp, in the valid date range, not in the future) is decided
here too, each rule in two forms side by side: one value at a time (`parse_number`,
`parse_time`, `in_future`: the REST path, `RowValidator`) and a column at a time
(`parse_numbers`, `parse_times`, `in_future_mask`: ingest and validate, so `loopline validate`,
`loopline score` and the pipeline). tests/data/test_verdicts.py holds the two forms to the same
verdict and the same canonical value on generated values.

- A number is ASCII decimal text (`[+-]digits[.digits][e[+-]digits]`, surrounding whitespace
  ignored) or a JSON/Parquet number, and finite: "3_4", "1e400", "inf", "0x10" and "١٢" are
  `not_a_number` (Python's float() takes some of them; this rule does not).
- A timestamp is ISO 8601 (`TIMESTAMP`: `YYYY[-MM]`, or `YYYY-MM-DD`/`YYYYMMDD` with an optional
  `( |T)HH[:MM[:SS[.fraction]]]` or `HHMM[SS]` and offset `Z`/`+HH[:MM]`) or the source's
  `date_format`, converted to naive UTC, fractions beyond microseconds dropped; otherwise
  `bad_timestamp`. It must lie in the column's [min, max] (schema file; default 1900-01-01 ..
  2200-01-01, inside pandas' 1677..2262), else `date_range`: a value pandas cannot hold
  quarantines its row, never the file.
- The dataset's time column must be before the row's as-of moment, else `in_future`: the end of
  the batch period named in the file name, or, with none (REST, a file without a period), the
  moment of checking plus FUTURE_SLACK.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from loopline.config import DatasetConfig

Dtype = Literal["string", "float", "int", "datetime", "category"]
UNKNOWN_LEVEL = "__unknown__"

_PANDAS_DTYPES: dict[str, Any] = {
    "string": "str",
    "float": "float64",
    "int": "float64",  # canonical ints are floats so that missing values stay NaN
    "datetime": "datetime64[ns]",
    "category": "str",
}


# --- value rules: each in a per-value form and a column form, kept equal (test_verdicts.py)
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TIMESTAMP = re.compile(  # ISO 8601 as both pandas ("ISO8601") and datetime.fromisoformat read it
    r"[0-9]{4}(?:-[0-9]{2})?"  # YYYY, YYYY-MM (the first day)
    r"|(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})"  # YYYY-MM-DD or YYYYMMDD, then optionally
    r"(?:[T ](?:[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"  # HH[:MM[:SS[.f]]]
    r"|[0-9]{4}(?:[0-9]{2}(?:\.[0-9]+)?)?)"  # or HHMM[SS[.f]]
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"  # and an offset (no space before it)
)
_YEAR_MONTH = re.compile(r"[0-9]{4}(?:-[0-9]{2})?")  # what fromisoformat needs a day added to
_SUB_MICRO = re.compile(r"(\.[0-9]{6})[0-9]+")  # fraction digits past microseconds (dropped)
DATE_MIN = datetime(1900, 1, 1)  # the default valid range of a datetime column
DATE_MAX = datetime(2200, 1, 1)
_PANDAS_MIN = datetime(1677, 9, 22)  # inside pandas' datetime64[ns] range, with a day to spare
_PANDAS_MAX = datetime(2262, 4, 10)
FUTURE_SLACK = timedelta(days=1)  # clocks differ; a day later than now is a data error


class SchemaFileError(ValueError):
    """The schema file itself is malformed."""


@dataclass(frozen=True)
class ColumnRule:
    """The contract of one column."""

    name: str
    dtype: Dtype
    nullable: bool = True
    required: bool = True
    unique: bool = False
    min: float | str | None = None  # a datetime column: ISO text (default DATE_MIN)
    max: float | str | None = None
    allowed: tuple[Any, ...] | None = None
    unknown: Literal["quarantine", "accept"] = "quarantine"

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float", "int")

    @cached_property  # read per request by parse_time: parsed once
    def date_range(self) -> tuple[datetime, datetime]:
        """Return a datetime column's valid [min, max] (naive UTC), defaults filled in."""
        low = DATE_MIN if self.min is None else _as_datetime(self.min)
        high = DATE_MAX if self.max is None else _as_datetime(self.max)
        return low, high


@dataclass(frozen=True)
class TableSchema:
    """The contract of one table: its columns in canonical order."""

    columns: tuple[ColumnRule, ...]
    name: str = "table"
    extra: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnRule:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def of_dtype(self, *dtypes: str) -> list[str]:
        return [c.name for c in self.columns if c.dtype in dtypes]


def parse_table_schema(spec: dict[str, Any], name: str = "table") -> TableSchema:
    """Return a TableSchema from its YAML mapping; errors name the column and the field."""
    columns_spec = spec.get("columns")
    if not isinstance(columns_spec, dict) or not columns_spec:
        raise SchemaFileError(f"schema {name!r}: needs a non-empty 'columns' mapping")
    columns = []
    known = set(ColumnRule.__dataclass_fields__) - {"name"}
    for column, rule in columns_spec.items():
        rule = dict(rule or {})
        unknown_keys = set(rule) - known
        if unknown_keys:
            raise SchemaFileError(
                f"schema {name!r}, column {column!r}: unknown field(s) {sorted(unknown_keys)}; "
                f"allowed: {sorted(known)}"
            )
        if rule.get("dtype") not in _PANDAS_DTYPES:
            raise SchemaFileError(
                f"schema {name!r}, column {column!r}: dtype must be one of "
                f"{sorted(_PANDAS_DTYPES)}, got {rule.get('dtype')!r}"
            )
        if rule.get("allowed") is not None:
            rule["allowed"] = tuple(rule["allowed"])
        if rule["dtype"] == "datetime":
            _check_date_range(rule, f"schema {name!r}, column {column!r}")
        columns.append(ColumnRule(name=str(column), **rule))
    return TableSchema(columns=tuple(columns), name=name)


def _as_datetime(value: Any) -> datetime:
    """Return a date bound (a date, a datetime or ISO text) as a naive UTC datetime."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, date):
        stamp = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        stamp = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a date: {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def _check_date_range(rule: dict[str, Any], where: str) -> None:
    """Store a datetime column's min/max as ISO text; SchemaFileError unless pandas holds them."""
    for key in ("min", "max"):
        if rule.get(key) is None:
            continue
        try:
            stamp = _as_datetime(rule[key])
        except (ValueError, OverflowError):
            raise SchemaFileError(
                f"{where}: {key} must be a date such as 1900-01-01, got {rule[key]!r}"
            ) from None
        if not _PANDAS_MIN <= stamp <= _PANDAS_MAX:
            raise SchemaFileError(
                f"{where}: {key} {stamp:%Y-%m-%d} is outside the dates pandas can hold "
                f"({_PANDAS_MIN:%Y-%m-%d} .. {_PANDAS_MAX:%Y-%m-%d})"
            )
        rule[key] = stamp.isoformat()
    low = _as_datetime(rule.get("min") or DATE_MIN)
    high = _as_datetime(rule.get("max") or DATE_MAX)
    if low > high:
        raise SchemaFileError(f"{where}: min {low:%Y-%m-%d} is after max {high:%Y-%m-%d}")


def table_schema(path: str | Path) -> TableSchema:
    """Return the TableSchema stored in a schema YAML file."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise SchemaFileError(f"schema file {path} does not exist") from exc
    return parse_table_schema(spec or {}, name=path.stem)


def labels_schema(dataset: DatasetConfig) -> TableSchema:
    """Return the contract of a delayed-label batch: id, target and observation time."""
    if dataset.labels is None or dataset.id_column is None:
        raise SchemaFileError(f"dataset {dataset.name!r} has no separate label batches")
    return TableSchema(
        name=f"{dataset.name}_labels",
        columns=(
            # not unique: a repeated label is a duplicate or a conflict, which the split (and
            # feedback) judge by value wherever the copies are, never "first row wins" here
            ColumnRule(name=dataset.id_column, dtype="string", nullable=False),
            ColumnRule(
                name=dataset.target,
                dtype="category",
                nullable=False,
                allowed=tuple(str(v) for v in dataset.target_values) or None,
            ),
            ColumnRule(name=dataset.labels.observed_at, dtype="datetime", nullable=False),
        ),
    )


def scoring_spec(spec: dict[str, Any], dataset: DatasetConfig) -> dict[str, Any]:
    """Return the schema a new application must meet to be scored (stored in the bundle).

    The label is an outcome, not an input: it is dropped, so REST and batch scoring neither
    need it nor check it (a label sent anyway is ignored). Columns excluded from the model are
    optional: checked when present, never required.
    """
    columns = {}
    for name, rule in (spec.get("columns") or {}).items():
        if name == dataset.target:
            continue
        if name in dataset.exclude_from_model:
            rule = {**(rule or {}), "required": False, "nullable": True}
        columns[name] = rule
    return {**spec, "columns": columns}


def pandas_dtype(rule: ColumnRule) -> Any:
    """Return the canonical pandas dtype a column is normalised to."""
    return _PANDAS_DTYPES[rule.dtype]


def rule_checks(rule: ColumnRule) -> list[pa.Check]:
    """Return the pandera checks of one column (range, allowed values, whole numbers)."""
    checks: list[pa.Check] = []
    if rule.dtype == "datetime":
        return checks  # parse_times: a date out of range never reaches a datetime64[ns] column
    if rule.min is not None:
        checks.append(pa.Check.ge(rule.min))
    if rule.max is not None:
        checks.append(pa.Check.le(rule.max))
    if rule.allowed is not None:
        allowed = list(rule.allowed)
        if rule.dtype == "category" and rule.unknown == "accept":
            allowed.append(UNKNOWN_LEVEL)
        checks.append(pa.Check.isin(allowed))
    if rule.dtype == "int":
        checks.append(
            pa.Check(lambda s: (s % 1 == 0) | s.isna(), element_wise=False, name="whole_number")
        )
    return checks


def to_pandera(schema: TableSchema) -> pa.DataFrameSchema:
    """Return the pandera schema that enforces a TableSchema on a canonical table."""
    columns = {
        rule.name: pa.Column(
            pandas_dtype(rule),
            checks=rule_checks(rule),
            nullable=rule.nullable,
            # uniqueness is checked by validate across batches, keeping the first occurrence
            required=rule.required,
            coerce=False,
        )
        for rule in schema.columns
    }
    return pa.DataFrameSchema(columns, name=schema.name, strict=False, coerce=False)


def empty_frame(schema: TableSchema) -> pd.DataFrame:
    """Return an empty canonical table with every column at its canonical dtype."""
    return pd.DataFrame({r.name: pd.Series(dtype=pandas_dtype(r)) for r in schema.columns})


class RowValidator:
    """The schema's rules compiled for one record at a time (the REST request path).

    pandera on a one-row DataFrame costs about 23 ms; these checks cost microseconds. They are
    derived from the same TableSchema and the same value rules (`parse_number`, `parse_time`,
    `in_future`) as the batch path, and tests hold them to the same verdicts as the batch path
    (ingest.normalise + validate.validate_batch) on good and bad rows. Cross-row rules
    (duplicate ids) are not per-record.
    """

    def __init__(
        self, schema: TableSchema, na_values: list[str], *, time_column: str | None = None
    ) -> None:
        self.schema = schema
        self.na_values = {str(v) for v in na_values}
        self.time_column = time_column if time_column in schema.names else None
        self._allowed = {
            r.name: {str(a) for a in r.allowed} if r.dtype == "category" else set(r.allowed)
            for r in schema.columns
            if r.allowed is not None
        }

    def validate(
        self, record: dict[str, Any], *, as_of: datetime | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """Return canonical values (None for missing) and the `column:rule` names broken.

        `as_of`: the moment the time column must be before (default: now + FUTURE_SLACK).
        """
        values: dict[str, Any] = {}
        broken: list[str] = []
        for rule in self.schema.columns:
            value, reason = self._parse(rule, record.get(rule.name))
            if reason:
                broken.append(f"{rule.name}:{reason}")
            elif value is None:
                if not rule.nullable:
                    broken.append(f"{rule.name}:missing")
            else:
                failures = self._check(rule, value)
                if failures == ["__unknown__"]:
                    value, failures = UNKNOWN_LEVEL, []
                broken.extend(f"{rule.name}:{f}" for f in failures)
            values[rule.name] = value
        stamp = values.get(self.time_column) if self.time_column else None
        if stamp is not None and in_future(stamp, as_of):
            broken.append(f"{self.time_column}:in_future")
        return values, broken

    def _parse(self, rule: ColumnRule, raw: Any) -> tuple[Any, str | None]:
        if is_blank(raw, self.na_values):
            return None, None
        if rule.is_numeric:
            return parse_number(raw)
        if rule.dtype == "datetime":
            return parse_time(raw, rule)
        return str(raw).strip(), None

    def _check(self, rule: ColumnRule, value: Any) -> list[str]:
        """Return every failed check, in the order pandera runs them (rule_checks)."""
        failures = []
        if rule.dtype == "datetime":
            return failures  # its range is parse_time's
        if rule.min is not None and value < rule.min:
            failures.append("below_min")
        if rule.max is not None and value > rule.max:
            failures.append("above_max")
        allowed = self._allowed.get(rule.name)
        if allowed is not None and value not in allowed:
            unknown_ok = rule.dtype == "category" and rule.unknown == "accept"
            failures.append("__unknown__" if unknown_ok else "not_allowed")
        if rule.dtype == "int" and value % 1 != 0:
            failures.append("whole_number")
        return failures


# --- missing values -------------------------------------------------------------------------


def is_blank(raw: Any, na_values: set[str]) -> bool:
    """Return whether one raw value means missing (None, NaN, or a configured marker)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return True
    text = _text(raw)
    return text is not None and text.strip() in na_values


def blanks(values: pd.Series, na_values: set[str]) -> pd.Series:
    """Column form of `is_blank`."""
    if only_numbers(values) and not any(_as_number_text(m) for m in na_values):
        return values.isna()  # no number is written as a marker: skip writing them as text
    text = values.astype("str").str.strip()
    return values.isna() | text.isin(na_values)


def only_numbers(values: pd.Series) -> bool:
    """Return whether a column holds numbers only (no text, no booleans), missing aside.

    Such a column needs no text: each value is the number it holds (`parse_number`'s int and
    float cases), so the column forms skip writing it as text, the costly part at a million rows.
    """
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "integer",
        "floating",
        "mixed-integer-float",
        "empty",
    )


def _as_number_text(marker: str) -> bool:
    """Return whether str() of some non-NaN number could be this missing-value marker."""
    marker = marker.strip()
    return bool(NUMBER.fullmatch(marker)) or marker in ("inf", "-inf")


def _text(raw: Any) -> str | None:
    """Return str(raw) as pandas' astype("str") writes it (None where it cannot be written)."""
    try:
        return str(raw)
    except ValueError:  # an int past Python's 4300-digit str limit
        return None


# --- numbers --------------------------------------------------------------------------------


def parse_number(raw: Any) -> tuple[float | None, str | None]:
    """Return a non-missing raw value as a finite float, or (None, "not_a_number")."""
    if isinstance(raw, bool):
        return None, "not_a_number"
    if isinstance(raw, float):
        return (raw, None) if math.isfinite(raw) else (None, "not_a_number")
    text = _text(raw)
    if text is None or not NUMBER.fullmatch(text := text.strip()):
        return None, "not_a_number"
    number = float(text)
    return (number, None) if math.isfinite(number) else (None, "not_a_number")


def parse_numbers(
    values: pd.Series, *, thousands: str | None = None, decimal: str = "."
) -> pd.Series:
    """Column form of `parse_number` (with the source's separators): NaN where not a number.

    A caller tells missing from not-a-number with `blanks`.
    """
    numbers = None
    if only_numbers(values):
        try:
            numbers = values.astype("float64")
        except OverflowError:  # an int beyond the float range: not a number, as text says
            numbers = None
    if numbers is None:
        text = values.astype("str").str.strip()
        if thousands:
            text = text.str.replace(thousands, "", regex=False)
        if decimal != ".":
            # a "." left in a decimal-comma number is no separator of this source: "1.5" could
            # mean 15 or 1.5, so it is a parse error rather than a guess
            text = text.mask(text.str.contains(".", regex=False), "")
            text = text.str.replace(decimal, ".", regex=False)
        ok = text.str.fullmatch(NUMBER.pattern).fillna(False).astype(bool)
        numbers = pd.Series(np.nan, index=values.index, dtype="float64")
        if ok.any():
            numbers[ok] = text[ok].astype("float64")
    return numbers.where(np.isfinite(numbers.to_numpy()))


# --- timestamps -----------------------------------------------------------------------------


def parse_time(raw: Any, rule: ColumnRule) -> tuple[datetime | None, str | None]:
    """Return an ISO 8601 timestamp as naive UTC in the column's range, or the rule it breaks."""
    low, high = rule.date_range
    if isinstance(raw, datetime):
        stamp = raw
    elif isinstance(raw, str) and TIMESTAMP.fullmatch(text := raw.strip()):
        if _YEAR_MONTH.fullmatch(text):
            text += "-01" if len(text) == 7 else "-01-01"
        try:
            stamp = datetime.fromisoformat(_SUB_MICRO.sub(r"\1", text))
        except ValueError:
            return None, "bad_timestamp"
    else:
        return None, "bad_timestamp"
    if stamp.tzinfo is not None:
        try:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # before year 1 or after 9999 in UTC
            return None, "date_range"
    return (stamp, None) if low <= stamp <= high else (None, "date_range")


def parse_times(
    values: pd.Series, rule: ColumnRule, *, date_format: str | None = None
) -> tuple[pd.Series, pd.Series]:
    """Column form of `parse_time` (or the source's `date_format`).

    Returns naive UTC datetime64[ns] (NaT where missing or broken) and the rule each value broke
    (None where none): `bad_timestamp` or `date_range`.
    """
    low, high = (pd.Timestamp(b, tz="UTC") for b in rule.date_range)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
        bad = pd.Series(False, index=values.index)
    else:
        if values.dtype == object:  # a number (JSON 2024) is no timestamp, as in parse_time
            written = values.map(lambda v: isinstance(v, str | datetime)).astype(bool)
        else:
            written = pd.Series(pd.api.types.is_string_dtype(values), index=values.index)
        text = values.astype("str").str.strip().where(written)
        if date_format:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        else:
            shaped = text.str.fullmatch(TIMESTAMP.pattern).fillna(False).astype(bool)
            text = text.where(shaped).str.replace(_SUB_MICRO.pattern, r"\1", regex=True)
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        bad = parsed.isna() & values.notna()
    parsed = parsed.dt.tz_convert("UTC")
    outside = parsed.notna() & ((parsed < low) | (parsed > high))
    reasons = pd.Series(None, index=values.index, dtype="object")
    reasons[bad] = "bad_timestamp"
    reasons[outside] = "date_range"
    parsed = parsed.mask(outside).dt.tz_localize(None).astype("datetime64[ns]")
    return parsed, reasons


# --- not in the future ----------------------------------------------------------------------


def future_limit(now: datetime | None = None) -> datetime:
    """Return the as-of moment of a row with no batch period: now (naive UTC) + FUTURE_SLACK."""
    now = now or datetime.now(UTC)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now + FUTURE_SLACK


def in_future(stamp: datetime, as_of: datetime | None = None) -> bool:
    """Return whether a row's time is at or after its as-of moment (default: future_limit())."""
    return stamp >= (future_limit() if as_of is None else as_of)


def in_future_mask(times: pd.Series, as_of: pd.Series) -> pd.Series:
    """Column form of `in_future`: a missing as-of (no batch period) is future_limit()."""
    limit = as_of.astype("datetime64[ns]").fillna(pd.Timestamp(future_limit()))
    return times.notna() & (times >= limit)
