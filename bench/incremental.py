"""`dvc repro` after one new feedback batch at 1,000,000 historical rows vs the full run.

In a fresh workspace (bench-only experiment: the `million` simulation, 24 months of history,
one more month held back as the future):

1. the full pipeline runs, stage by stage (`dvc repro -s <stage>` in DAG order, each timed, the
   peak RSS of its process tree, dvc and the stage's python, sampled: `bench.memory`);
2. XGBoost's training alone is timed in this process on the inputs the train stage read;
3. the held-back month is served by the champion (batch scoring, logged) and that month's
   label batch is fed back (`loopline feedback`'s code, then `dvc add` of the partition);
4. the pipeline runs again, stage by stage, measured the same way.

The goals (issue 12, all ratios of figures measured in this one run): the stages other than
training and evaluation take at most a fifth of their full-run time after the feedback batch;
the full pipeline (without `simulate`, the demo's data source, and `check_params`) takes at
most 2.5x XGBoost's training alone; no stage's process tree holds more than 1,000 MB
(10^6 bytes) at its peak. Per-stage figures show where the time and memory go.

    python -m bench.incremental [--rows 1000000] [--periods 24]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench.memory import run_sampled
from bench.rest import machine, machine_load, write_markdown
from loopline import workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "incremental.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
START, END = "<!-- incremental:start -->", "<!-- incremental:end -->"
GOAL = 0.2
EXCLUDED = ("train", "evaluate")  # their work is the model's, and scales with the history
TRAINING_GOAL = 2.5  # full pipeline / XGBoost training alone
NOT_PIPELINE = ("check_params", "simulate")  # the demo's data source, not a user's pipeline
MEMORY_GOAL_MB = 1000  # peak RSS of a stage's process tree, MB (10^6 bytes)


def stages() -> list[str]:
    """The stages in dvc.yaml order (which is a topological order of the DAG)."""
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def timed_repro(path: Path) -> dict[str, dict]:
    """Run each stage with `dvc repro -s` in order; return seconds, whether it ran and the
    peak RSS of its process tree (MB)."""
    out = {}
    for stage in stages():
        started = time.perf_counter()
        result, peak = run_sampled(("dvc", "repro", "-s", stage), cwd=path, env=workspace.env())
        seconds = time.perf_counter() - started
        ran = stage in workspace.ran_stages(result.stdout)
        out[stage] = {"seconds": round(seconds, 2), "ran": ran} | peak.as_dict()
        print(  # noqa: T201
            f"  {stage:<13} {'ran' if ran else 'skipped':<8} {seconds:6.1f} s "
            f"{peak.total_mb:7.0f} MB",
            flush=True,
        )
    return out


def train_alone(path: Path) -> dict:
    """Time XGBoost's training alone, in this process, on what the train stage trained on.

    The inputs are the train stage's own (`services.training.training_inputs`), read
    untimed; then the stage's `fit_xgboost` runs with the same config, from scratch as in the
    full run (no champion yet). The baseline, the imports and the writes are the stage's, not
    training's.
    """
    from loopline.config import load_config
    from loopline.io import read_json
    from loopline.io.artifacts import ModelDir
    from loopline.services.training import fit_xgboost, training_inputs

    cfg = load_config(path / "params.yaml")
    spec = ModelDir(path / cfg.paths.model_dir, cfg.artifacts).read_spec()
    with contextlib.chdir(path):  # the stage's relative paths, as `dvc repro` runs it
        inputs = training_inputs(cfg, spec)
    load = machine_load()
    started = time.perf_counter()
    _, summary = fit_xgboost(inputs, cfg)
    seconds = time.perf_counter() - started
    stage = read_json(path / cfg.paths.reports / "train.json")
    print(f"  XGBoost training alone: {seconds:.1f} s", flush=True)  # noqa: T201
    return {
        "seconds": round(seconds, 2),
        "load": [load, machine_load()],
        "train_rows": len(inputs.y["train"]),
        "rounds_trained": summary["rounds_trained"],
        "stage_rounds_trained": stage.get("rounds_trained"),
        "stage_warm_start": stage.get("warm_start"),
    }


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
    """Run the full pipeline, training alone, one feedback month and the pipeline again in a
    fresh workspace; return the figures."""
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
        alone = train_alone(path)
        fed = serve_and_feed_back(path)
        workspace.commit(path, "feedback")
        print("after one feedback batch:", flush=True)  # noqa: T201
        again = timed_repro(path)
        warm_start = yaml.safe_load((path / "params.yaml").read_text())["train"]["warm_start"]
    rest = [s for s in full if s not in EXCLUDED]
    full_rest = sum(full[s]["seconds"] for s in rest if full[s]["ran"])
    again_rest = sum(again[s]["seconds"] for s in rest)
    pipeline = sum(v["seconds"] for s, v in full.items() if s not in NOT_PIPELINE)
    everything = sum(v["seconds"] for v in full.values())
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
        "train_alone": alone,
        "pipeline_s": round(pipeline, 1),
        "pipeline_with_simulate_s": round(everything, 1),
        "training_ratio": pipeline / alone["seconds"],
        "training_ratio_with_simulate": everything / alone["seconds"],
        "peak": {"full": peak_of(full), "incremental": peak_of(again)},
    }


def peak_of(run: dict[str, dict]) -> dict:
    """Return the largest stage peak of a run's pipeline (process tree and single process, MB):
    the stages but `simulate` and `check_params`, as for the time (their peaks are in the
    stage table)."""
    run = {s: v for s, v in run.items() if s not in NOT_PIPELINE}
    tree = max(run, key=lambda s: run[s]["peak_mb"])
    single = max(run, key=lambda s: run[s]["largest_process_mb"])
    return {
        "peak_mb": run[tree]["peak_mb"],
        "stage": tree,
        "largest_process_mb": run[single]["largest_process_mb"],
        "largest_process_stage": single,
    }


def _status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(result: dict) -> str:
    """Return the incremental section of BENCHMARKS.md."""
    m = result["machine"]
    alone, peak = result["train_alone"], result["peak"]
    train_s = result["full"]["train"]["seconds"]
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
        "start-up). Memory is the peak resident set size of the stage's process tree (`dvc` "
        "and the stage's python, summed, sampled every 50 ms: `bench/memory.py`), in MB "
        "(10^6 bytes).",
        "",
        "| figure | measured | goal | |",
        "|---|---:|---:|---|",
        f"| full pipeline (all stages but `simulate` and `check_params`) / XGBoost training "
        f"alone | {result['training_ratio']:.2f}x ({result['pipeline_s']:.1f} s / "
        f"{alone['seconds']:.1f} s) | <= {TRAINING_GOAL}x | "
        f"{_status(result['training_ratio'] <= TRAINING_GOAL)} |",
        f"| peak memory of the full pipeline (largest stage but `simulate` and `check_params`, "
        "process tree) | "
        f"{peak['full']['peak_mb']:,.0f} MB (`{peak['full']['stage']}`) | "
        f"<= {MEMORY_GOAL_MB:,} MB | {_status(peak['full']['peak_mb'] <= MEMORY_GOAL_MB)} |",
        f"| stages other than train and evaluate, after one feedback batch / full run | "
        f"{result['ratio']:.2f} ({result['incremental_other_stages_s']:.1f} s / "
        f"{result['full_other_stages_s']:.1f} s) | <= {GOAL} | "
        f"{_status(result['ratio'] <= GOAL)} |",
        "",
        "| stage | full run (s) | peak (MB) | after one feedback batch (s) | peak (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, full in result["full"].items():
        again = result["incremental"][stage]
        mark = "" if again["ran"] else " (skipped)"
        lines.append(
            f"| {stage} | {full['seconds']:.1f} | {full['peak_mb']:,.0f} | "
            f"{again['seconds']:.1f}{mark} | {again['peak_mb']:,.0f} |"
        )
    lines += [
        "",
        "Full pipeline with `simulate` and `check_params`: "
        f"{result['pipeline_with_simulate_s']:.1f} s, "
        f"{result['training_ratio_with_simulate']:.2f}x training alone. Training alone is "
        "`services.training.fit_xgboost` in the benchmark's process on the train stage's "
        f"inputs (loaded beforehand, not timed; {alone['train_rows']:,} training rows, "
        f"{alone['rounds_trained']} rounds; the stage trained {alone['stage_rounds_trained']}, "
        f"warm start `{alone['stage_warm_start']}`): {alone['seconds']:.1f} s, against "
        f"{train_s:.1f} s for the whole train stage ({train_s / alone['seconds']:.2f}x: DVC, "
        "imports, reading, the baseline, writing).",
        "",
        f"`simulate`, the demo's data source (a user's data arrives as files instead), peaks at "
        f"{result['full']['simulate']['peak_mb']:,.0f} MB: it draws the whole history in memory "
        "at once. "
        f"Largest single process of the pipeline: {peak['full']['largest_process_mb']:,.0f} MB "
        f"(`{peak['full']['largest_process_stage']}`) in the full run, "
        f"{peak['incremental']['largest_process_mb']:,.0f} MB "
        f"(`{peak['incremental']['largest_process_stage']}`) after the feedback batch, whose "
        f"largest process tree peaks at {peak['incremental']['peak_mb']:,.0f} MB "
        f"(`{peak['incremental']['stage']}`).",
        "",
        f"Training: {train_s:.1f} s full, "
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
    """Run the benchmark and record it."""
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
