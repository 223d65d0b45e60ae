"""`loopline init-dataset`: onboard a user's file as a dataset (config + schema) for review.

The file's dialect is sniffed (compression by extension, format, encoding, delimiter, decimal
comma), the file is read the way ingest will read it (`loopline.io.read_batch_file` with the
`SourceConfig` written to the config), `loopline.infer` proposes schema and config, and two YAML
files are written for the user to review: `conf/dataset/NAME.yaml` and `conf/schemas/NAME.yaml`.
The file is copied into `data/raw/NAME/` (never moved or rewritten) and `data/feedback/NAME/` is
created, so that selecting the dataset and `dvc repro` need no edits.
"""

from __future__ import annotations

import codecs
import csv
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from loopline.config import SourceConfig
from loopline.infer import Inference, infer
from loopline.io import COMPRESSIONS, FORMATS, file_sha256, inner_name, open_binary, read_batch_file

SNIFF_BYTES = 1 << 20  # enough lines to judge the dialect, small enough to be instant
SNIFF_LINES = 200
DELIMITERS = ",;\t|"
ENCODINGS = ("utf-8", "cp1252", "latin-1")  # latin-1 decodes any byte: the last resort
SOURCE_KEY = "main"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COMMA_DECIMAL = re.compile(r"^[-+]?\d+,\d+$")
_DOT_DECIMAL = re.compile(r"^[-+]?\d+\.\d+$")
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")
# how a delimiter is spelt in the YAML (a bare tab is easy to lose in an editor)
_SPELLING = {"\t": "tab"}


class OnboardError(ValueError):
    """The file cannot be onboarded as asked; the message says what to change."""


@dataclass(frozen=True)
class Sniffed:
    """How a file is written, as far as its name and first megabyte tell."""

    pattern: str  # the glob under raw_dir that matches the file's kind of name
    format: str  # csv | jsonl | parquet
    compression: str | None
    encoding: str = "utf-8"
    delimiter: str = ","  # one character or "whitespace"
    decimal: str = "."
    fields: int = 0  # fields on the first line (csv)
    notes: tuple[str, ...] = ()


@dataclass
class Onboarded:
    """What `init_dataset` inferred and wrote."""

    name: str
    file: Path
    dataset_file: Path
    schema_file: Path
    raw_file: Path
    copied: bool
    feedback_dir: Path
    source: dict[str, Any]
    inference: Inference
    notes: list[str] = field(default_factory=list)
    next_commands: list[str] = field(default_factory=list)
    root: Path = Path()

    @property
    def written(self) -> list[Path]:
        """Return the files this run created (the raw copy only when it copied)."""
        files = [self.dataset_file, self.schema_file]
        return [*files, self.raw_file] if self.copied else files


def file_pattern(path: Path) -> str:
    """Return a glob for files named like this one: `adult.csv.gz` -> `*.csv.gz`."""
    kind = path.suffix.lower() if path.suffix.lower() in COMPRESSIONS else ""
    inner = inner_name(path).suffix
    if not re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,9}", inner):
        inner = ""  # "v1.2" is part of a name, not an extension
    if not inner and not kind:
        return glob_escape(path.name)
    return f"*{inner}{path.suffix if kind else ''}"


def glob_escape(name: str) -> str:
    """Return a file name as a glob that matches only it."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _head(path: Path) -> bytes:
    with open_binary(path) as handle:
        return handle.read(SNIFF_BYTES)


def _decode_head(head: bytes) -> tuple[str, str]:
    """Return (encoding, text) for a file's first bytes; a cut multi-byte character is dropped."""
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            return encoding, decoder.decode(head, final=False).removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte")  # pragma: no cover


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    if delimiter == "whitespace":
        return [len(line.split()) for line in lines]
    return [len(r) for r in csv.reader(lines, delimiter=delimiter, skipinitialspace=True)]


def sniff_delimiter(lines: list[str]) -> tuple[str, list[str]]:
    """Return the delimiter of CSV lines and notes: csv.Sniffer, checked by field counts.

    A delimiter is consistent when every line splits into the same number (> 1) of fields;
    among consistent ones the one giving most fields wins (";" over "," when a decimal comma
    also splits every line), csv.Sniffer breaking ties. Runs of spaces come last.
    """
    try:
        sniffed = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    consistent: dict[str, int] = {}
    for candidate in DELIMITERS:
        counts = set(_field_counts(lines, candidate))
        if len(counts) == 1 and (n := counts.pop()) > 1:
            consistent[candidate] = n
    if consistent:
        most = max(consistent.values())
        best = [d for d in consistent if consistent[d] == most]
        return (sniffed if sniffed in best else best[0]), []
    counts = set(_field_counts(lines, "whitespace"))
    if len(counts) == 1 and counts.pop() > 1:
        return "whitespace", []
    # no delimiter splits every line alike: the most regular one, and say so
    scores = {}
    for candidate in DELIMITERS:
        counts_list = _field_counts(lines, candidate)
        mode = max(set(counts_list), key=counts_list.count)
        if mode > 1:
            scores[candidate] = counts_list.count(mode) / len(counts_list)
    if not scores:
        return ",", ["one column only: no delimiter found (pass --delimiter if that is wrong)"]
    choice = sniffed if sniffed in scores else max(scores, key=lambda d: scores[d])
    share = scores[choice]
    return choice, [
        f"delimiter {choice!r}: only {share:.0%} of the first lines have the same number of "
        "fields; lines with another count will be quarantined (pass --delimiter to override)"
    ]


def sniff_decimal(rows: list[list[str]], delimiter: str) -> str:
    """Return "," when numbers are written like 12,5 (and none like 12.5), else "."."""
    if delimiter == ",":
        return "."
    comma = sum(bool(_COMMA_DECIMAL.match(v)) for row in rows for v in row)
    dot = sum(bool(_DOT_DECIMAL.match(v)) for row in rows for v in row)
    return "," if comma and not dot else "."


def sniff(path: Path, *, delimiter: str | None = None, header: bool = True) -> Sniffed:
    """Return the dialect of a data file from its name and first megabyte."""
    kind = COMPRESSIONS.get(path.suffix.lower())
    pattern = file_pattern(path)
    head = _head(path)
    fmt = FORMATS.get(inner_name(path).suffix.lower())
    if fmt is None:  # .data, .txt, no extension: look at the content
        fmt = "parquet" if head.startswith(b"PAR1") else None
    if fmt == "parquet":
        return Sniffed(pattern=pattern, format="parquet", compression=kind)
    encoding, text = _decode_head(head)
    notes = [] if encoding == "utf-8" else [f"not UTF-8: read as {encoding}"]
    lines = [line for line in text.splitlines() if line.strip()]
    if len(head) == SNIFF_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut off
    lines = lines[:SNIFF_LINES]
    if not lines:
        raise OnboardError(f"{path}: the file is empty")
    if fmt is None:
        fmt = "jsonl" if lines[0].lstrip().startswith("{") else "csv"
    if fmt == "jsonl":
        return Sniffed(pattern, fmt, kind, encoding, notes=tuple(notes))
    if delimiter is None:
        delimiter, more = sniff_delimiter(lines)
        notes += more
    else:
        # the config's spelling of a delimiter ("tab", "semicolon") as one character
        delimiter = SourceConfig(delimiter=delimiter).resolved_delimiter()
    if delimiter == "whitespace":
        rows = [line.split() for line in lines]
    else:
        rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=True))
    body = rows[1:] if header else rows
    decimal = sniff_decimal(body, delimiter)
    if decimal == ",":
        notes.append("numbers are written with a decimal comma (12,5)")
    if header and rows and any(_NUMBER.match(v.strip()) for v in rows[0]):
        notes.append(
            "warning: the first line holds numbers; if it is data, not column names, "
            "pass --no-header and --names"
        )
    return Sniffed(
        pattern, fmt, kind, encoding, delimiter, decimal, len(rows[0]) if rows else 0, tuple(notes)
    )


def init_dataset(
    file: Path,
    *,
    name: str,
    target: str,
    positive: Any,
    header: bool = True,
    names: list[str] | None = None,
    time: str | None = None,
    id: str | None = None,  # the CLI's --id (shadows the builtin here only)
    entity: str | None = None,
    root: Path,
    delimiter: str | None = None,
    sample_rows: int = 200_000,
    force: bool = False,
) -> Onboarded:
    """Infer and write conf/dataset/NAME.yaml and conf/schemas/NAME.yaml for a data file.

    `time`, `id`, `entity`: None = guess, "" = none. Existing files are kept unless `force`.
    The file is copied into data/raw/NAME/ unless it is already there.
    """
    file, root = Path(file), Path(root)
    if not _NAME.match(name):
        raise OnboardError(
            f"dataset name {name!r}: use lower-case letters, digits and _ "
            f"(e.g. {_suggest(name)!r}); it names folders and the config option"
        )
    if not file.is_file():
        raise OnboardError(f"{file}: no such file")
    if header and names:
        raise OnboardError("--names is for files without a header line: add --no-header")
    dataset_file = root / "conf" / "dataset" / f"{name}.yaml"
    schema_file = root / "conf" / "schemas" / f"{name}.yaml"
    existing = [p for p in (dataset_file, schema_file) if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p.relative_to(root)) for p in existing)
        raise OnboardError(f"{shown} already exist(s); pass --force to overwrite")
    raw_dir = root / "data" / "raw" / name
    raw_file, needs_copy, pattern_dir = _raw_target(file, raw_dir, force=force)

    dialect = sniff(file, delimiter=delimiter, header=header)
    notes = list(dialect.notes)
    if dialect.format != "csv" and not header:
        raise OnboardError(f"{file}: --no-header applies to CSV files; this is {dialect.format}")
    if not header and not names:
        names = [f"column_{i}" for i in range(1, dialect.fields + 1)]
        notes.append(f"no --names: columns named column_1 .. column_{dialect.fields}")
    pattern = f"{pattern_dir}/{dialect.pattern}" if pattern_dir else dialect.pattern
    source = _source(dialect, pattern=pattern, header=header, names=names or [])
    raw = read_batch_file(file, SourceConfig(**source))
    rows = len(raw.frame)
    if raw.malformed.shape[0]:
        notes.append(
            f"{len(raw.malformed)} malformed record(s) (e.g. {raw.malformed['reason'].iloc[0]}): "
            "they will be quarantined"
        )
    frame = raw.frame
    if rows > sample_rows:
        # a seeded sample: ranges and categories from rows spread over the whole file
        frame = frame.sample(n=sample_rows, random_state=0).sort_index()
        notes.append(f"inferred from a sample of {sample_rows:,} of {rows:,} rows")
    inference = infer(
        frame,
        target=target,
        positive=positive,
        id_column=id,
        time_column=time,
        entity_column=entity,
        decimal=dialect.decimal,
    )
    notes.extend(inference.notes)
    if inference.date_format:
        source["date_format"] = inference.date_format

    dataset = _dataset_mapping(name, inference, source)
    stamp = date.today().isoformat()
    dataset_file.parent.mkdir(parents=True, exist_ok=True)
    schema_file.parent.mkdir(parents=True, exist_ok=True)
    dataset_file.write_text(_dataset_header(file, stamp, rows, inference) + _dump(dataset))
    schema_file.write_text(_schema_header(file, stamp, rows) + _dump(inference.schema))

    copied = False
    if needs_copy:
        raw_dir.mkdir(parents=True, exist_ok=True)
        if not (raw_file.exists() and file_sha256(raw_file) == file_sha256(file)):
            shutil.copyfile(file, raw_file)
            copied = True
    others = sorted(
        p.name for p in raw_dir.glob(pattern) if p.is_file() and p.resolve() != raw_file
    )
    if others:
        notes.append(f"also matched by the pattern {pattern!r} in {raw_dir}: {others[:5]}")
    feedback_dir = root / "data" / "feedback" / name
    feedback_dir.mkdir(parents=True, exist_ok=True)
    (feedback_dir / ".gitkeep").touch()
    return Onboarded(
        name=name,
        file=file,
        dataset_file=dataset_file,
        schema_file=schema_file,
        raw_file=raw_file,
        copied=copied,
        feedback_dir=feedback_dir,
        source=source,
        inference=inference,
        notes=notes,
        next_commands=[f"loopline use {name}", "dvc repro"],
        root=root,
    )


def _suggest(name: str) -> str:
    suggestion = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    return suggestion if _NAME.match(suggestion) else f"d_{suggestion}".rstrip("_")


def _raw_target(file: Path, raw_dir: Path, *, force: bool) -> tuple[Path, bool, str]:
    """Return where the file lives under raw_dir, whether to copy it, and its sub-folder there."""
    resolved, folder = file.resolve(), raw_dir.resolve()
    if resolved.is_relative_to(folder):
        parent = resolved.parent.relative_to(folder).as_posix()
        return resolved, False, "" if parent == "." else parent
    target = folder / file.name
    if target.exists() and not force and file_sha256(target) != file_sha256(file):
        raise OnboardError(
            f"{target} exists and differs from {file}; rename the file or pass --force"
        )
    return target, True, ""


def _source(dialect: Sniffed, *, pattern: str, header: bool, names: list[str]) -> dict[str, Any]:
    """Return the source mapping as written to the config (and read with here)."""
    source: dict[str, Any] = {"pattern": pattern, "format": dialect.format}
    if dialect.format == "csv":
        source["delimiter"] = _SPELLING.get(dialect.delimiter, dialect.delimiter)
        source["header"] = header
        if not header:
            source["names"] = list(names)
        source["decimal"] = dialect.decimal
    source["encoding"] = dialect.encoding
    return source


def _dataset_mapping(name: str, inference: Inference, source: dict[str, Any]) -> dict[str, Any]:
    """Return conf/dataset/NAME.yaml's content, in DatasetConfig's order."""
    d = inference.dataset
    return {
        "name": name,
        "raw_dir": f"data/raw/{name}",
        "schema_path": f"conf/schemas/{name}.yaml",
        "id_column": d["id_column"],
        "entity_column": d["entity_column"],
        "time_column": d["time_column"],
        "target": d["target"],
        "positive_label": _escape(d["positive_label"]),
        "target_values": [_escape(v) for v in d["target_values"]],
        "amount_column": None,
        "na_values": [_escape(v) for v in d["na_values"]],
        "sources": {SOURCE_KEY: source},
        "batch_period_regex": None,
        "labels": None,
        "derived": {},
        "exclude_from_model": [],
        "slices": d["slices"],
        "reason_texts": {},
    }


def _escape(value: Any) -> Any:
    """Return a value OmegaConf reads back as written ("${" would start an interpolation)."""
    return value.replace("${", "\\${") if isinstance(value, str) else value


def _dump(mapping: dict[str, Any]) -> str:
    return yaml.safe_dump(
        mapping, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
    )


def _comment(lines: list[str]) -> str:
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


def _dataset_header(file: Path, stamp: str, rows: int, inference: Inference) -> str:
    review = [
        n for n in inference.notes if n.startswith(("guessed", "na marker", "target", "warning"))
    ]
    return _comment(
        [
            f"Inferred by `loopline init-dataset` from {file} ({rows:,} rows) on {stamp}.",
            "Review before training: the guesses below, the target and positive label, and",
            "the source's dialect. Fields: loopline.config.DatasetConfig; example: census.yaml.",
            *[f"  {n}" for n in review],
        ]
    )


def _schema_header(file: Path, stamp: str, rows: int) -> str:
    return _comment(
        [
            f"Inferred by `loopline init-dataset` from {file} ({rows:,} rows) on {stamp}.",
            "Review: min/max are the values seen widened by 10% of their range; categories",
            "list the values seen (unknown: accept counts new ones, quarantine rejects them).",
            "dtype: string | float | int | datetime | category (string columns are not inputs).",
        ]
    )


def format_report(result: Onboarded) -> list[str]:
    """Return the lines `loopline init-dataset` prints: what was inferred, written, and next."""
    root = result.root

    def shown(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            return str(path)

    source = result.source
    dialect = [f"format {source['format']}"]
    if "delimiter" in source:
        dialect.append(f"delimiter {source['delimiter']!r}")
        dialect.append("header" if source["header"] else "no header")
        if source["decimal"] != ".":
            dialect.append(f"decimal {source['decimal']!r}")
    dialect.append(f"encoding {source['encoding']}")
    lines = [
        f"Inferred from {result.file} ({result.inference.rows:,} rows; {', '.join(dialect)}):",
        *[f"  {note}" for note in result.notes],
        "Wrote (review before training):",
        f"  {shown(result.dataset_file)}",
        f"  {shown(result.schema_file)}",
    ]
    if result.copied:
        lines.append(f"  {shown(result.raw_file)} (a copy of {result.file})")
    else:
        lines.append(f"  {shown(result.raw_file)} (already in place, not copied)")
    lines.append(f"  {shown(result.feedback_dir)}/")
    lines.append("Next:")
    lines.extend(f"  {command}" for command in result.next_commands)
    return lines
