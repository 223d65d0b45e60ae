"""Stage 2, validate: every canonical row is accepted or quarantined with the rules it broke.

The pandera schema compiled from the dataset's schema file is run lazily, so each row collects
all of its failures at once. Parse failures from ingestion, duplicate ids (within the batch and
against earlier batches: the first occurrence wins) and timestamps in the future (after the
batch's own period, or with no period, after now + a day: `schemas.in_future_mask`, the rule
REST applies too) join the same list of reasons. Counts always add up:
rows_in = accepted + quarantined.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from loopline import ingest
from loopline.config import SourceConfig
from loopline.ingest import AS_OF, PARSE_ERRORS, RAW
from loopline.io.batches import DataFileError, RawBatch
from loopline.schemas import UNKNOWN_LEVEL, TableSchema, in_future_mask, to_pandera

REASONS = "_reasons"
# pandera's check names -> the rule names people read in reports and quarantine files
RULE_NAMES = {
    "greater_than_or_equal_to": "below_min",
    "less_than_or_equal_to": "above_max",
    "isin": "not_allowed",
    "not_nullable": "missing",
}


class ValidationStopError(RuntimeError):
    """The batch cannot go on: a required column is missing or too many rows are bad."""


@dataclass
class ValidationResult:
    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    report: dict[str, Any]


@dataclass
class CheckedBatch:
    """One batch read from a file, normalised and validated (`check_batch`)."""

    normalised: ingest.Normalised  # the canonical frame, missing and extra columns
    result: ValidationResult  # accepted and quarantined rows, the report
    set_aside: pd.DataFrame  # rows the caller's `set_aside` moved out before validation
    timings: dict[str, float]  # seconds spent normalising and validating


class SeenIds:
    """The ids of earlier rows (earlier batches, earlier chunks of a file), for the duplicate
    rule, held as sorted 64-bit hashes: 8 bytes an id where a Python set of str costs about 90,
    so a 10-million-row file's ids take 80 MB and a lookup is a binary search.

    Two different ids share a hash with odds of about n² / 2^65 (3 in a million for 10 million
    ids); such a row would be quarantined as `duplicate_of_earlier_batch`, with that reason,
    never dropped. Hashes are Python's own (SipHash), fixed for the process's life, which is
    as long as a `SeenIds` lives.
    """

    def __init__(self, ids: Iterable[Any] = ()) -> None:
        self._hashes = np.empty(0, dtype="int64")
        self.add(ids)

    @staticmethod
    def _hash(ids: Iterable[Any]) -> np.ndarray:
        values = np.asarray(ids.to_numpy(dtype=object) if isinstance(ids, pd.Series) else ids)
        present = values[pd.notna(values)] if values.ndim else values
        return np.fromiter(map(hash, present), dtype="int64", count=len(present))

    def add(self, ids: Iterable[Any]) -> None:
        """Remember these ids (missing ones are skipped)."""
        new = np.sort(self._hash(ids))
        if len(new):  # two sorted runs: numpy's stable sort merges them in linear time
            merged = np.concatenate([self._hashes, new])
            merged.sort(kind="stable")
            self._hashes = merged

    def contains(self, ids: pd.Series) -> np.ndarray:
        """Whether each id was seen (a missing id never was)."""
        values = ids.to_numpy(dtype=object)
        present = pd.notna(values)
        out = np.zeros(len(values), dtype=bool)
        if len(self._hashes) and present.any():
            hashes = self._hash(values[present])
            at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
            out[present] = self._hashes[at] == hashes
        return out

    def __len__(self) -> int:
        return len(self._hashes)


@dataclass(frozen=True)
class BatchContext:
    """Where a batch comes from and what it is checked against."""

    schema: TableSchema
    source: SourceConfig
    source_key: str
    file_name: str
    na_values: list[str]
    period_regex: str | None
    id_column: str | None
    time_column: str | None


def check_batch(
    raw: RawBatch,
    context: BatchContext,
    *,
    seen_ids: SeenIds | None = None,
    set_aside: Callable[[pd.DataFrame], pd.Series] | None = None,
    first: bool = True,
    require_columns: bool = True,
) -> CheckedBatch:
    """Normalise and validate one batch read from a file: the one path from raw records to
    accepted and quarantined rows for `loopline validate`, `loopline feedback` and `loopline
    score` (the pipeline runs the same two steps as two stages, `ingest` and `validate`).

    Raises DataFileError for a first batch with no header and no rows, ValidationStopError when
    required columns are missing (when `require_columns`). `set_aside` returns the reason for
    each row to move out before validation (None keeps the row): e.g. conflicting labels.
    """
    if first and not (raw.columns or len(raw.frame) or len(raw.malformed)):
        raise DataFileError(f"{context.file_name}: the file is empty (no header, no rows)")
    started = time.perf_counter()
    normalised = ingest.normalise(
        raw,
        schema=context.schema,
        source=context.source,
        source_key=context.source_key,
        file_name=context.file_name,
        na_values=context.na_values,
        period_regex=context.period_regex,
    )
    if require_columns:
        check_required_columns(
            normalised.missing_columns, file_name=context.file_name, present=raw.columns
        )
    timings = {"normalise": time.perf_counter() - started}
    started = time.perf_counter()
    frame, aside = normalised.frame, normalised.frame.iloc[0:0]
    if set_aside is not None:
        reasons = set_aside(frame)
        hit = reasons.notna().to_numpy()
        aside = frame[hit].assign(**{REASONS: reasons[hit]})
        frame = frame[~hit]
    result = validate_batch(
        frame,
        schema=context.schema,
        id_column=context.id_column,
        time_column=context.time_column,
        seen_ids=seen_ids,
    )
    timings["validate"] = time.perf_counter() - started
    return CheckedBatch(normalised, result, aside, timings)


def mark_unknown_categories(
    frame: pd.DataFrame, schema: TableSchema
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Return the frame with unseen categories of `unknown: accept` columns as an explicit level.

    The raw values are counted: a new category is a drift signal, not noise to hide.
    """
    out = frame.copy()
    counts: dict[str, dict[str, int]] = {}
    for rule in schema.columns:
        if rule.dtype != "category" or rule.allowed is None or rule.unknown != "accept":
            continue
        if rule.name not in out.columns:
            continue
        values = out[rule.name]
        unseen = values.notna() & ~values.isin([str(a) for a in rule.allowed])
        if unseen.any():
            counts[rule.name] = {str(k): int(v) for k, v in values[unseen].value_counts().items()}
            out[rule.name] = values.mask(unseen, UNKNOWN_LEVEL)
    return out, counts


def _schema_reasons(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> dict[int, list[str]]:
    """Return `column:check` names that the pandera schema reports, per failing row position
    (rows that pass are absent: at a million rows, a list per row costs seconds)."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        row_cases = cases[cases["index"].notna()]
        table_cases = cases[cases["index"].isna()]
        if len(table_cases):
            described = "; ".join(
                f"{c}: {k}"
                for c, k in zip(table_cases["column"], table_cases["check"], strict=True)
            )
            raise ValidationStopError(
                f"the table as a whole breaks the schema: {described}"
            ) from None
        checks = row_cases["check"].astype(str).str.replace(r"\(.*\)$", "", regex=True)
        labels = row_cases["column"].astype(str) + ":" + checks.replace(RULE_NAMES)
        grouped = labels.groupby(row_cases["index"].astype("int64")).agg(list)
        return dict(zip(grouped.index.tolist(), grouped.tolist(), strict=True))
    return {}


def validate_batch(
    frame: pd.DataFrame,
    *,
    schema: TableSchema,
    id_column: str | None = None,
    time_column: str | None = None,
    seen_ids: SeenIds | None = None,
) -> ValidationResult:
    """Return accepted and quarantined rows of one canonical batch and the per-rule counts."""
    frame = frame.reset_index(drop=True)
    frame, unknown = mark_unknown_categories(frame, schema)
    reasons = _schema_reasons(frame[schema.names], to_pandera(schema))

    extra: dict[str, pd.Series] = {}
    if PARSE_ERRORS in frame.columns:
        extra["parse"] = frame[PARSE_ERRORS]
    if id_column and id_column in frame.columns:
        ids = frame[id_column]
        dup = ids.notna() & ids.duplicated(keep="first")
        extra["dup"] = pd.Series(np.where(dup, f"{id_column}:duplicate", None), dtype="object")
        if seen_ids:
            earlier = seen_ids.contains(ids)
            label = f"{id_column}:duplicate_of_earlier_batch"
            extra["seen"] = pd.Series(np.where(earlier, label, None), dtype="object")
    if time_column and time_column in frame.columns:
        as_of = frame[AS_OF] if AS_OF in frame.columns else pd.Series(pd.NaT, index=frame.index)
        future = in_future_mask(frame[time_column], as_of)
        label = f"{time_column}:in_future"
        extra["future"] = pd.Series(np.where(future, label, None), dtype="object")

    combined = _combine(len(frame), reasons, extra)
    bad = np.zeros(len(frame), dtype=bool)
    bad[list(combined)] = True
    quarantined = frame[bad].copy()
    quarantined[REASONS] = pd.Series(
        [";".join(row) for row in combined.values()], index=quarantined.index, dtype="object"
    )
    accepted = frame[~bad].drop(columns=[c for c in (PARSE_ERRORS, RAW) if c in frame.columns])
    rule_counts = Counter(r for row in combined.values() for r in row)
    report = {
        "rows_in": len(frame),
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "rules": dict(sorted(rule_counts.items(), key=lambda kv: -kv[1])),
        "unknown_categories": unknown,
    }
    return ValidationResult(
        accepted=accepted.reset_index(drop=True),
        quarantined=quarantined.reset_index(drop=True),
        report=report,
    )


def _combine(
    n: int, reasons: dict[int, list[str]], extra: dict[str, pd.Series]
) -> dict[int, list[str]]:
    """Merge schema reasons with parse, duplicate and time reasons, without double counting,
    for the rows that broke anything (by position).

    A value that failed to parse is missing, so the schema also calls it `not_nullable`;
    only the parse failure is the real reason.
    """
    parse = extra.pop("parse", None)
    parsed = np.full(n, None, dtype=object) if parse is None else parse.to_numpy(dtype=object)
    others = [o.to_numpy(dtype=object) for o in extra.values()]
    flagged = pd.notna(parsed)
    for other in others:
        flagged |= pd.notna(other)
    rows = sorted({*reasons, *np.flatnonzero(flagged).tolist()})
    merged = {}
    for i in rows:
        schema_reasons = reasons.get(i, [])
        row: list[str] = parsed[i].split(";") if isinstance(parsed[i], str) else []
        if row and row[0].startswith("record:"):
            pass  # the record was never parsed: its empty fields are not separate failures
        elif row:
            broken = {r.split(":", 1)[0] for r in row}
            row.extend(r for r in schema_reasons if r.split(":", 1)[0] not in broken)
        else:
            row.extend(schema_reasons)
        row.extend(o[i] for o in others if o[i] is not None)
        if row:
            merged[i] = row
    return merged


def check_required_columns(missing: list[str], *, file_name: str, present: list[str]) -> None:
    """Raise ValidationStopError naming the file and columns when required ones are absent."""
    if missing:
        raise ValidationStopError(
            f"{file_name}: required column(s) missing: {', '.join(missing)}.\n"
            f"  Columns in the file: {', '.join(present) or '(none)'}.\n"
            "  Fix the export, or map the source's spelling with `rename` under "
            "dataset.sources.<source> in conf/dataset/."
        )


def check_quarantine_rate(
    report: dict[str, Any], *, file_name: str, ceiling: float, resent: int = 0
) -> None:
    """Raise ValidationStopError when a batch's quarantine share exceeds the configured ceiling.

    `resent` rows (quarantined only as copies of rows an earlier batch holds) are left out: a
    re-sent batch is not a broken source, and its copies are quarantined and counted anyway.
    """
    rows = report["rows_in"]
    if rows == 0:
        return
    broken = report["quarantined"] - resent
    rate = broken / rows
    if rate > ceiling:
        top = ", ".join(f"{k} ({v})" for k, v in list(report["rules"].items())[:5])
        copies = f" (besides {resent} copies of earlier rows)" if resent else ""
        raise ValidationStopError(
            f"{file_name}: {broken} of {rows} rows{copies} ({rate:.1%}) broke the schema, "
            f"above the ceiling validate.max_quarantine_rate={ceiling:.0%}.\n"
            f"  Most frequent rules: {top}.\n"
            "  Inspect the quarantined rows, fix the source, or raise the ceiling in conf/."
        )


def summarise(partitions: dict[str, Any], ingested: dict[str, Any]) -> dict[str, Any]:
    """Return validation.json: totals, per-rule counts and per-batch counts."""
    totals: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    unknown: dict[str, Counter[str]] = {}
    batches = {}
    for key, entry in partitions.items():
        report = entry["report"]
        table = entry["table"]
        for name in ("rows_in", "accepted", "quarantined"):
            totals[f"{table}.{name}"] += report[name]
        rules.update({f"{table}.{k}": v for k, v in report["rules"].items()})
        for column, counts in report["unknown_categories"].items():
            unknown.setdefault(column, Counter()).update(counts)
        batches[key] = {
            "table": table,
            **{k: report[k] for k in ("rows_in", "accepted", "quarantined")},
            "extra_columns_dropped": ingested.get(key, {}).get("extra_columns", []),
        }
    tables = sorted({e["table"] for e in partitions.values()})
    summary = {
        t: {
            "rows_in": totals[f"{t}.rows_in"],
            "accepted": totals[f"{t}.accepted"],
            "quarantined": totals[f"{t}.quarantined"],
            "quarantine_rate": round(
                totals[f"{t}.quarantined"] / max(totals[f"{t}.rows_in"], 1), 5
            ),
        }
        for t in tables
    }
    return {
        **summary,
        "rules": dict(rules.most_common()),
        "unknown_categories": {c: dict(v.most_common()) for c, v in unknown.items()},
        "batches": batches,
    }
