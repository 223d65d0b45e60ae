"""The batch benchmark: `loopline score` end to end vs raw XGBoost `inplace_predict`.

Both run in this process on the same rows: 1,000,000 simulated applications (with the
simulator's defects, so validation has real work), written once as a Parquet file of canonical
columns. End to end is `services.scoring.score_file` with the prediction log on (read, normalise,
validate, features, predict, policy, reason codes, write, log). Raw is `inplace_predict` on the
numpy model matrix of the same accepted rows, built beforehand and not timed.

Then memory: `loopline score` runs as a command (log on) on that file and on a file of
`--memory-rows` rows (default 10,000,000) made by repeating it, each copy's application ids
suffixed with the copy's number (nothing else changes: repeated customers' history keeps
growing), written one copy at a time; the peak RSS of the command's process tree is sampled
(`bench.memory`). Chunked scoring should hold about as much for the big file as for the small
one, and at most 1,500 MB (10^6 bytes).

    python -m bench.batch [--rows 1000000] [--memory-rows 10000000] [--model models/loans]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.memory import run_sampled
from bench.rest import machine, machine_load, write_markdown
from loopline import simulate, workspace
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
GOAL = 0.2
MEMORY_GOAL_MB = 1500  # peak RSS of `loopline score`'s process tree, MB (10^6 bytes)
FLAT = 1.25  # flat: the big file's peak is within this factor of the small file's


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


def repeat_file(source: Path, rows: int, target: Path, id_column: str) -> int:
    """Write `rows` rows to `target` by repeating the Parquet file `source`, each copy's ids
    suffixed with `-<copy number>`; one copy in memory at a time. Return the number of copies."""
    base = pq.read_table(source)
    index = base.schema.get_field_index(id_column)
    text = base.schema.field(index).type  # string or large_string: the join wants them alike
    written = copies = 0
    with pq.ParquetWriter(target, base.schema) as writer:
        while written < rows:
            part = base.slice(0, rows - written)
            suffix, empty = pa.scalar(f"-{copies}", text), pa.scalar("", text)
            ids = pc.binary_join_element_wise(part[id_column], suffix, empty)
            writer.write_table(part.set_column(index, id_column, ids))
            written += len(part)
            copies += 1
    return copies


def score_memory(model_dir: Path, source: Path, work: Path) -> dict:
    """Run `loopline score` on a file as a command (log on) and sample its process tree's peak
    RSS; return rows, seconds and the peaks. Its outputs are deleted afterwards."""
    out = work / f"memory-{source.stem}"
    out.mkdir()
    started = time.perf_counter()
    result, peak = run_sampled(
        (
            workspace.tool("loopline"),
            "score",
            str(source),
            str(out / "scored.parquet"),
            f"--model={model_dir}",
            f"--log-dir={out / 'log'}",
            "--no-progress",
        ),
        cwd=ROOT,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: some rows quarantined, as the simulator wants
        raise RuntimeError(f"`loopline score` exited {result.returncode}\n{result.stderr[-3000:]}")
    scored = pq.ParquetFile(out / "scored.parquet").metadata.num_rows
    shutil.rmtree(out)
    return {
        "rows_in": pq.ParquetFile(source).metadata.num_rows,
        "scored": scored,
        "seconds": round(seconds, 2),
        "rows_per_s": scored / seconds,
    } | peak.as_dict()


def memory(model_dir: Path, source: Path, rows: int, id_column: str, work: Path) -> dict:
    """Peak memory of `loopline score` on `source` and on `rows` rows repeating it."""
    print(f"memory: scoring {source.name} as a command", flush=True)  # noqa: T201
    small = score_memory(model_dir, source, work)
    big = work / "applications-repeated.parquet"
    copies = repeat_file(source, rows, big, id_column)
    print(f"memory: scoring {rows:,} rows ({copies} copies)", flush=True)  # noqa: T201
    large = score_memory(model_dir, big, work)
    big.unlink()
    growth = large["peak_mb"] / small["peak_mb"]
    return {
        "small": small,
        "large": large,
        "copies": copies,
        "growth": growth,
        "flat": growth <= FLAT,
        "met": growth <= FLAT and large["peak_mb"] <= MEMORY_GOAL_MB,
    }


def run(rows: int, memory_rows: int, model_dir: Path) -> dict:
    """Time end-to-end scoring and raw prediction on the same rows, then measure the memory of
    `loopline score` on that file and on `memory_rows` rows (0: skipped); return the figures."""
    bundle = Bundle.load(model_dir)
    columns = [r.name for r in bundle.schema.columns]
    with tempfile.TemporaryDirectory(prefix="loopline-batch-") as tmp:
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
        matrix_rows = len(matrix)
        del matrix
        peaks = (
            memory(model_dir, source, memory_rows, bundle.dataset.id_column, tmp_path)
            if memory_rows
            else None
        )
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
        "raw_rows_per_s": matrix_rows / best,
        "ratio": (scored / end_to_end) / (matrix_rows / best),
        "steps_s": {k: round(v, 2) for k, v in summary.timings.items()},
        "memory": peaks,
    }


def memory_lines(peaks: dict | None) -> list[str]:
    """Return the memory part of the batch section (nothing when it was skipped)."""
    if peaks is None:
        return []
    small, large = peaks["small"], peaks["large"]
    status = "met" if peaks["met"] else "**missed**"
    flat = "flat" if peaks["flat"] else "**not flat**"
    rows = [
        ("the file above", small),
        (f"the file above repeated, {peaks['copies']} copies, ids suffixed per copy", large),
    ]
    return [
        "",
        "Memory of `loopline score` run as a command (log on, its default chunk size): the "
        "peak resident set size of its process tree, sampled every 50 ms (`bench/memory.py`), "
        "in MB (10^6 bytes).",
        "",
        "| input | rows | scored | seconds | scored rows/s | peak (MB) |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {r['rows_in']:,} | {r['scored']:,} | {r['seconds']:.1f} | "
            f"{r['rows_per_s']:,.0f} | {r['peak_mb']:,.0f} |"
            for name, r in rows
        ),
        "",
        f"Peak at {large['rows_in']:,} rows / peak at {small['rows_in']:,}: "
        f"**{peaks['growth']:.2f}** ({flat}: within {FLAT}x); {large['peak_mb']:,.0f} MB "
        f"(goal <= {MEMORY_GOAL_MB:,} MB and flat): {status}. Largest single process: "
        f"{small['largest_process_mb']:,.0f} MB and {large['largest_process_mb']:,.0f} MB.",
    ]


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
            *memory_lines(result.get("memory")),
            "",
            "Raw numbers: `bench/results/batch.json`.",
            END,
            "",
        ]
    )


def main() -> None:
    """Run the benchmark and record it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=10_000_000,
        help="rows of the repeated file `loopline score`'s memory is measured on (0: skip)",
    )
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "loans", help="the bundle folder"
    )
    args = parser.parse_args()
    if 0 < args.memory_rows < args.rows:
        parser.error("--memory-rows must be 0 or at least --rows")
    result = run(args.rows, args.memory_rows, args.model.resolve())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    write_markdown(markdown(result), MARKDOWN, start=START, end_marker=END)
    print(markdown(result))  # noqa: T201


if __name__ == "__main__":
    main()
