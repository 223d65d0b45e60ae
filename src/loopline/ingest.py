"""Stage 1, ingest: raw batches in any source's dialect -> one canonical table per batch.

Sources disagree on column spellings, number formats and date formats. `normalise` maps a raw
batch onto the dataset's canonical columns and dtypes, with the value rules of
`loopline.schemas` (`parse_numbers`, `parse_times`: what a number and a timestamp are, and the
valid date range), the same rules the REST validator applies one value at a time. A value that
cannot be parsed becomes missing *and* is recorded in `_parse_errors`, so validation quarantines
the row with a reason instead of letting a typo pass as a missing value. Every row keeps its
lineage (source, file, record number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from loopline.config import SourceConfig
from loopline.io import SOURCE_ROW, RawBatch
from loopline.schemas import (
    TableSchema,
    blanks,
    only_numbers,
    pandas_dtype,
    parse_numbers,
    parse_times,
)

PARSE_ERRORS = "_parse_errors"
SOURCE = "_source"
SOURCE_FILE = "_source_file"
AS_OF = "_as_of"
RAW = "_raw"  # the record's text, kept only for records that could not be parsed at all
LINEAGE = [SOURCE, SOURCE_FILE, SOURCE_ROW, AS_OF, PARSE_ERRORS, RAW]


@dataclass
class Normalised:
    """A canonical batch plus what did not fit the schema's shape."""

    frame: pd.DataFrame
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)


def canonical_name(name: str) -> str:
    """Return the snake_case form of a column name ("Annual Income " -> "annual_income")."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", str(name).strip()).strip("_")
    return name.lower()


def batch_as_of(file_name: str, regex: str | None) -> pd.Timestamp | None:
    """Return the end of the batch period named in a file name (e.g. 2024-03 -> 2024-04-01)."""
    if not regex:
        return None
    match = re.search(regex, file_name)
    if not match:
        return None
    try:
        period = pd.Period(match.group(1), freq="M")
    except ValueError:
        return None
    return (period + 1).start_time


def normalise(
    raw: RawBatch,
    *,
    schema: TableSchema,
    source: SourceConfig,
    source_key: str,
    file_name: str,
    na_values: list[str],
    period_regex: str | None = None,
) -> Normalised:
    """Return the batch in canonical column names and dtypes with unparseable values flagged."""
    rename = dict(source.rename)
    mapped = {c: rename.get(c, canonical_name(c)) for c in raw.frame.columns if c != SOURCE_ROW}
    frame = raw.frame.rename(columns=mapped)
    present = set(mapped.values())
    missing = [c for c in schema.required if c not in present]
    extra = sorted(present - set(schema.names))
    n = len(frame)
    markers = {str(v) for v in na_values}
    out: dict[str, pd.Series] = {}
    errors = pd.Series("", index=frame.index, dtype="str")
    for rule in schema.columns:
        if rule.name not in frame.columns:
            out[rule.name] = pd.Series(np.nan, index=frame.index).astype(pandas_dtype(rule))
            continue
        values = frame[rule.name]
        if isinstance(values, pd.DataFrame):  # two raw columns mapped to one name
            values = values.iloc[:, 0]
        if values.dtype == object and rule.dtype != "datetime" and not only_numbers(values):
            values = values.astype("str")  # once, not in each step below (as each would)
        blank = blanks(values, markers)
        if rule.dtype in ("float", "int"):
            parsed = parse_numbers(values, thousands=source.thousands, decimal=source.decimal)
            reasons = pd.Series(np.where(parsed.isna(), "not_a_number", None), index=frame.index)
        elif rule.dtype == "datetime":
            parsed, reasons = parse_times(values, rule, date_format=source.date_format)
        else:
            parsed = values.astype("str").str.strip().astype("str")
            reasons = pd.Series(None, index=frame.index, dtype="object")
        parsed = parsed.mask(blank)
        out[rule.name] = parsed.astype(pandas_dtype(rule))
        failed = reasons.notna() & ~blank
        if failed.any():
            label = f"{rule.name}:" + reasons.astype("str") + ";"
            errors = errors.where(~failed, errors + label)
    result = pd.DataFrame(out, index=frame.index)
    result[SOURCE] = pd.Series([source_key] * n, index=frame.index, dtype="str")
    result[SOURCE_FILE] = pd.Series([file_name] * n, index=frame.index, dtype="str")
    result[SOURCE_ROW] = frame[SOURCE_ROW].astype("int64")
    as_of = batch_as_of(file_name, period_regex)
    result[AS_OF] = pd.Series(as_of, index=frame.index, dtype="datetime64[ns]")
    result[PARSE_ERRORS] = errors.str.rstrip(";").replace("", np.nan).astype("str")
    result[RAW] = pd.Series(np.nan, index=frame.index, dtype="str")
    if len(raw.malformed):
        bad = pd.DataFrame({c: result[c].iloc[:0] for c in result.columns})
        bad = bad.reindex(range(len(raw.malformed)))
        for name in (SOURCE, SOURCE_FILE):
            bad[name] = result[name].iloc[0] if n else (source_key if name == SOURCE else file_name)
        bad[SOURCE_ROW] = raw.malformed[SOURCE_ROW].to_numpy()
        bad[AS_OF] = as_of
        bad[PARSE_ERRORS] = raw.malformed["reason"].to_numpy()
        bad[RAW] = raw.malformed["raw"].to_numpy()
        result = pd.concat([result, bad.astype(result.dtypes.to_dict())], ignore_index=True)
        result = result.sort_values(SOURCE_ROW, kind="stable")
    return Normalised(
        frame=result.reset_index(drop=True), missing_columns=missing, extra_columns=extra
    )
