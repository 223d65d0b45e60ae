"""Every data contract of Loopline, in one module.

A dataset's rules live in a small YAML file (`conf/schemas/<dataset>.yaml`): per column a dtype,
whether it may be missing, a range or a set of allowed values, and what to do with an unknown
category. `table_schema` reads it; `to_pandera` compiles it into the pandera schema that guards
the data boundary. Later code (a faster single-row validator) derives from the same
`TableSchema`, so the rules are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
            ColumnRule(name=dataset.id_column, dtype="string", nullable=False, unique=True),
            ColumnRule(
                name=dataset.target,
                dtype="category",
                nullable=False,
                allowed=tuple(str(v) for v in dataset.target_values) or None,
            ),
            ColumnRule(name=dataset.labels.observed_at, dtype="datetime", nullable=False),
        ),
    )


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
