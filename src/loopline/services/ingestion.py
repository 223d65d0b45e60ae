"""Ingestion: raw batches -> one canonical Parquet partition per batch file.

Batches come from the dataset's raw folder and from the feedback partitions that
`loopline feedback` publishes (served applications and their delayed labels). Only batches that
are new or changed (or all, when the config the stage declares or the reading code changed) are
processed. Used by the `ingest` DVC stage.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from loopline import ingest
from loopline import schemas as value_rules
from loopline.config import Config, DatasetConfig, SourceConfig, select
from loopline.feedback import BATCH_PREFIX, batch_key
from loopline.feedback import partitions as feedback_partitions
from loopline.io import batches, file_sha256, read_batch_file, write_table
from loopline.partitions import fingerprint, load_manifest, plan, remove_outputs, save_manifest
from loopline.schemas import TableSchema, labels_schema, table_schema
from loopline.services import ServiceError
from loopline.validate import check_required_columns

log = logging.getLogger(__name__)


def discover(raw_dir: Path, dataset: DatasetConfig) -> dict[str, tuple[str, str, SourceConfig]]:
    """Return every raw batch file as relative path -> (table, source name, source config)."""
    tables = {"applications": dataset.sources}
    if dataset.labels is not None:
        tables["labels"] = dataset.labels.sources
    found: dict[str, tuple[str, str, SourceConfig]] = {}
    for table, sources in tables.items():
        for key, source in sources.items():
            for path in sorted(raw_dir.glob(source.pattern)):
                if path.is_file():
                    found[path.relative_to(raw_dir).as_posix()] = (table, key, source)
    return found


FEEDBACK_SOURCE = SourceConfig(format="parquet")  # logged inputs as text, canonical names


def discover_feedback(feedback_dir: Path) -> dict[str, tuple[str, str, SourceConfig]]:
    """Return the feedback partitions' batch files as key -> (table, source, source config)."""
    found: dict[str, tuple[str, str, SourceConfig]] = {}
    for part in feedback_partitions(feedback_dir):
        for table in ("applications", "labels"):
            if (part / f"{table}.parquet").exists():
                found[batch_key(part, table)] = (table, "feedback", FEEDBACK_SOURCE)
    return found


def locate(key: str, raw_dir: Path, feedback_dir: Path) -> Path:
    """Return the file behind a batch key."""
    if key.startswith(BATCH_PREFIX):
        return feedback_dir / key[len(BATCH_PREFIX) :]
    return raw_dir / key


def arrival_order(inputs: dict[str, str], previous: dict[str, Any]) -> dict[str, int]:
    """Return each batch's arrival number: kept while its content is unchanged, else next.

    Duplicates across batches are decided by arrival (the earliest wins), never by file name:
    a re-sent copy named to sort first must not replace rows already validated and trained on.
    Batches that arrive together are numbered in name order.
    """
    known = {
        key: int(entry["arrived"])
        for key, entry in previous.items()
        if "arrived" in entry and inputs.get(key) == entry.get("input")
    }
    following = max([int(e.get("arrived", -1)) for e in previous.values()] + [-1]) + 1
    out: dict[str, int] = {}
    for key in sorted(inputs):
        if key in known:
            out[key] = known[key]
        else:
            out[key], following = following, following + 1
    return out


def schemas_for(dataset: DatasetConfig) -> dict[str, TableSchema]:
    """Return the schema of each table the dataset has."""
    out = {"applications": table_schema(dataset.schema_path)}
    if dataset.labels is not None:
        out["labels"] = labels_schema(dataset)
    return out


def ingest_batches(cfg: Config, params: tuple[str, ...]) -> None:
    """Ingest the raw and feedback batches that are new or changed (all of them when `params`
    or the reading code changed) into one canonical Parquet partition each."""
    raw_dir, out_dir = Path(cfg.paths.raw), Path(cfg.paths.ingested)
    if not raw_dir.is_dir():
        raise ServiceError(f"raw data folder {raw_dir} does not exist (dataset {cfg.dataset.name})")
    feedback_dir = Path(cfg.paths.feedback)
    files = discover(raw_dir, cfg.dataset)
    if cfg.dataset.labels is not None:
        files |= discover_feedback(feedback_dir)
    if not files:
        raise ServiceError(f"no batch files under {raw_dir} match dataset.sources patterns")
    schemas = schemas_for(cfg.dataset)
    # the reader's code too: how a file is split into values (e.g. stripped) shapes the output
    recipe = fingerprint(
        select(cfg, params),
        Path(cfg.dataset.schema_path),
        Path(ingest.__file__),
        Path(batches.__file__),
        Path(value_rules.__file__),  # what a number, a timestamp and a valid date are
    )
    inputs = {rel: file_sha256(locate(rel, raw_dir, feedback_dir)) for rel in files}
    manifest = load_manifest(out_dir)
    work = plan(inputs, manifest, recipe)
    partitions = {k: manifest["partitions"][k] for k in work.keep}
    for key in work.drop:
        remove_outputs(out_dir, manifest["partitions"][key])
    log.info(
        "%d batches: %d new or changed, %d current", len(files), len(work.todo), len(work.keep)
    )
    arrivals = arrival_order(inputs, manifest.get("partitions", {}))
    for key in work.keep:  # manifests from before arrivals were recorded
        partitions[key].setdefault("arrived", arrivals[key])
    for rel in tqdm(work.todo, desc="ingesting", unit="batch"):
        table, source_key, source = files[rel]
        raw = read_batch_file(locate(rel, raw_dir, feedback_dir), source)
        result = ingest.normalise(
            raw,
            schema=schemas[table],
            source=source,
            source_key=source_key,
            file_name=rel,
            na_values=cfg.dataset.na_values,
            period_regex=cfg.dataset.batch_period_regex,
        )
        if raw.columns:
            check_required_columns(result.missing_columns, file_name=rel, present=raw.columns)
        output = f"{table}/{rel.replace('/', '__')}.parquet"
        write_table(result.frame, out_dir / output)
        partitions[rel] = {
            "input": inputs[rel],
            "table": table,
            "outputs": [output],
            "rows": len(result.frame),
            "malformed": len(raw.malformed),
            "extra_columns": result.extra_columns,
            "arrived": arrivals[rel],
        }
    save_manifest(out_dir, recipe, partitions)
