"""Evidently's side of `bench.drift`; runs ONLY inside `.venv-evidently` (Evidently 0.7, pandas 2).

    .venv-evidently/bin/python -I bench/evidently_drift.py REFERENCE.parquet WINDOW.parquet \\
        --numeric income,age,... --categorical region,... [--runs 2]

Reads both tables into memory (not timed), wraps them in Evidently `Dataset`s with every column's
type declared (numerical or categorical, so Evidently compares the same kinds as loopline; the
wrap is timed apart, as `dataset_s`), then times `Report([DataDriftPreset()]).run(...)` (with
`include_tests=True`, so that the drift verdict per column is Evidently's own test status) and
prints one JSON line: seconds (best run), runs_s, drifted_columns, per-column method, score,
threshold and verdict, and memory: peak_rss_mb (the process's peak resident set during the
runs, loaded tables included) and rss_increase_mb (the most the peak rose above the resident set
just before a run; Linux `/proc/self/clear_refs` resets the peak before each run).

This file imports nothing from loopline: the project's venv has pandas 3, which Evidently 0.7
does not import with.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from importlib.metadata import version
from pathlib import Path


def memory_mib() -> dict[str, float]:
    """Return the resident set and its peak (high-water mark), MiB."""
    text = Path("/proc/self/status").read_text()
    out = {}
    for key in ("VmRSS", "VmHWM"):
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        out[key] = int(match.group(1)) / 1024 if match else float("nan")
    return out


def reset_peak() -> bool:
    """Reset the peak resident set to the current one (Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference")
    parser.add_argument("window")
    parser.add_argument("--numeric", required=True, help="comma-separated numerical columns")
    parser.add_argument("--categorical", required=True, help="comma-separated categorical columns")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    numeric = [c for c in args.numeric.split(",") if c]
    categorical = [c for c in args.categorical.split(",") if c]

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = numeric + categorical
    reference = pd.read_parquet(args.reference, columns=columns)
    window = pd.read_parquet(args.window, columns=columns)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

    runs, wraps, peaks, increases = [], [], [], []
    snapshot = None
    for _ in range(args.runs):
        started = time.perf_counter()
        reference_ds = Dataset.from_pandas(reference, data_definition=definition)
        window_ds = Dataset.from_pandas(window, data_definition=definition)
        wraps.append(time.perf_counter() - started)
        report = Report([DataDriftPreset()], include_tests=True)
        peak_ok = reset_peak()
        before = memory_mib()["VmRSS"]
        started = time.perf_counter()
        snapshot = report.run(current_data=window_ds, reference_data=reference_ds)
        runs.append(time.perf_counter() - started)
        peaks.append(memory_mib()["VmHWM"])
        if peak_ok:
            increases.append(peaks[-1] - before)
        del reference_ds, window_ds, report

    result = snapshot.dict()
    by_id: dict[str, str] = {}
    per_column: dict[str, dict] = {}
    drifted_count = None
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("ValueDrift"):
            by_id[metric["id"]] = config["column"]
            per_column[config["column"]] = {
                "method": config.get("method"),
                "threshold": config.get("threshold"),
                "score": float(metric["value"]),
                "drifted": None,
            }
        elif kind.endswith("DriftedColumnsCount"):
            drifted_count = metric["value"]
    for test in result["tests"]:
        column = by_id.get(test.get("metric_config", {}).get("metric_id"))
        if column is not None:
            per_column[column]["drifted"] = str(test["status"]).upper().endswith("FAIL")
    missing = [c for c in columns if c not in per_column or per_column[c]["drifted"] is None]
    if missing:
        raise SystemExit(f"no ValueDrift verdict for {missing}: {json.dumps(result)[:2000]}")

    out = {
        "seconds": min(runs),
        "runs_s": runs,
        "dataset_s": min(wraps),
        "rows": {"reference": len(reference), "window": len(window)},
        "drifted_columns": [c for c in columns if per_column[c]["drifted"]],
        "drifted_count": drifted_count,
        "columns": per_column,
        "peak_rss_mb": max(peaks),
        "rss_increase_mb": max(increases) if increases else None,
        "versions": {p: version(p) for p in ("evidently", "pandas", "numpy", "scipy", "pyarrow")},
        "python": platform.python_version(),
    }
    print(json.dumps(out))  # noqa: T201


if __name__ == "__main__":
    main()
