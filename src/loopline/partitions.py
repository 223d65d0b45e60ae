"""Incremental, per-batch work: redo a partition only when its input or the recipe changed.

A stage that processes batches keeps a manifest beside its (DVC `persist: true`) outputs:
for each input partition, the input's hash, the recipe fingerprint (config + code) it was
made with, and the output files. A new batch costs only its own work; a change of config or
code redoes everything, and outputs whose input disappeared are removed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopline.io import read_json, write_json

MANIFEST = "_manifest.json"


def fingerprint(*parts: Any) -> str:
    """Return a stable hash of config slices, file contents or code that shape an output."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(part.read_bytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass
class Plan:
    todo: list[str]  # partition keys to (re)build, in sorted order
    keep: list[str]  # partition keys whose outputs are current
    drop: list[str]  # partition keys whose input is gone


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """Return a stage's manifest, or an empty one."""
    path = out_dir / MANIFEST
    return read_json(path) if path.exists() else {"fingerprint": None, "partitions": {}}


def plan(inputs: dict[str, str], manifest: dict[str, Any], recipe: str) -> Plan:
    """Return which partitions to build, keep or drop given input hashes and the recipe."""
    done = manifest.get("partitions", {}) if manifest.get("fingerprint") == recipe else {}
    todo, keep = [], []
    for key in sorted(inputs):
        entry = done.get(key)
        (keep if entry and entry.get("input") == inputs[key] else todo).append(key)
    drop = sorted(set(manifest.get("partitions", {})) - set(inputs))
    return Plan(todo=todo, keep=keep, drop=drop)


def save_manifest(out_dir: Path, recipe: str, partitions: dict[str, Any]) -> None:
    """Write the manifest for the partitions now present in out_dir."""
    write_json(
        {"fingerprint": recipe, "partitions": dict(sorted(partitions.items()))}, out_dir / MANIFEST
    )


def remove_outputs(out_dir: Path, entry: dict[str, Any]) -> None:
    """Delete the files a manifest entry says a partition produced."""
    for name in entry.get("outputs", []):
        (out_dir / name).unlink(missing_ok=True)
