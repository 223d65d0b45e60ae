"""The batch benchmark: `loopline score` end to end vs raw XGBoost `inplace_predict`.

Both run in this process on the same rows: 1,000,000 simulated applications (with the
simulator's defects, so validation has real work), written once as a Parquet file of canonical
columns. End to end is `services.scoring.score_file` with the prediction log on (read, normalise,
validate, features, predict, policy, reason codes, write, log). Raw is `inplace_predict` on the
numpy model matrix of the same accepted rows, built beforehand and not timed.

    python -m bench.batch [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.rest import machine, machine_load, write_markdown
from loopline import simulate
from loopline.bundle import Bundle
from loopline.config import SimulateConfig, SourceConfig
from loopline.features import model_frame
from loopline.ingest import normalise
from loopline.io import SOURCE_ROW, RawBatch, write_table
from loopline.services.scoring import ScoringOptions, score_file
from loopline.validate import validate_batch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "batch.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
START, END = "<!-- batch:start -->", "<!-- batch:end -->"
GOAL = 0.5


def make_input(rows: int, path: Path, schema_columns: list[str]) -> None:
    """Write `rows` simulated applications (defects included) as canonical-column Parquet."""
    cfg = SimulateConfig(rows=rows, periods=24, seed=7, start="2024-01-01")
    clean = simulate.simulate_applications(cfg)
    dirty = simulate.inject_defects(clean, cfg.defect_rate, np.random.default_rng(7))
    frame = dirty[schema_columns].copy()
    frame["application_id"] = "S" + frame["application_id"].astype(str)
    write_table(frame.astype(str).where(frame.notna(), None), path)


def model_matrix(bundle: Bundle, source: Path, columns: list[str]) -> np.ndarray:
    """Return the numpy matrix the model sees for the accepted rows of the input file."""
    raw = pd.read_parquet(source)
    raw.insert(0, SOURCE_ROW, range(1, len(raw) + 1))
    batch = RawBatch(frame=raw, malformed=pd.DataFrame(), columns=columns)
    canonical = normalise(
        batch,
        schema=bundle.schema,
        source=SourceConfig(),
        source_key="bench",
        file_name=source.name,
        na_values=bundle.dataset.na_values,
    ).frame
    accepted = validate_batch(canonical, schema=bundle.schema).accepted
    return bundle._matrix(model_frame(bundle.features_frame(accepted), bundle.spec))


def run(rows: int) -> dict:
    """Time end-to-end scoring and raw prediction on the same rows; return the figures."""
    bundle = Bundle.load(ROOT / "models" / "loans")
    columns = [r.name for r in bundle.schema.columns]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        source = tmp_path / "applications.parquet"
        make_input(rows, source, columns)
        load_before = machine_load()
        started = time.perf_counter()
        summary = score_file(
            source,
            tmp_path / "scored.parquet",
            bundle=bundle,
            model_version="bench",
            options=ScoringOptions(log_dir=tmp_path / "log", progress=False),
        )
        end_to_end = time.perf_counter() - started
        scored = summary.scored
        # the raw comparison: the same accepted rows, as the model's numpy matrix (not timed)
        matrix = model_matrix(bundle, source, columns)
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            bundle.booster.inplace_predict(matrix)
            best = min(best, time.perf_counter() - t0)
        load_after = machine_load()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load": [load_before, load_after],
        "rows_in": summary.rows_read,
        "scored": scored,
        "quarantined": summary.quarantined,
        "logged": summary.logged,
        "end_to_end_s": end_to_end,
        "end_to_end_rows_per_s": scored / end_to_end,
        "raw_predict_s": best,
        "raw_rows_per_s": len(matrix) / best,
        "ratio": (scored / end_to_end) / (len(matrix) / best),
        "steps_s": {k: round(v, 2) for k, v in summary.timings.items()},
    }


def markdown(result: dict) -> str:
    """Return the batch section of BENCHMARKS.md."""
    m = result["machine"]
    status = "met" if result["ratio"] >= GOAL else "**missed**"
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result["steps_s"].items())
    return "\n".join(
        [
            START,
            "## Batch scoring",
            "",
            f"Run {result['date']} with `python -m bench.batch` (`make bench`). Machine: "
            f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']:.1f} GiB RAM; load average "
            f"{result['load'][0]:.2f} before, {result['load'][1]:.2f} after.",
            "",
            f"{result['rows_in']:,} simulated applications (Parquet, canonical columns, the "
            f"simulator's defects): {result['scored']:,} scored, {result['quarantined']:,} "
            f"quarantined, {result['logged']:,} logged.",
            "",
            "| path | seconds | scored rows/s |",
            "|---|---:|---:|",
            f"| `loopline score` end to end (log on) | {result['end_to_end_s']:.1f} | "
            f"{result['end_to_end_rows_per_s']:,.0f} |",
            f"| raw `inplace_predict` on the numpy model matrix, best of 3 | "
            f"{result['raw_predict_s']:.2f} | {result['raw_rows_per_s']:,.0f} |",
            "",
            f"Ratio end to end / raw: **{result['ratio']:.3f}** (goal >= {GOAL}): {status}.",
            "",
            f"Where the end-to-end time goes: {steps}.",
            "Raw numbers: `bench/results/batch.json`.",
            END,
            "",
        ]
    )


def main() -> None:
    """Run the benchmark and record it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    result = run(args.rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    write_markdown(markdown(result), MARKDOWN, start=START, end_marker=END)
    print(markdown(result))  # noqa: T201


if __name__ == "__main__":
    main()
