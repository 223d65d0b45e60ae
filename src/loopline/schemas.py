"""Every data contract of Loopline, in one module.

A dataset's rules live in a small YAML file (`conf/schemas/<dataset>.yaml`): per column a dtype,
whether it may be missing, a range or a set of allowed values, and what to do with an unknown
category. `table_schema` reads it; `to_pandera` compiles it into the pandera schema that guards
the data boundary. Later code (a faster single-row validator) derives from the same
`TableSchema`, so the rules are written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

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
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    unknown: Literal["quarantine", "accept"] = "quarantine"

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float", "int")


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
        columns.append(ColumnRule(name=str(column), **rule))
    return TableSchema(columns=tuple(columns), name=name)


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
    derived from the same TableSchema, not written by hand per column, and a test holds them to
    the same verdicts as the pandera path (ingest.normalise + validate.validate_batch) on good
    and bad rows. Cross-row rules (duplicate ids) and batch-period rules are not per-record.
    """

    def __init__(self, schema: TableSchema, na_values: list[str]) -> None:
        self.schema = schema
        self.na_values = {str(v) for v in na_values}
        self._allowed = {
            r.name: {str(a) for a in r.allowed} if r.dtype == "category" else set(r.allowed)
            for r in schema.columns
            if r.allowed is not None
        }

    def validate(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Return canonical values (None for missing) and the `column:rule` names broken."""
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
        return values, broken

    def _parse(self, rule: ColumnRule, raw: Any) -> tuple[Any, str | None]:
        if raw is None or (isinstance(raw, float) and math.isnan(raw) and rule.is_numeric):
            return None, None
        if (isinstance(raw, str) and raw.strip() in self.na_values) or str(raw) in self.na_values:
            return None, None
        if rule.is_numeric:
            if isinstance(raw, bool):
                return None, "not_a_number"
            try:
                number = float(raw.strip() if isinstance(raw, str) else raw)
            except (TypeError, ValueError):
                return None, "not_a_number"
            return (None, "not_a_number") if math.isnan(number) else (number, None)
        if rule.dtype == "datetime":
            return _parse_time(raw)
        return str(raw).strip(), None

    def _check(self, rule: ColumnRule, value: Any) -> list[str]:
        """Return every failed check, in the order pandera runs them (rule_checks)."""
        failures = []
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


def _parse_time(raw: Any) -> tuple[Any, str | None]:
    """Return an ISO 8601 timestamp as naive UTC (what ingest does), or a bad_timestamp reason."""
    if isinstance(raw, datetime):
        stamp = raw
    elif isinstance(raw, str):
        try:
            stamp = datetime.fromisoformat(raw.strip())
        except ValueError:
            return None, "bad_timestamp"
    else:
        return None, "bad_timestamp"
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp, None
