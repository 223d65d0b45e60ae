"""The `loopline` command. Heavy libraries (xgboost, mlflow) are imported only where needed."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Loopline: production ML for tabular data. The pipeline itself runs with `dvc repro`.",
)


def main() -> None:
    """Entry point of the `loopline` console script."""
    app()


DatasetOption = Annotated[
    Optional[str],
    typer.Option(help="Dataset in conf/dataset/ (default: the active one, `loopline use`)"),
]


LogDirOption = Annotated[
    Optional[Path],
    typer.Option(help="Prediction log folder (default: data/predictions/<dataset>)"),
]


def _log_dir(log_dir: Path | None, dataset: str) -> Path:
    """Return the prediction log folder: the one given, else the dataset's (paths.predictions)."""
    if log_dir is not None:
        return log_dir
    try:
        return Path(_config([f"dataset={dataset}"]).paths.predictions)
    except FileNotFoundError:  # outside a Loopline repository (a bundle folder scored anywhere)
        return Path("data/predictions") / dataset


def _feedback_dir(dataset: str) -> Path | None:
    """Return the dataset's feedback partitions folder (paths.feedback), None outside a repo."""
    try:
        return Path(_config([f"dataset={dataset}"]).paths.feedback)
    except FileNotFoundError:
        return None


def _dataset(name: str | None) -> str:
    """Return the dataset a command works on: the one named, else the active dataset."""
    from loopline.params import active_dataset

    return name or active_dataset()


def _config(overrides: list[str]) -> Any:
    from loopline.config import to_config
    from loopline.params import compose

    return to_config(compose(overrides))


@app.command()
def params(
    overrides: Annotated[
        Optional[list[str]],
        typer.Argument(help="Config group choices to keep, e.g. dataset=census experiment=tiny"),
    ] = None,
    check: Annotated[bool, typer.Option(help="Only report whether params.yaml is stale")] = False,
) -> None:
    """Compose conf/ into params.yaml (exactly as `dvc exp run` does) and check it.

    `group=option` (dataset, experiment, model, ...) is written into conf/config.yaml's defaults
    list first, so the choice lasts: later conf/ edits, `dvc repro` and `dvc exp run` follow it.
    """
    from loopline.params import params_drift

    if check:
        drift = params_drift()
        if drift:
            typer.echo(f"params.yaml is stale at: {', '.join(drift)}; run `loopline params`")
            raise typer.Exit(1)
        typer.echo("params.yaml matches conf/")
        return
    _compose_params(overrides or [])


def _compose_params(overrides: list[str]) -> Any:
    """Apply group choices to conf/config.yaml, write params.yaml, check it; return Config."""
    from loopline.params import (
        ConfigError,
        check_config,
        check_group_option,
        compose,
        set_group,
        split_overrides,
        write_params,
    )

    groups, rest = split_overrides(overrides)
    if rest:
        _fail(
            f"params.yaml is always the composition of conf/, so `{' '.join(rest)}` would not "
            "last: put the value in conf/ (then `loopline params`), or run "
            f"`dvc exp run -S {rest[0]}` for an experiment",
            as_json=False,
        )
    try:  # check the new choice composes before conf/config.yaml is touched
        for group, option in groups.items():
            check_group_option(group, option)
        cfg = check_config(compose([f"{g}={o}" for g, o in groups.items()]))
        for group, option in groups.items():
            path = set_group(group, option)
            typer.echo(f"{path.name}: {group} is now {option}")
    except (ConfigError, FileNotFoundError) as exc:
        _fail(str(exc), as_json=False)
    except Exception as exc:  # Hydra's own errors: a missing group option, bad YAML
        _fail(f"conf/ does not compose: {str(exc).splitlines()[0]}", as_json=False)
    path = write_params([])
    typer.echo(f"wrote {path} (dataset {cfg.dataset.name})")
    for folder in (cfg.paths.raw, cfg.paths.feedback, cfg.paths.predictions):
        Path(folder).mkdir(parents=True, exist_ok=True)  # stages depend on these folders
    for folder in (cfg.paths.feedback, cfg.paths.predictions):  # kept in git while empty
        if not any(Path(folder).iterdir()):
            (Path(folder) / ".gitkeep").touch()
    return cfg


@app.command()
def use(
    name: Annotated[str, typer.Argument(help="A dataset in conf/dataset/ (NAME.yaml)")],
) -> None:
    """Make NAME the active dataset: `dvc repro`, `dvc exp run` and every command follow it.

    Writes the choice into conf/config.yaml's defaults list and recomposes params.yaml. Each
    dataset keeps its own data, models, reports and registered model, so switching back and
    forth loses nothing.
    """
    cfg = _compose_params([f"dataset={name}"])
    typer.echo(f"active dataset: {cfg.dataset.name}; next: `dvc repro`")


@app.command()
def simulate(
    out: Annotated[Optional[Path], typer.Option(help="Folder for the raw batches")] = None,
    rows: Annotated[Optional[int], typer.Option(help="Number of applications")] = None,
    dataset: Annotated[
        str, typer.Option(help="loans (the lender) or census (BYOD demo)")
    ] = "loans",
    seed: Annotated[Optional[int], typer.Option()] = None,
) -> None:
    """Write simulated raw batches (the DVC stage `simulate` does this for the pipeline)."""
    from loopline import simulate as sim
    from loopline.io import write_table

    cfg = _config([]).simulate
    if seed is not None:
        cfg.seed = seed
    if dataset == "census":
        target = out or Path("data/raw/census")
        write_table(sim.simulate_census(rows or 5000, cfg.seed), target / "census.csv")
        typer.echo(f"wrote {target / 'census.csv'}")
        return
    if rows is not None:
        cfg.rows = rows
    target = out or Path(cfg.out_dir)
    batches = sim.simulate(cfg)
    for relative, frame in sorted(batches.items()):
        write_table(frame, target / relative)
    typer.echo(f"wrote {len(batches)} batch files under {target}")


def _pick_source(file: Path, cfg: Any, forced: str | None) -> tuple[str, str, Any]:
    """Return (table, source name, source config) for a file: forced, else by its path."""
    from loopline.config import SourceConfig

    tables = [("applications", cfg.dataset.sources)]
    if cfg.dataset.labels is not None:
        tables.append(("labels", cfg.dataset.labels.sources))
    candidates = [(t, k, s) for t, sources in tables for k, s in sources.items()]
    if forced:
        for candidate in candidates:
            if candidate[1] == forced:
                return candidate
        names = ", ".join(k for _, k, _ in candidates)
        raise ValueError(f"dataset {cfg.dataset.name} has no source {forced!r} (sources: {names})")
    path = file.resolve().as_posix()
    for candidate in candidates:  # the whole pattern, e.g. applications/*_api.jsonl
        if fnmatch.fnmatch(path, f"*/{candidate[2].pattern}"):
            return candidate
    for candidate in candidates:  # a distinctive file name, e.g. *_branch.csv
        name_pattern = Path(candidate[2].pattern).name
        if not name_pattern.startswith("*.") and fnmatch.fnmatch(file.name, name_pattern):
            return candidate
    return "applications", "canonical", SourceConfig()


def _source_hint(error: Exception, key: str, dataset: Any) -> str:
    """The error's message, plus, when no source's file pattern matched the file and columns are
    missing, how to name the source the file comes from."""
    message = str(error)
    if key == "canonical" and "required column(s) missing" in message:
        names = ", ".join(dataset.sources)
        message += (
            f"\n  No source's file pattern matched this file name; if it is one source's "
            f"export, name the source: --source <{names}>."
        )
    return message


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="A batch file: CSV, JSONL or Parquet")],
    dataset: DatasetOption = None,
    source_name: Annotated[
        Optional[str], typer.Option("--source", help="Read the file as this source's dialect")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check one batch file against a dataset's schema; report accepted/quarantined and why.

    Exit status: 0 all rows accepted, 1 some rows quarantined, 2 the file cannot be validated.
    """
    dataset = _dataset(dataset)
    from loopline.io import DataFileError, read_batch_file
    from loopline.schemas import SchemaFileError, labels_schema, table_schema
    from loopline.validate import BatchContext, ValidationStopError, check_batch

    try:
        cfg = _config([f"dataset={dataset}"])
        table, key, source = _pick_source(file, cfg, source_name)
        labels = table == "labels"
        schema = labels_schema(cfg.dataset) if labels else table_schema(cfg.dataset.schema_path)
        checked = check_batch(
            read_batch_file(file, source),
            BatchContext(
                schema=schema,
                source=source,
                source_key=key,
                file_name=file.name,
                na_values=cfg.dataset.na_values,
                period_regex=cfg.dataset.batch_period_regex,
                id_column=cfg.dataset.id_column,
                time_column=(cfg.dataset.labels.observed_at if labels else cfg.dataset.time_column),
            ),
        )
        result, outcome = checked.normalised, checked.result
    except ValidationStopError as exc:
        _fail(_source_hint(exc, key, cfg.dataset), as_json)
    except (DataFileError, SchemaFileError) as exc:
        _fail(str(exc), as_json)
    except Exception as exc:  # e.g. an unknown dataset name from Hydra
        _fail(f"cannot validate {file}: {exc}", as_json)
    report = {
        "file": str(file),
        "dataset": dataset,
        "table": table,
        "source": key,
        **outcome.report,
        "extra_columns": result.extra_columns,
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        typer.echo(
            f"{file}: {report['rows_in']} rows, {report['accepted']} accepted, "
            f"{report['quarantined']} quarantined ({table}, source {key})"
        )
        for rule, count in report["rules"].items():
            typer.echo(f"  {count:>7}  {rule}")
        for column, values in report["unknown_categories"].items():
            typer.echo(f"  unknown {column} accepted as __unknown__: {values}")
        if result.extra_columns:
            typer.echo(f"  extra columns ignored: {', '.join(result.extra_columns)}")
    raise typer.Exit(1 if report["quarantined"] else 0)


@app.command()
def serve(
    model: Annotated[
        str, typer.Option(help="champion (registry alias), NAME/VERSION, or a bundle folder")
    ] = "champion",
    host: Annotated[str, typer.Option(help="Bind address; loopback unless told otherwise")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option()] = 8000,
    dataset: DatasetOption = None,
    log_dir: LogDirOption = None,
    poll_seconds: Annotated[
        float, typer.Option(help="How often to check whether the champion moved (0: never)")
    ] = 5.0,
) -> None:
    """Serve the model over REST (FastAPI on uvicorn); swaps in a new champion without restart."""
    dataset = _dataset(dataset)
    log_dir = _log_dir(log_dir, dataset)
    import logging

    from loopline.paths import mlflow_uri, repo_root
    from loopline.serving.app import Settings
    from loopline.serving.app import serve as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s serve: %(message)s")
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri())
    settings = Settings(
        model=model,
        dataset=dataset,
        cache_dir=repo_root() / ".loopline" / "models",
        log_dir=log_dir,
        feedback_dir=_feedback_dir(dataset),
        poll_seconds=poll_seconds,
    )
    try:
        run(settings, host=host, port=port)
    except (LookupError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), as_json=False)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to serve")],
    dataset: DatasetOption = None,
) -> None:
    """Point the `champion` alias at a model version (a running service picks it up)."""
    dataset = _dataset(dataset)
    import mlflow

    from loopline.io.registry import model_name
    from loopline.io.registry import promote as move
    from loopline.paths import mlflow_uri

    mlflow.set_tracking_uri(mlflow_uri())
    name = model_name(dataset)
    try:
        previous = move(name, version)
    except Exception as exc:  # the registry's own error names the missing version
        _fail(f"cannot promote {name} version {version}: {exc}", as_json=False)
    typer.echo(f"{name}: champion is now version {version} (was {previous})")


def _resolve_model(model: str, dataset: str | None) -> Any:
    """Return the bundle folder of `champion`, NAME/VERSION or a folder (registry.Resolved)."""
    from loopline.io import registry
    from loopline.paths import mlflow_uri, shared_root

    if model != registry.CHAMPION and Path(model).exists():
        return registry.Resolved(path=Path(model), name=None, version=None)
    dataset = _dataset(dataset)
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri())
    return registry.resolve(
        model, dataset=dataset, cache_dir=shared_root() / ".loopline" / "models"
    )


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": message}))
    else:
        typer.echo(f"error: {message}", err=True)
    sys.exit(2)


@app.command()
def score(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", help="A batch file: CSV, JSONL or Parquet")
    ],
    output: Annotated[
        Path,
        typer.Argument(
            help="Scores file (.csv, .jsonl or .parquet); quarantined rows go to "
            "<stem>.quarantine.<ext> beside it"
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            help="champion (registry alias, what `loopline serve` answers with), NAME/VERSION, "
            "or a bundle folder such as models/<dataset>"
        ),
    ] = "champion",
    dataset: DatasetOption = None,
    source_name: Annotated[
        Optional[str], typer.Option("--source", help="Read the file as this source's dialect")
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Records per chunk")] = 100_000,
    log_dir: LogDirOption = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not write the prediction log")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Score a batch file with a model bundle: scores, decisions and reasons per row.

    Each chunk is normalised and validated as `loopline validate` does (duplicate ids across
    the whole file); quarantined rows are written beside OUTPUT with their reasons.
    Exit status: 0 all rows scored, 1 some rows quarantined, 2 the file cannot be scored.
    """
    from types import SimpleNamespace

    from loopline.bundle import Bundle
    from loopline.io import DataFileError
    from loopline.io.artifacts import ModelDir
    from loopline.io.tables import output_format
    from loopline.schemas import SchemaFileError
    from loopline.services.scoring import ScoringOptions, score_file, summary_lines
    from loopline.validate import ValidationStopError

    try:
        output_format(output)
        resolved = _resolve_model(model, dataset)
        model_dir = resolved.path
        if not ModelDir(model_dir).has_bundle():
            raise DataFileError(
                f"no model bundle in {model_dir} (bundle.json missing): run `dvc repro`, "
                "or point --model at a bundle folder"
            )
        try:
            bundle = Bundle.load(model_dir)
        except Exception as exc:
            raise DataFileError(f"cannot load the model bundle in {model_dir}: {exc}") from None
        table, key, source = _pick_source(
            input_file, SimpleNamespace(dataset=bundle.dataset), source_name
        )
        if table != "applications":
            raise DataFileError(
                f"{input_file} looks like a {table} batch (source {key}); only applications "
                "are scored. Use --source to read it as an application source."
            )
        summary = score_file(
            input_file,
            output,
            bundle=bundle,
            model_version=resolved.label,
            options=ScoringOptions(
                source_key=key,
                source=source,
                chunk_rows=chunk_rows,
                log_dir=None if no_log else _log_dir(log_dir, bundle.dataset.name),
                progress=progress,
            ),
        )
    except ValidationStopError as exc:
        _fail(_source_hint(exc, key, bundle.dataset), False)
    except (DataFileError, SchemaFileError, LookupError) as exc:
        _fail(str(exc), False)
    except Exception as exc:
        _fail(f"cannot score {input_file}: {exc}", False)
    for line in summary_lines(summary):
        typer.echo(line)
    raise typer.Exit(summary.exit_code)


@app.command()
def feedback(
    labels_file: Annotated[Path, typer.Argument(help="Delayed labels: CSV or JSONL")],
    dataset: DatasetOption = None,
    log_dir: LogDirOption = None,
    dvc_add: Annotated[bool, typer.Option(help="Track the new partition with `dvc add`")] = True,
) -> None:
    """Join a batch of delayed labels to the logged predictions; publish a feedback partition.

    Exit status: 0 every label kept, 1 some rejected (listed by reason), 2 the file cannot be
    used. Feeding the same file twice changes nothing.
    """
    dataset = _dataset(dataset)
    log_dir = _log_dir(log_dir, dataset)
    import subprocess

    import pandas as pd

    from loopline import feedback as fb
    from loopline.io import DataFileError
    from loopline.io.predlog import read_log
    from loopline.schemas import SchemaFileError, table_schema
    from loopline.validate import ValidationStopError
    from loopline.workspace import tool

    try:
        cfg = _config([f"dataset={dataset}"])
        if not labels_file.is_file():
            raise DataFileError(f"{labels_file}: file not found")
        log = read_log(log_dir).frame if log_dir.is_dir() else pd.DataFrame()
        result = fb.ingest_feedback(
            labels_file,
            dataset=cfg.dataset,
            log=log,
            root=Path(cfg.paths.feedback),
            schema_columns=table_schema(cfg.dataset.schema_path).names,
            history=fb.history_times(cfg.paths.validated, cfg.dataset),
        )
    except (DataFileError, ValidationStopError, SchemaFileError) as exc:
        _fail(str(exc), as_json=False)
    report = result.report
    if result.partition is None:
        typer.echo(
            f"{labels_file}: {report['rows_in']} labels, none kept: nothing published "
            "(no partition, nothing for `dvc repro` to retrain on)"
        )
        for reason, count in report["reasons"].items():
            typer.echo(f"  {count:>7}  {reason}")
        raise typer.Exit(1)
    if result.already_ingested:
        typer.echo(f"{labels_file}: already fed back as {result.partition} (nothing changed)")
        raise typer.Exit(0)
    typer.echo(
        f"{labels_file}: {report['rows_in']} labels, {report['kept']} kept, "
        f"{report['rejected']} rejected; {report['applications']} served applications; "
        f"partition {result.partition}"
    )
    for reason, count in report["reasons"].items():
        typer.echo(f"  {count:>7}  {reason}")
    if dvc_add:
        done = subprocess.run(
            [tool("dvc"), "add", str(result.partition)], capture_output=True, text=True
        )
        if done.returncode != 0:
            typer.echo(f"warning: `dvc add {result.partition}` failed: {done.stderr.strip()}")
        else:
            typer.echo(f"tracked by DVC: commit {result.partition}.dvc; `dvc repro` retrains")
    raise typer.Exit(1 if report["rejected"] else 0)


@app.command()
def monitor(
    model: Annotated[
        str, typer.Option(help="champion, NAME/VERSION or a bundle folder")
    ] = "champion",
    dataset: DatasetOption = None,
    log_dir: LogDirOption = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="Folder for monitoring.json/.html (default: the dataset's reports)"),
    ] = None,
    until: Annotated[
        Optional[str], typer.Option(help="Window end (ISO time); default: latest application")
    ] = None,
    window_days: Annotated[Optional[int], typer.Option(help="Window length in days")] = None,
) -> None:
    """Check recent served traffic against the model's reference: drift, quality, outcomes.

    Exit status: 0 healthy or not enough data, 3 retraining recommended, 2 cannot monitor.
    """
    dataset = _dataset(dataset)
    log_dir = _log_dir(log_dir, dataset)
    from datetime import datetime

    from loopline.services import ServiceError, monitoring

    try:
        cfg = _config([f"dataset={dataset}"])
        if window_days is not None:
            cfg.monitor.window_days = window_days
        bundle_dir, info = monitoring.resolve_bundle(cfg, model)
        report = monitoring.build_report(
            cfg,
            bundle_dir,
            info,
            log_dir=log_dir,
            feedback_dir=Path(cfg.paths.feedback),
            until=datetime.fromisoformat(until) if until else None,
        )
        html = monitoring.write_report(report, out or Path(cfg.paths.reports))
    except (ServiceError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc), as_json=False)
    verdict = report["verdict"]
    window = report["window"]
    typer.echo(
        f"window {window['from']} .. {window['to']}: {window['rows']} rows "
        f"({window['rows_of_this_bundle']} scored by this bundle)"
    )
    typer.echo(f"verdict: {verdict['status']}")
    for line in verdict["reasons"]:
        typer.echo(f"  reason: {line}")
    for line in verdict["warnings"]:
        typer.echo(f"  warning: {line}")
    typer.echo(f"report: {html}")
    raise typer.Exit(3 if verdict["status"] == "retrain" else 0)


@app.command()
def rollback(
    to: Annotated[
        Optional[str], typer.Option(help="Version to serve; default: the one it replaced")
    ] = None,
    dataset: DatasetOption = None,
) -> None:
    """Move the `champion` alias back to the champion it replaced (or to --to VERSION)."""
    dataset = _dataset(dataset)
    import mlflow

    from loopline.io import registry
    from loopline.paths import mlflow_uri

    mlflow.set_tracking_uri(mlflow_uri())
    name = registry.model_name(dataset)
    try:
        before, after = registry.rollback(name, to)
    except Exception as exc:  # LookupError, or the registry's error for a missing version
        _fail(f"cannot roll back {name}: {exc}", as_json=False)
    typer.echo(f"{name}: champion is now version {after} (was {before})")


@app.command()
def loop(
    periods: Annotated[int, typer.Option(help="Periods (months) to serve")] = 12,
    drift_at: Annotated[
        Optional[int], typer.Option(help="Period (1-based) where the concept shift starts")
    ] = 4,
    experiment: Annotated[
        Optional[str], typer.Option(help="Start from conf/experiment/NAME (e.g. tiny)")
    ] = None,
    workdir: Annotated[
        Optional[Path], typer.Option(help="Empty folder for the loop's workspace")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for timeline and summary")] = Path(
        "reports/loop"
    ),
    strength: Annotated[float, typer.Option(help="Concept shift strength")] = 1.0,
    retrain: Annotated[bool, typer.Option(help="Retrain when monitoring says so")] = True,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="key=value for the loop's config")
    ] = None,
) -> None:
    """Run the model's life on simulated time: serve, feed back, monitor, retrain, gate."""
    import tempfile

    import yaml

    from loopline.loop import LoopSettings, run_loop
    from loopline.paths import repo_root

    overrides = dict(LoopSettings().overrides)
    for item in set_ or []:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    settings = LoopSettings(
        periods=periods,
        drift_at=drift_at,
        experiment=experiment,
        overrides=overrides,
        retrain=retrain,
        strength=strength,
    )
    target = workdir or Path(tempfile.mkdtemp(prefix="loopline-loop-"))
    summary = run_loop(repo_root(), target, settings, out, say=typer.echo)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "stage_runs"}, indent=2))
    typer.echo(f"timeline: {out / 'timeline.csv'}, {out / 'timeline.png'}")


@app.command()
def sweep(
    grid: Annotated[
        list[str],
        typer.Option("-S", "--set-param", help="Hydra sweep override, e.g. model.max_depth=3,6"),
    ],
    jobs: Annotated[int, typer.Option(help="Experiments run at once (dvc queue workers)")] = 2,
    name: Annotated[Optional[str], typer.Option(help="Sweep name (MLflow parent run)")] = None,
    dataset: DatasetOption = None,
) -> None:
    """Queue a parameter grid as DVC experiments, run them, group them in MLflow, show them."""
    dataset = _dataset(dataset)
    import mlflow

    from loopline import review as rv
    from loopline import sweep as sw
    from loopline.paths import mlflow_uri, repo_root

    root = repo_root()
    mlflow.set_tracking_uri(mlflow_uri())
    label = name or sw.default_name()
    try:
        parent = sw.open_parent(dataset, label, grid)
        sw.queue(root, grid, parent)
        status = sw.wait(root, jobs)
    except (RuntimeError, TimeoutError) as exc:
        _fail(str(exc), as_json=False)
    ok, bad = sw.finished(status)
    typer.echo(f"sweep {label}: {len(ok)} experiments succeeded, {len(bad)} failed")
    typer.echo(f"MLflow: parent run {parent} (experiment loopline-{dataset})")
    typer.echo(rv.exp_table(root))
    if bad:
        typer.echo(f"failed: {', '.join(bad)} (see `dvc queue logs NAME`)")
        raise typer.Exit(1)


@app.command()
def review(
    baseline: Annotated[str, typer.Option(help="Git revision to compare with")] = "main",
    out: Annotated[Path, typer.Option(help="Markdown file to write")] = Path("reports/review.md"),
    plots: Annotated[bool, typer.Option(help="Also run `dvc plots diff` beside it")] = True,
) -> None:
    """Compare the workspace with a baseline commit: params, metrics, slices, gate, data."""
    from loopline.paths import repo_root
    from loopline.review import write_review

    root = repo_root()
    try:
        path, text = write_review(root, baseline, root / out, with_plots=plots)
    except (OSError, ValueError) as exc:
        _fail(f"cannot review against {baseline}: {exc}", as_json=False)
    typer.echo(text)
    typer.echo(f"written to {path}")


@app.command("init-dataset")
def init_dataset(
    file: Annotated[
        Path, typer.Argument(help="A sample of your data: CSV/JSONL/Parquet, maybe .gz")
    ],
    name: Annotated[str, typer.Option(help="Dataset name (conf/dataset/NAME.yaml)")],
    target: Annotated[str, typer.Option(help="The label column")],
    positive: Annotated[str, typer.Option(help="The label value of the positive class")],
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="Does the first line name the columns?")
    ] = True,
    names: Annotated[
        Optional[str], typer.Option(help="Column names of a headerless file: a,b,c,...")
    ] = None,
    time: Annotated[
        Optional[str], typer.Option(help="Time column (default: guessed; '' for none)")
    ] = None,
    id_column: Annotated[
        Optional[str], typer.Option("--id", help="Id column (default: guessed; '' for none)")
    ] = None,
    entity: Annotated[
        Optional[str], typer.Option(help="Entity column, e.g. customer (default: guessed)")
    ] = None,
    delimiter: Annotated[
        Optional[str], typer.Option(help="Field separator (default: sniffed)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing conf files")] = False,
    dvc_add: Annotated[bool, typer.Option(help="Track data/raw/NAME with `dvc add`")] = True,
) -> None:
    """Infer a dataset config and schema from a file, for review; then `loopline use NAME`.

    Writes conf/dataset/NAME.yaml and conf/schemas/NAME.yaml (dtypes, ranges with a margin,
    allowed categories, missing-value markers, id/time/entity guesses), copies the file into
    data/raw/NAME/ (your file is never changed) and creates data/feedback/NAME/.
    """
    import subprocess

    from loopline.io import DataFileError
    from loopline.onboard import format_report
    from loopline.onboard import init_dataset as onboard
    from loopline.paths import repo_root
    from loopline.workspace import tool

    root = repo_root()
    try:
        result = onboard(
            file,
            name=name,
            target=target,
            positive=positive,
            header=header,
            names=[n.strip() for n in names.split(",")] if names else None,
            time=time,
            id=id_column,
            entity=entity,
            root=root,
            delimiter=delimiter,
            force=force,
        )
    except (ValueError, DataFileError, OSError) as exc:
        _fail(str(exc), as_json=False)
    for line in format_report(result):
        typer.echo(line)
    if dvc_add:
        raw = result.raw_file.parent
        done = subprocess.run(
            [tool("dvc"), "add", str(raw.relative_to(root))],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            typer.echo(f"tracked by DVC: {raw.relative_to(root)} (commit its .dvc file)")
        else:
            typer.echo(f"warning: `dvc add {raw}` failed: {done.stderr.strip()[:300]}")
