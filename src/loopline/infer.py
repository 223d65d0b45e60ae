"""Infer a dataset's schema and config from a sample of its raw rows (pure: no file I/O).

`loopline init-dataset` reads a file and hands its raw values (text, as written) to `infer`,
which proposes what a person would otherwise type by hand: per column a dtype, whether it may be
missing, a range with a margin or the allowed categories; the missing-value markers of the file;
guesses for the id, time and entity columns; and the checked target. Like TensorFlow Data
Validation's schema inference it proposes and explains, and the user reviews: every guess comes
with a human-readable note saying why.

The rules mirror how the pipeline reads the same values later (`loopline.ingest.normalise`):
values are stripped, markers in `na_values` are missing everywhere, numbers parse with
`pandas.to_numeric`, timestamps as ISO 8601 unless the source has one `date_format`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopline.ingest import canonical_name
from loopline.io import SOURCE_ROW
from loopline.labels import label_key

# Tokens that mean "missing" in exported files. The unambiguous ones are markers wherever they
# occur; the others ("None", "-", ...) can be real category values, so they count as markers only
# with evidence: inside an otherwise numeric column, or as a value of two or more columns.
UNAMBIGUOUS_MARKERS = ("?", "N/A", "n/a", "#N/A", "null", "NULL", "nan", "NaN")
AMBIGUOUS_MARKERS = ("NA", "na", "Null", "None", "none", "-", "--", ".", "missing", "MISSING")
# Listed in na_values even when unseen (unless a real value somewhere): cheap insurance against
# a later batch writing missing numbers this way, which would otherwise be parse errors.
CONVENTIONAL_MARKERS = ("NA", "N/A", "NULL", "NaN", "nan", "null")

# Non-ISO timestamp layouts tried when ISO 8601 does not parse a text column (day first first).
DATE_FORMATS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)
ISO = "ISO8601"

ID_TOKENS = {"id", "uuid", "guid", "key", "ref", "no", "nr", "number"}
ENTITY_TOKENS = {
    "customer",
    "cust",
    "user",
    "account",
    "acct",
    "client",
    "member",
    "person",
    "patient",
    "borrower",
    "applicant",
    "household",
    "merchant",
    "device",
    "entity",
}
TIME_TOKENS = {"time", "date", "datetime", "timestamp", "ts", "at", "when", "created", "updated"}

_LEADING_ZERO = re.compile(r"^[-+]?0\d")  # "007": a code, not the number 7
_CANONICAL_INT = re.compile(r"^(0|-?[1-9]\d*)$")


class InferenceError(ValueError):
    """The sample cannot be turned into a dataset as asked; the message says what to change."""


@dataclass
class ColumnProfile:
    """What the sample says about one column, before the dtype is decided."""

    name: str  # canonical
    raw_name: str
    counts: pd.Series  # non-missing stripped text -> occurrences, most common first
    missing: int
    rows: int
    numbers: pd.Series | None = None  # text -> float when every value is a finite number
    date_format: str | None = None  # ISO or one of DATE_FORMATS when every value is a timestamp
    native_datetime: bool = False  # already datetime64 (Parquet)

    @property
    def distinct(self) -> int:
        return len(self.counts)

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def unique(self) -> bool:
        return self.present > 0 and self.distinct == self.present


@dataclass
class Inference:
    """A proposed schema and dataset config, with notes for the person who reviews them."""

    schema: dict[str, Any]  # {"columns": {name: rule}} as conf/schemas/NAME.yaml holds it
    dataset: dict[str, Any]  # the DatasetConfig fields inferred from the data
    notes: list[str] = field(default_factory=list)
    date_format: str | None = None  # the source's date_format; None = ISO 8601
    columns: dict[str, str] = field(default_factory=dict)  # name in the file -> canonical
    rows: int = 0


def infer(
    frame: pd.DataFrame,
    *,
    target: str,
    positive: Any,
    id_column: str | None = None,
    time_column: str | None = None,
    entity_column: str | None = None,
    decimal: str = ".",
    max_categories: int = 50,
    category_share: float = 0.05,
    margin: float = 0.1,
    max_slices: int = 2,
) -> Inference:
    """Return the schema and dataset config inferred from raw values (as read from the file).

    `id_column`, `time_column`, `entity_column`: None = guess, "" = none, else the column (as
    written in the file or canonical). `decimal` is the file's decimal mark.
    """
    frame = frame.drop(columns=[SOURCE_ROW], errors="ignore")
    columns = _canonical_columns([str(c) for c in frame.columns])
    notes: list[str] = []
    texts = {columns[str(c)]: _as_text(frame[c]) for c in frame.columns}
    markers, marker_notes = detect_markers(texts, decimal=decimal)
    notes.extend(marker_notes)
    profiles = {
        name: _profile(name, raw, texts[name], frame[raw], markers, decimal)
        for raw, name in columns.items()
    }
    date_format = _settle_date_format(profiles, notes)

    target_name = _resolve(target, columns, "target")
    target_spec = check_target(profiles[target_name].counts, positive, column=target_name)
    notes.extend(target_spec.pop("notes"))

    roles = _roles(
        profiles,
        target=target_name,
        given={"id": id_column, "time": time_column, "entity": entity_column},
        columns=columns,
        max_categories=max_categories,
        notes=notes,
    )

    if _role_of(roles, "entity") and not _role_of(roles, "time"):
        notes.append("the entity column feeds history features only with a time column")
    rules: dict[str, dict[str, Any]] = {}
    for name, profile in profiles.items():
        if name == target_name:
            rules[name] = {
                "dtype": "category",
                "nullable": profile.missing > 0,
                "allowed": sorted(profile.counts.index.astype(str)),
                "unknown": "quarantine",
            }
            notes.append(f"{name}: the target, {profile.distinct} values -> category (quarantine)")
            continue
        rule, note = column_rule(
            profile,
            role=roles.get(name),
            max_categories=max_categories,
            category_share=category_share,
            margin=margin,
        )
        rules[name] = rule
        notes.append(note)

    slices = _slices(rules, profiles, skip={target_name, *roles}, limit=max_slices)
    if slices:
        notes.append(f"slices: {', '.join(s['column'] for s in slices)} (few levels each)")
    seen_values = {str(v) for p in profiles.values() for v in p.counts.index}
    unseen = [m for m in CONVENTIONAL_MARKERS if m not in markers and m not in seen_values]
    na_values = sorted({"", *markers}) + unseen
    dataset = {
        "id_column": _role_of(roles, "id"),
        "entity_column": _role_of(roles, "entity"),
        "time_column": _role_of(roles, "time"),
        "target": target_name,
        "positive_label": target_spec["positive_label"],
        "target_values": target_spec["target_values"],
        "na_values": na_values,
        "slices": slices,
    }
    renamed = {raw: name for raw, name in columns.items() if raw != name}
    if renamed:
        notes.append(
            f"column names canonicalised (ingest does the same, no rename needed): {renamed}"
        )
    return Inference(
        schema={"columns": rules},
        dataset=dataset,
        notes=notes,
        date_format=date_format,
        columns=columns,
        rows=len(frame),
    )


def _canonical_columns(raw: list[str]) -> dict[str, str]:
    """Return file name -> canonical name; names that vanish or collide are an error."""
    out: dict[str, str] = {}
    for position, name in enumerate(raw, start=1):
        canonical = canonical_name(name)
        if not canonical:
            raise InferenceError(
                f"column {position} ({name!r}) has no usable name; give the file a header "
                "with names made of letters or digits (or pass --no-header --names)"
            )
        clash = [r for r, c in out.items() if c == canonical]
        if clash:
            raise InferenceError(
                f"columns {clash[0]!r} and {name!r} both become {canonical!r} once names are "
                "canonicalised (as ingest does); rename one of them in the file"
            )
        out[name] = canonical
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Return values as stripped text with missing as NaN (what ingest compares markers with)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("str").where(values.notna())
    present = values.notna()
    return values.astype("str").str.strip().where(present)


def _to_numbers(text: pd.Series, decimal: str) -> pd.Series:
    """Return text parsed as floats (NaN where it is not a number) like ingest does."""
    if decimal != ".":
        # as ingest: a "." in a decimal-comma file is no separator, so not a number
        text = text.mask(text.str.contains(".", regex=False), "")
        text = text.str.replace(decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _all_numbers(values: pd.Series, decimal: str) -> pd.Series | None:
    """Return the parsed numbers of distinct text values when every one is a plain number."""
    if values.empty or values.str.match(_LEADING_ZERO.pattern).any():
        return None
    numbers = _to_numbers(values, decimal)
    if numbers.isna().any() or not np.isfinite(numbers.to_numpy()).all():
        return None
    return pd.Series(numbers.to_numpy(), index=values.to_numpy())


def detect_markers(
    texts: dict[str, pd.Series], *, decimal: str = "."
) -> tuple[set[str], list[str]]:
    """Return the missing-value markers of a table's text columns and why each was chosen."""
    where: dict[str, list[str]] = {}
    numeric_with: dict[str, list[str]] = {}
    for name, text in texts.items():
        distinct = pd.Series(text.dropna().unique(), dtype="object").astype("str")
        tokens = [t for t in distinct if t in UNAMBIGUOUS_MARKERS or t in AMBIGUOUS_MARKERS]
        for token in tokens:
            where.setdefault(token, []).append(name)
        others = distinct[~distinct.isin([*UNAMBIGUOUS_MARKERS, *AMBIGUOUS_MARKERS, ""])]
        if tokens and not others.empty and _all_numbers(others, decimal) is not None:
            for token in tokens:
                numeric_with.setdefault(token, []).append(name)
    markers: set[str] = set()
    notes: list[str] = []
    for token, names in sorted(where.items()):
        if token in numeric_with:
            reason = f"in numeric column(s) {', '.join(numeric_with[token])}"
        elif len(names) >= 2:
            reason = f"a value of {len(names)} columns ({', '.join(names[:5])})"
        elif token in UNAMBIGUOUS_MARKERS:
            reason = f"a conventional marker, in {names[0]}"
        else:
            notes.append(f"{token!r} in {names[0]} kept as a value (only there, not numeric)")
            continue
        markers.add(token)
        notes.append(f"na marker {token!r}: {reason}")
    if markers:
        notes.insert(0, f"na markers: {sorted(markers)}")
    return markers, notes


def _profile(
    name: str, raw_name: str, text: pd.Series, raw: pd.Series, markers: set[str], decimal: str
) -> ColumnProfile:
    blank = text.isna() | text.isin(markers | {""})
    counts = text[~blank].value_counts(sort=True)
    profile = ColumnProfile(
        name=name, raw_name=raw_name, counts=counts, missing=int(blank.sum()), rows=len(text)
    )
    if pd.api.types.is_datetime64_any_dtype(raw):
        profile.native_datetime, profile.date_format = True, ISO
        return profile
    if profile.distinct == 0:
        return profile
    distinct = pd.Series(counts.index, dtype="object").astype("str")
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        numbers = pd.to_numeric(distinct, errors="coerce")
        profile.numbers = pd.Series(numbers.to_numpy(), index=distinct.to_numpy())
        return profile
    profile.numbers = _all_numbers(distinct, decimal)
    if profile.numbers is None:
        profile.date_format = _date_format(distinct)
    return profile


def _date_format(values: pd.Series) -> str | None:
    """Return the first layout (ISO 8601, then DATE_FORMATS) that parses every value."""
    if not values.str.contains(r"\d", regex=True).all():
        return None
    head = values.iloc[:1000]  # most text columns fail every layout on their first values
    for fmt in (ISO, *DATE_FORMATS):
        if not pd.to_datetime(head, format=fmt, errors="coerce", utc=True).notna().all():
            continue
        if pd.to_datetime(values, format=fmt, errors="coerce", utc=True).notna().all():
            return fmt
    return None


def _settle_date_format(profiles: dict[str, ColumnProfile], notes: list[str]) -> str | None:
    """Return the one date_format the source needs; columns it cannot parse stay text.

    A source has one date_format for all its timestamp columns, so a non-ISO layout wins only
    when every timestamp column parses with it.
    """
    dated = {n: p for n, p in profiles.items() if p.date_format and not p.native_datetime}
    layouts = {p.date_format for p in dated.values()} - {ISO}
    if not layouts:
        return None
    chosen = max(sorted(layouts), key=lambda f: sum(p.date_format == f for p in dated.values()))
    for name, profile in dated.items():
        values = pd.Series(profile.counts.index, dtype="object").astype("str")
        if pd.to_datetime(values, format=chosen, errors="coerce", utc=True).notna().all():
            profile.date_format = chosen
        else:
            profile.date_format = None
            notes.append(f"{name}: timestamps in another layout than {chosen!r} -> kept as text")
    notes.append(f"timestamps are not ISO 8601: source date_format {chosen!r}")
    return chosen


def _resolve(column: str, columns: dict[str, str], what: str) -> str:
    """Return the canonical name of a column given as written in the file or canonical."""
    names = set(columns.values())
    if column in columns:
        return columns[column]
    if canonical_name(column) in names:
        return canonical_name(column)
    shown = ", ".join(list(columns)[:30])
    raise InferenceError(
        f"{what} column {column!r} is not in the file; its columns are: {shown}. "
        "If the file has no header line, pass --no-header and --names."
    )


def label_value(text: str) -> Any:
    """Return a label value typed so that YAML round-trips it and str() gives back the text."""
    if _CANONICAL_INT.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) and repr(number) == text else text


def check_target(counts: pd.Series, positive: Any, *, column: str) -> dict[str, Any]:
    """Return positive_label and target_values for a target column's value counts.

    The positive value is matched by value as the pipeline compares labels
    (`loopline.labels.label_key`): "2" = 2 = 2.0, "yes" = "true" = 1, ">50k" = ">50K".
    """
    seen = [str(v) for v in counts.index]
    notes: list[str] = []
    if not seen:
        raise InferenceError(f"target column {column!r} has no values")
    wanted = label_key(positive)
    matches = [v for v in seen if wanted is not None and label_key(v) == wanted]
    if not matches:
        shown = ", ".join(repr(v) for v in sorted(seen)[:20])
        raise InferenceError(
            f"positive label {positive!r} does not occur in target column {column!r}; "
            f"values seen: {shown}"
        )
    label = matches[0]  # counts are most common first
    if label != str(positive).strip() or len(matches) > 1:
        notes.append(f"positive label {positive!r} matched {matches} in the data")
    if len({label_key(v) for v in seen}) < 2:
        raise InferenceError(
            f"target column {column!r} has only the outcome {label!r}: a model needs positives "
            "and negatives"
        )
    positives = int(counts[counts.index.astype(str).isin(matches)].sum())
    total = int(counts.sum())
    notes.append(
        f"target {column}: positive {label!r} in {positives} of {total} labelled rows "
        f"({positives / total:.1%}); values {sorted(seen)}"
    )
    if len(seen) > 10:
        notes.append(
            f"warning: target {column} has {len(seen)} distinct values; the model learns "
            f"{label!r} against all the others"
        )
    values = sorted((label_value(v) for v in seen), key=lambda v: (isinstance(v, str), v))
    return {"positive_label": label_value(label), "target_values": values, "notes": notes}


def _tokens(name: str) -> list[str]:
    return [t for t in name.split("_") if t]


def _camel_id(raw_name: str) -> bool:
    """Return True for names like CustomerID or accountId (canonical_name loses the case)."""
    return bool(re.search(r"[a-z](ID|Id)$", raw_name.strip()))


def looks_like_id(name: str, raw_name: str = "") -> bool:
    """Return True when a column's name says it identifies something."""
    tokens = _tokens(name)
    return bool(tokens) and (
        tokens[-1] in ID_TOKENS or tokens[0] == "id" or _camel_id(raw_name or name)
    )


def looks_like_entity(name: str) -> bool:
    """Return True when a column's name says it names who the row is about."""
    return bool(set(_tokens(name)) & ENTITY_TOKENS)


def looks_like_time(name: str) -> bool:
    """Return True when a column's name says it holds a time."""
    tokens = _tokens(name)
    return bool(set(tokens) & TIME_TOKENS) or any(t.endswith(("date", "time")) for t in tokens)


def _roles(
    profiles: dict[str, ColumnProfile],
    *,
    target: str,
    given: dict[str, str | None],
    columns: dict[str, str],
    max_categories: int,
    notes: list[str],
) -> dict[str, str]:
    """Return canonical column -> role (id, time, entity): given ones checked, others guessed."""
    roles: dict[str, str] = {}
    for role in ("id", "time", "entity"):
        value = given[role]
        if value is None or value == "":
            continue
        name = _resolve(value, columns, role)
        if name == target or name in roles:
            raise InferenceError(f"{role} column {name!r} is already the target or another role")
        _check_given(role, profiles[name])
        roles[name] = role
        notes.append(f"{role} column: {name} (given)")
    candidates = {n: p for n, p in profiles.items() if n != target and n not in roles}
    for role, guess in (("id", _guess_id), ("time", _guess_time), ("entity", _guess_entity)):
        if given[role] is not None or role in roles.values():
            continue
        found = guess(candidates, max_categories)
        if found is None:
            notes.append(f"no {role} column guessed (pass --{role} COLUMN if there is one)")
            continue
        name, reason = found
        roles[name] = role
        candidates.pop(name)
        notes.append(f"guessed {role} column: {name} ({reason}); review it")
    return roles


def _check_given(role: str, profile: ColumnProfile) -> None:
    name = profile.name
    if role == "id" and not (profile.unique and profile.missing == 0):
        raise InferenceError(
            f"id column {name!r} has {profile.present - profile.distinct} repeated and "
            f"{profile.missing} missing values; an id must identify each row "
            "(for who a row is about, use --entity)"
        )
    if role == "time" and profile.date_format is None:
        example = profile.counts.index[0] if profile.distinct else "nothing"
        raise InferenceError(
            f"time column {name!r} does not parse as timestamps (e.g. {example!r}); "
            "use ISO 8601 such as 2024-03-01 or 2024-03-01T12:00:00"
        )


def _guess_id(candidates: dict[str, ColumnProfile], max_categories: int) -> tuple[str, str] | None:
    for name, p in candidates.items():
        whole = p.numbers is None or bool((p.numbers % 1 == 0).all())
        unique = p.unique and p.missing == 0 and p.present > 1
        if p.date_format is None and whole and unique and looks_like_id(name, p.raw_name):
            return name, "every value unique, name looks like an id"
    return None


def _guess_time(
    candidates: dict[str, ColumnProfile], max_categories: int
) -> tuple[str, str] | None:
    dated = [n for n, p in candidates.items() if p.date_format is not None]
    named = [n for n in dated if looks_like_time(n)]
    if named:
        return named[0], "parses as timestamps, name looks like a time"
    if len(dated) == 1:
        return dated[0], "the only column that parses as timestamps"
    return None


def _guess_entity(
    candidates: dict[str, ColumnProfile], max_categories: int
) -> tuple[str, str] | None:
    for name, p in candidates.items():
        repeated = 1 < p.distinct < p.present
        whole = p.numbers is None or bool((p.numbers % 1 == 0).all())
        if not repeated or not whole or p.date_format is not None:
            continue
        # many distinct values: "account_status" with 4 levels is a category, not an entity
        if p.distinct <= max_categories:
            continue
        if looks_like_entity(name):
            return name, f"{p.distinct} distinct values repeated over {p.present} rows"
        if looks_like_id(name, p.raw_name):
            return name, f"an id with {p.distinct} distinct values repeated over {p.present} rows"
    return None


def _role_of(roles: dict[str, str], role: str) -> str | None:
    return next((name for name, r in roles.items() if r == role), None)


def column_rule(
    profile: ColumnProfile,
    *,
    role: str | None = None,
    max_categories: int = 50,
    category_share: float = 0.05,
    margin: float = 0.1,
) -> tuple[dict[str, Any], str]:
    """Return one column's schema rule and a note saying what was inferred and why."""
    p = profile
    nullable = p.missing > 0
    missing = f", {p.missing} missing" if p.missing else ""
    if role == "id":
        rule = {"dtype": "string", "nullable": False, "unique": True}
        return rule, f"{p.name}: string, unique (the id column)"
    if role == "entity":
        rule = {"dtype": "string", "nullable": nullable}
        return rule, f"{p.name}: string, {p.distinct} distinct (the entity column){missing}"
    if p.date_format is not None:
        rule = {"dtype": "datetime", "nullable": nullable}
        first, last = min(p.counts.index), max(p.counts.index)
        use = "the time column" if role == "time" else "not a model input"
        return rule, f"{p.name}: datetime {first} .. {last} ({use}){missing}"
    if p.distinct == 0:
        rule = {"dtype": "string", "nullable": True}
        return rule, f"{p.name}: no values in the sample -> string (not a model input)"
    if p.numbers is not None:
        return _numeric_rule(p, nullable=nullable, margin=margin, missing=missing)
    share = p.distinct / max(p.present, 1)
    repeats = share <= category_share or (p.distinct <= 20 and share <= 0.5)
    if p.distinct <= max_categories and repeats:
        allowed = sorted(str(v) for v in p.counts.index)
        rule = {"dtype": "category", "nullable": nullable, "allowed": allowed, "unknown": "accept"}
        shown = ", ".join(allowed[:6]) + (", ..." if len(allowed) > 6 else "")
        note = f"{p.name}: {p.distinct} distinct values -> category ({shown}){missing}"
        return rule, note
    if share <= category_share:
        rule = {"dtype": "category", "nullable": nullable}
        note = (
            f"{p.name}: {p.distinct} distinct values -> category without an allowed list "
            f"(too many to list; rare ones become __other__){missing}"
        )
        return rule, note
    rule = {"dtype": "string", "nullable": nullable}
    note = f"{p.name}: text with {p.distinct} distinct values -> string (not a model input)"
    return rule, note + missing


def _numeric_rule(
    p: ColumnProfile, *, nullable: bool, margin: float, missing: str
) -> tuple[dict[str, Any], str]:
    numbers = p.numbers.to_numpy(dtype="float64")
    low, high = float(numbers.min()), float(numbers.max())
    whole = bool((numbers % 1 == 0).all())
    lo, hi = widen(low, high, margin=margin, whole=whole)
    dtype = "int" if whole else "float"
    rule = {"dtype": dtype, "nullable": nullable, "min": lo, "max": hi}
    seen = f"{_fmt(low)}..{_fmt(high)}"
    note = f"{p.name}: {dtype}, seen {seen}, allowed {_fmt(lo)}..{_fmt(hi)}{missing}"
    return rule, note


def widen(
    low: float, high: float, *, margin: float = 0.1, whole: bool = False
) -> tuple[float, float]:
    """Return [low, high] widened by `margin` of its span on each side, rounded outwards.

    Never below 0 when `low` >= 0 (a count or an amount stays non-negative); integral bounds
    for whole numbers; otherwise about three significant digits of the span.
    """
    span = high - low
    pad = margin * span if span > 0 else margin * max(abs(high), 1.0)
    lo, hi = low - pad, high + pad
    if low >= 0:
        lo = max(lo, 0.0)
    if whole:
        return math.floor(lo), math.ceil(hi)
    exponent = math.floor(math.log10(hi - lo)) - 2
    step = 10.0**exponent
    digits = max(0, -exponent)
    # the tolerance keeps float noise (0.8 + 0.06 = 0.8600000000000001) from adding a step
    lo_r = round(math.floor(lo / step + 1e-9) * step, digits)
    hi_r = round(math.ceil(hi / step - 1e-9) * step, digits)
    # rounding to `digits` can undo floor/ceil by one ulp; never cut into the observed range
    return min(lo_r, low), max(hi_r, high)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _slices(
    rules: dict[str, dict[str, Any]],
    profiles: dict[str, ColumnProfile],
    *,
    skip: set[str],
    limit: int,
) -> list[dict[str, str]]:
    """Return up to `limit` categorical columns with 2-10 levels, fewest levels first."""
    options = [
        (profiles[n].distinct, i, n)
        for i, (n, r) in enumerate(rules.items())
        if n not in skip and r["dtype"] == "category" and 2 <= profiles[n].distinct <= 10
    ]
    return [{"column": n} for _, _, n in sorted(options)[:limit]]
