"""dvc.yaml re-runs a stage when its code changes: each stage's deps list every loopline module
its entry point imports, directly or through other modules, inside functions too (issue 10)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """Return the file of a dotted loopline module (a package's __init__.py), else None."""
    base = SRC.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """Return the loopline modules a file imports anywhere (top level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "loopline"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "loopline":
                continue
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
    return found


def closure(module: str) -> set[Path]:
    """Return the files of a module and of everything it imports, transitively (with parents)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
            parent = ".".join(parts[:i])
            if parent in seen or module_file(parent) is None:
                continue
            seen.add(parent)
            todo.extend(imported_modules(module_file(parent), parent))
    return {module_file(m).relative_to(ROOT) for m in seen}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_hold_its_whole_import_closure(stage: str) -> None:
    spec = stages()[stage]
    entry = re.search(r"python -m (loopline\.stages\.\w+)", spec["cmd"]).group(1)
    needed = {str(p) for p in closure(entry)}
    declared = {str(d) for d in spec.get("deps", [])}
    missing = sorted(needed - declared)
    assert not missing, f"stage {stage}: add to its deps in dvc.yaml: {missing}"
    stale = sorted(d for d in declared if d.startswith("src/") and d not in needed)
    assert not stale, f"stage {stage}: deps that its code never imports: {stale}"


def test_closure_follows_imports_inside_functions() -> None:
    """A sanity check of the walker itself: imports in a function body count."""
    files = {str(p) for p in closure("loopline.stages.track")}
    assert "src/loopline/tracking.py" in files
    assert "src/loopline/serving/mlflow_model.py" in files  # imported inside log_bundle
    assert "src/loopline/serving/__init__.py" in files  # the package runs first


PARTITIONED = ("ingest", "validate")  # stages whose partition fingerprint holds config


@pytest.mark.parametrize("stage", PARTITIONED)
def test_fingerprinted_config_is_exactly_what_dvc_yaml_declares(stage: str) -> None:
    """A partition is rebuilt when its fingerprinted config changes; `dvc repro` re-runs the
    stage when its declared params change. The two lists must be one: a key fingerprinted but
    not declared would never re-run the stage, one declared but not fingerprinted would re-run
    it and keep stale partitions."""
    import importlib

    module = importlib.import_module(f"loopline.stages.{stage}")
    declared = [p for p in stages()[stage].get("params", []) if isinstance(p, str)]
    assert sorted(declared) == sorted(module.PARAMS)


def test_fingerprint_ignores_config_the_stage_does_not_read() -> None:
    from dataclasses import replace

    from loopline.config import Config, select
    from loopline.stages import ingest

    cfg = Config()
    other = replace(cfg, dataset=replace(cfg.dataset, reason_texts={"x": "changed"}))
    assert select(cfg, ingest.PARAMS) == select(other, ingest.PARAMS)
    moved = replace(cfg, dataset=replace(cfg.dataset, na_values=["?", "n/a"]))
    assert select(cfg, ingest.PARAMS) != select(moved, ingest.PARAMS)
