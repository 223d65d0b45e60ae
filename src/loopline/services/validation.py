"""Validation: each ingested partition -> accepted rows + quarantined rows with reasons.

Only new or changed partitions are validated, in order of arrival; ids seen in earlier batches
count as duplicates (the earliest arrival wins, whatever the file names). The summary counts per
batch and per rule (accepted + quarantined = rows in). Used by the `validate` DVC stage.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm

from loopline import schemas as value_rules
from loopline import validate
from loopline.config import Config, select
from loopline.io import file_sha256, read_json, read_table, write_table
from loopline.partitions import (
    MANIFEST,
    fingerprint,
    load_manifest,
    plan,
    remove_outputs,
    save_manifest,
)
from loopline.services.ingestion import schemas_for

log = logging.getLogger(__name__)


def validate_partitions(cfg: Config, params: tuple[str, ...]) -> dict:
    """Validate the ingested partitions that are new or changed, in order of arrival; return
    the summary (reports/<dataset>/validation.json)."""
    in_dir = Path(cfg.paths.ingested)
    ok_dir, bad_dir = Path(cfg.paths.validated), Path(cfg.paths.quarantine)
    ingested = read_json(in_dir / MANIFEST)["partitions"]
    schemas = schemas_for(cfg.dataset)
    recipe = fingerprint(
        select(cfg, params),
        Path(cfg.dataset.schema_path),
        Path(validate.__file__),
        Path(value_rules.__file__),  # the in_future rule, the pandera checks
    )
    inputs = {key: file_sha256(in_dir / e["outputs"][0]) for key, e in ingested.items()}
    # batches in order of arrival (the earliest copy of an id wins, whatever the file names);
    # an application batch's duplicate check depends on every earlier one: chain their hashes
    order = sorted(inputs, key=lambda k: (int(ingested[k].get("arrived", 0)), k))
    chained, previous = dict(inputs), ""
    for key in (k for k in order if ingested[k]["table"] == "applications"):
        previous = chained[key] = fingerprint(previous, inputs[key])
    manifest = load_manifest(ok_dir)
    work = plan(chained, manifest, recipe)
    partitions = {k: manifest["partitions"][k] for k in work.keep}
    for key in work.drop:
        entry = manifest["partitions"][key]
        remove_outputs(ok_dir, entry)
        remove_outputs(bad_dir, {"outputs": entry.get("quarantine", [])})
    todo = set(work.todo)
    log.info(
        "%d batches: %d new or changed, %d current", len(inputs), len(work.todo), len(work.keep)
    )
    seen = validate.SeenIds()
    id_column = cfg.dataset.id_column
    for key in tqdm(order, desc="validating", unit="batch"):
        table = ingested[key]["table"]
        output = ingested[key]["outputs"][0]
        if key not in todo:
            if table == "applications" and id_column:
                seen.add(read_table(ok_dir / output, columns=[id_column])[id_column])
            continue
        frame = read_table(in_dir / output)
        time_column = (
            cfg.dataset.time_column if table == "applications" else cfg.dataset.labels.observed_at
        )
        result = validate.validate_batch(
            frame,
            schema=schemas[table],
            # labels repeated for one id are judged by the split (duplicate or conflict)
            id_column=id_column if table == "applications" else None,
            time_column=time_column,
            seen_ids=seen if table == "applications" else None,
        )
        copies = result.quarantined.get(validate.REASONS)
        label = f"{id_column}:duplicate_of_earlier_batch"
        resent = 0 if copies is None else int(copies.str.contains(label, regex=False).sum())
        validate.check_quarantine_rate(
            result.report, file_name=key, ceiling=cfg.validate.max_quarantine_rate, resent=resent
        )
        write_table(result.accepted, ok_dir / output)
        write_table(result.quarantined, bad_dir / output)
        if table == "applications" and id_column:
            seen.add(result.accepted[id_column])
        partitions[key] = {
            "input": chained[key],
            "table": table,
            "outputs": [output],
            "quarantine": [output],
            "report": result.report,
        }
    save_manifest(ok_dir, recipe, partitions)
    return validate.summarise(partitions, ingested)
