"""`dvc repro` after one new feedback batch at 1,000,000 historical rows vs the full run.

In a fresh workspace (bench-only experiment: the `million` simulation, 24 months of history,
one more month held back as the future):

1. the full pipeline runs, stage by stage (`dvc repro -s <stage>` in DAG order, each timed);
2. the held-back month is served by the champion (batch scoring, logged) and that month's
   label batch is fed back (`loopline feedback`'s code, then `dvc add` of the partition);
3. the pipeline runs again, stage by stage, timed the same way.

The goal: the stages other than training and evaluation take under a quarter of their
full-run time. Per-stage figures show where the time goes.

    python -m bench.incremental [--rows 1000000] [--periods 24]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench.rest import machine, machine_load, write_markdown
from loopline import workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "incremental.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
START, END = "<!-- incremental:start -->", "<!-- incremental:end -->"
GOAL = 0.25
EXCLUDED = ("train", "evaluate")  # their work is the model's, and scales with the history


def stages() -> list[str]:
    """The stages in dvc.yaml order (which is a topological order of the DAG)."""
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def timed_repro(path: Path) -> dict[str, dict]:
    """Run each stage with `dvc repro -s` in order; return seconds and whether it ran."""
    out = {}
    for stage in stages():
        started = time.perf_counter()
        result = workspace.run(path, "dvc", "repro", "-s", stage)
        seconds = time.perf_counter() - started
        ran = stage in workspace.ran_stages(result.stdout)
        out[stage] = {"seconds": round(seconds, 2), "ran": ran}
        print(f"  {stage:<13} {'ran' if ran else 'skipped':<8} {seconds:6.1f} s", flush=True)  # noqa: T201
    return out


def serve_and_feed_back(path: Path) -> dict:
    """Serve the held-back month with the champion and feed back its label batch."""
    import mlflow

    from loopline import feedback, simulate
    from loopline.config import load_config
    from loopline.io import registry, write_table
    from loopline.io.predlog import read_log
    from loopline.schemas import table_schema
    from loopline.services.scoring import ScoringOptions, score_file

    cfg = load_config(path / "params.yaml")
    mlflow.set_tracking_uri(f"sqlite:///{path / 'mlflow.db'}")
    found = registry.resolve(
        "champion", dataset=cfg.dataset.name, cache_dir=path / ".loopline" / "models"
    )
    from loopline.bundle import Bundle

    bundle = Bundle.load(found.path)
    _, future = simulate.release(simulate.simulate(cfg.simulate), cfg.simulate)
    month = future[min(future)]
    served = 0
    log_dir = path / cfg.paths.predictions
    started = time.perf_counter()
    for relative, frame in sorted(month.items()):
        target = path / "data" / "incoming" / relative
        write_table(frame, target)
        if relative.startswith("applications/"):
            source = relative.rsplit("_", 1)[-1].split(".")[0]
            summary = score_file(
                target,
                path / "data" / "scored" / f"{target.stem}.parquet",
                bundle=bundle,
                model_version=str(found.version),
                options=ScoringOptions(
                    source_key=source,
                    source=cfg.dataset.sources[source],
                    log_dir=log_dir,
                    progress=False,
                ),
            )
            served += summary.scored
    serve_seconds = time.perf_counter() - started
    labels = [path / "data" / "incoming" / r for r in month if r.startswith("labels/")]
    started = time.perf_counter()
    report = {}
    for label_file in labels:
        result = feedback.ingest_feedback(
            label_file,
            dataset=cfg.dataset,
            log=read_log(log_dir).frame,
            root=path / cfg.paths.feedback,
            schema_columns=table_schema(path / cfg.dataset.schema_path).names,
            history=feedback.history_times(path / cfg.paths.validated, cfg.dataset),
        )
        workspace.run(path, "dvc", "add", str(result.partition.relative_to(path)))
        report = result.report
    return {
        "served": served,
        "serve_seconds": round(serve_seconds, 1),
        "labels_kept": report.get("kept"),
        "applications_fed_back": report.get("applications"),
        "feedback_seconds": round(time.perf_counter() - started, 1),
    }


def run(rows: int, periods: int) -> dict:
    load_before = machine_load()
    with tempfile.TemporaryDirectory(prefix="loopline-incremental-") as tmp:
        path = Path(tmp)
        workspace.copy_project(ROOT, path)
        workspace.init_git(path)
        experiment = {
            "simulate": {
                "rows": round(rows * (periods + 1) / periods),
                "periods": periods + 1,
                "release_until": periods,
            }
        }
        (path / "conf" / "experiment" / "bench_incremental.yaml").write_text(
            "# @package _global_\n" + yaml.safe_dump(experiment)
        )
        workspace.set_defaults(path, experiment="bench_incremental")
        workspace.run(path, "loopline", "params")
        workspace.commit(path, "bench")
        print("full run:", flush=True)  # noqa: T201
        full = timed_repro(path)
        workspace.commit(path, "full run")
        fed = serve_and_feed_back(path)
        workspace.commit(path, "feedback")
        print("after one feedback batch:", flush=True)  # noqa: T201
        again = timed_repro(path)
        warm_start = yaml.safe_load((path / "params.yaml").read_text())["train"]["warm_start"]
    rest = [s for s in full if s not in EXCLUDED]
    full_rest = sum(full[s]["seconds"] for s in rest if full[s]["ran"])
    again_rest = sum(again[s]["seconds"] for s in rest)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load": [load_before, machine_load()],
        "rows": rows,
        "periods": periods,
        "feedback": fed,
        "full": full,
        "incremental": again,
        "full_other_stages_s": round(full_rest, 1),
        "incremental_other_stages_s": round(again_rest, 1),
        "ratio": again_rest / full_rest,
        "warm_start": warm_start,
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    status = "met" if result["ratio"] < GOAL else "**missed**"
    lines = [
        START,
        "## Retraining after one feedback batch (`dvc repro`, incremental)",
        "",
        f"Run {result['date']} with `python -m bench.incremental` (`make bench`). Machine: "
        f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']:.1f} GiB RAM; load average "
        f"{result['load'][0]:.2f} before, {result['load'][1]:.2f} after.",
        "",
        f"History: {result['rows']:,} simulated applications over {result['periods']} months. "
        f"Then one month is served by the champion ({result['feedback']['served']:,} scored "
        f"and logged) and its label batch fed back ({result['feedback']['labels_kept']:,} "
        f"labels kept, {result['feedback']['applications_fed_back']:,} served applications "
        "carried), and `dvc repro` runs again. Each stage is run and timed on its own "
        "(`dvc repro -s STAGE` in DAG order, so each figure includes about 1 s of DVC's own "
        "start-up).",
        "",
        "| stage | full run (s) | after one feedback batch (s) |",
        "|---|---:|---:|",
    ]
    for stage, full in result["full"].items():
        again = result["incremental"][stage]
        mark = "" if again["ran"] else " (skipped)"
        lines.append(f"| {stage} | {full['seconds']:.1f} | {again['seconds']:.1f}{mark} |")
    lines += [
        "",
        f"Stages other than train and evaluate: {result['full_other_stages_s']:.1f} s in the "
        f"full run, {result['incremental_other_stages_s']:.1f} s after the feedback batch: "
        f"ratio **{result['ratio']:.2f}** (goal < {GOAL}): {status}.",
        "",
        f"Training: {result['full']['train']['seconds']:.1f} s full, "
        f"{result['incremental']['train']['seconds']:.1f} s retraining; retraining starts "
        f"`{result['warm_start']}` (`train.warm_start`: `scratch` fits a new model on the whole "
        "history, `champion` continues boosting from the champion's trees when the features "
        "are unchanged).",
        "Raw numbers: `bench/results/incremental.json`.",
        END,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=24)
    args = parser.parse_args()
    result = run(args.rows, args.periods)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    write_markdown(markdown(result), MARKDOWN, start=START, end_marker=END)
    print(markdown(result))  # noqa: T201


if __name__ == "__main__":
    main()
