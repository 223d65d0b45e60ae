"""`loopline loop`: the life of a model on simulated time, with retraining and a control.

In a fresh workspace (its own git, DVC cache and MLflow store) the pipeline first trains on the
simulated lender's history (`simulate.release_until` holds the later periods back). Then, each
period:

1. serve: the period's application batches are scored by the champion bundle through
   `loopline score`'s code and logged to the prediction log;
2. feedback: the label batch observed that month is fed back (`loopline feedback`'s code), the
   new partition added to DVC;
3. monitor: the champion's window of traffic is checked (`loopline monitor`'s code);
4. retrain: when monitoring recommends it and new labels arrived since the last retrain,
   `dvc repro` runs; only the stages the new partitions affect run, and the gate stage decides
   whether the challenger replaces the champion.

The control arm serves the same applications with the first model throughout and never
retrains. At the end both arms are scored against every outcome the simulator knows (labels
that had not "arrived" yet included), per serving period: realised AUC and realised profit.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from loopline import feedback, simulate, workspace
from loopline.config import Config, load_config
from loopline.io import write_json, write_table, write_text

AUC_TOLERANCE = 0.02  # "back within 0.02 of the pre-shift level"


@dataclass
class LoopSettings:
    periods: int = 12  # periods served after the initial training
    drift_at: int | None = 4  # 1-based loop period at which the concept shift starts
    experiment: str | None = None  # conf/experiment/<name>.yaml to start from (e.g. tiny)
    # dotted keys -> values for the loop's config. Retraining defaults for a drifting world:
    # recent outcomes weigh more (half-life 60 days), and valid/test are the last 45 days
    # each, so that training reaches recent months (a 15%/15% split would hold them all out)
    overrides: dict[str, Any] = field(
        default_factory=lambda: {
            "train.recency_half_life_days": 60,
            "split.valid_days": 45,
            "split.test_days": 45,
        }
    )
    retrain: bool = True
    strength: float = 1.0  # concept shift strength


def _set(tree: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def loop_experiment(root: Path, settings: LoopSettings) -> dict[str, Any]:
    """Return the `@package _global_` experiment the loop's workspace runs with."""
    body: dict[str, Any] = {}
    if settings.experiment:
        path = root / "conf" / "experiment" / f"{settings.experiment}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no experiment {settings.experiment!r} ({path})")
        body = yaml.safe_load(path.read_text()) or {}
    base = load_config_from(root, settings.experiment)
    history = base.simulate.periods
    per_period = base.simulate.rows / history
    total = history + settings.periods
    _set(body, "simulate.periods", total)
    _set(body, "simulate.rows", round(per_period * total))
    _set(body, "simulate.release_until", history)
    if settings.drift_at is not None:
        _set(body, "simulate.drift.concept_shift.start_period", history + settings.drift_at - 1)
        _set(body, "simulate.drift.concept_shift.strength", settings.strength)
    for key, value in settings.overrides.items():
        _set(body, key, value)
    return body


def load_config_from(root: Path, experiment: str | None) -> Config:
    from loopline.config import to_config
    from loopline.params import compose

    return to_config(compose([f"experiment={experiment}"] if experiment else [], root=root))


def prepare(root: Path, workdir: Path, settings: LoopSettings) -> Config:
    """Create the workspace with the loop's experiment and return its config."""
    if workdir.exists() and any(workdir.iterdir()):
        raise FileExistsError(f"{workdir} is not empty: give a new --workdir")
    workspace.copy_project(root, workdir)
    workspace.init_git(workdir)
    body = loop_experiment(root, settings)
    text = "# @package _global_\n# written by `loopline loop`\n" + yaml.safe_dump(body)
    write_text(text, workdir / "conf" / "experiment" / "loop.yaml")
    workspace.set_defaults(workdir, experiment="loop")
    workspace.run(workdir, "loopline", "params")
    workspace.commit(workdir, "loop workspace")
    return load_config(workdir / "params.yaml")


def _remember(bundle: Any, log_rows: pd.DataFrame) -> Any:
    """Return the bundle with served applications added to its per-customer history."""
    d = bundle.dataset
    if bundle.history is None or log_rows.empty:
        return bundle
    rows = pd.DataFrame(
        {
            "entity": log_rows[f"input.{d.entity_column}"].astype("str"),
            "time": feedback.application_times(log_rows[f"input.{d.time_column}"]).astype(
                "datetime64[s]"
            ),
            "kind": "application",
            "id": log_rows[f"input.{d.id_column}"].astype("str"),
        }
    ).dropna(subset=["entity", "time"])
    out = copy.copy(bundle)
    out.history_rows = pd.concat(
        [bundle.history_rows, rows.astype(bundle.history_rows.dtypes.to_dict())],
        ignore_index=True,
    )
    return out


class Arm:
    """One way of running the service: a bundle, its log, what it scored."""

    def __init__(self, name: str, log_dir: Path, out_dir: Path) -> None:
        self.name, self.log_dir, self.out_dir = name, log_dir, out_dir
        self.bundle: Any = None
        self.version: str | None = None
        self.scored: list[pd.DataFrame] = []

    def load(self, path: Path, version: str) -> None:
        from loopline.bundle import Bundle

        self.bundle, self.version = Bundle.load(path), version

    def serve(self, files: dict[str, Path], cfg: Config, period: int) -> int:
        from loopline.io.predlog import read_log
        from loopline.services.scoring import ScoringOptions, score_file

        served = 0
        for relative, path in sorted(files.items()):
            source_key = relative.rsplit("_", 1)[-1].split(".")[0]
            out = self.out_dir / f"{path.stem}.parquet"
            summary = score_file(
                path,
                out,
                bundle=self.bundle,
                model_version=f"{self.version}",
                options=ScoringOptions(
                    source_key=source_key,
                    source=cfg.dataset.sources[source_key],
                    log_dir=self.log_dir,
                    progress=False,
                ),
            )
            frame = pd.read_parquet(out)
            frame["period"] = period
            frame["model_version"] = self.version
            self.scored.append(frame)
            served += summary.scored
        logged = read_log(self.log_dir).frame
        latest = logged[logged["model_version"] == self.version]
        self.bundle = _remember(self.bundle, latest.tail(served))
        return served


def outcomes(cfg: Config) -> pd.DataFrame:
    """Every simulated application's outcome and amount (what the future will reveal)."""
    apps = simulate.simulate_applications(cfg.simulate)
    return pd.DataFrame(
        {
            "application_id": apps["application_id"].astype("str"),
            "defaulted": apps["defaulted"].astype("float64"),
            "amount": pd.to_numeric(apps["loan_amount"], errors="coerce"),
        }
    ).drop_duplicates("application_id")


def realised(arm: Arm, truth: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Realised AUC and profit per serving period of one arm, with every outcome known."""
    from loopline import evaluate, policy

    scored = pd.concat(arm.scored, ignore_index=True)
    scored["application_id"] = scored["application_id"].astype("str")
    joined = scored.merge(truth, on="application_id", how="inner")
    rows = []
    for period, part in joined.groupby("period"):
        y, s = part["defaulted"].to_numpy(), part["score"].to_numpy(dtype="float64")
        approved = part["decision"].astype("str").to_numpy() == "approve"
        amount = part["amount"].fillna(0).to_numpy()
        rows.append(
            {
                "period": int(period),
                f"{arm.name}_auc": evaluate.binary_metrics(y, s)["roc_auc"],
                f"{arm.name}_profit": policy.realised_profit(
                    approved, y, amount, cfg.policy.profit_good, cfg.policy.loss_default
                ),
                f"{arm.name}_version": ",".join(sorted(set(part["model_version"].astype(str)))),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class _Run:
    """The loop's state across periods: the workspace, both arms and what happened so far."""

    workdir: Path
    cfg: Config
    settings: LoopSettings
    live: Arm
    control: Arm
    future: dict[int, dict[str, pd.DataFrame]] = field(default_factory=dict)
    shift_from: pd.Timestamp | None = None  # when the concept shift starts (None: never)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    stage_runs: list[dict[str, Any]] = field(default_factory=list)
    new_labels_since_retrain: bool = False

    @property
    def history(self) -> int:
        return self.cfg.simulate.release_until or 0

    @property
    def tracking_uri(self) -> str:
        """The workspace's own MLflow store, passed explicitly (never set process-wide)."""
        return f"sqlite:///{self.workdir / 'mlflow.db'}"

    def champion(self) -> tuple[Path, str]:
        from loopline.io import registry

        found = registry.resolve(
            "champion",
            dataset=self.cfg.dataset.name,
            cache_dir=self.workdir / ".loopline" / "models",
            tracking_uri=self.tracking_uri,
        )
        return found.path, str(found.version)


def _start(workdir: Path, cfg: Config, settings: LoopSettings, say: Callable[[str], None]) -> _Run:
    """Train the first model on the released history; both arms start serving it."""
    history = cfg.simulate.release_until or 0
    say(f"initial training on periods 0..{history - 1} (dvc repro in {workdir})")
    first = workspace.run(workdir, "dvc", "repro")
    workspace.commit(workdir, "initial model")
    control_dir = workdir / "data" / "control"
    run = _Run(
        workdir,
        cfg,
        settings,
        live=Arm("retrain", workdir / cfg.paths.predictions, workdir / "data" / "scored"),
        control=Arm("control", control_dir / "predictions", control_dir / "scored"),
    )
    path, version = run.champion()
    run.live.load(path, version)
    run.control.load(path, version)
    _, run.future = simulate.release(simulate.simulate(cfg.simulate), cfg.simulate)
    if settings.drift_at is not None:
        run.shift_from = pd.Period(_month(cfg, history + settings.drift_at - 1)).start_time
    run.stage_runs.append(
        {
            "period": 0,
            "ran": workspace.ran_stages(first.stdout),
            "batches": batch_work(first.stdout + first.stderr),
        }
    )
    return run


def _arrive(run: _Run, period: int) -> dict[str, Path]:
    """Write the period's batches (applications and labels) to data/incoming."""
    files: dict[str, Path] = {}
    for relative, frame in run.future.get(period, {}).items():
        target = run.workdir / "data" / "incoming" / relative
        write_table(frame, target)
        files[relative] = target
    return files


def _feed_labels(run: _Run, labels: list[Path]) -> dict[str, Any]:
    """Feed the period's label batches back; return the timeline's label columns."""
    fed = post_shift = 0
    for label_file in labels:
        kept, shifted = _feed(run.workdir, label_file, run.cfg, run.live.log_dir, run.shift_from)
        fed, post_shift = fed + kept, post_shift + shifted
    run.new_labels_since_retrain |= fed > 0
    return {"labels_fed": fed, "post_shift_labels_fed": post_shift}


def _monitor(run: _Run, step: int, bundle_dir: Path, version: str) -> dict[str, Any]:
    """Monitor the champion's window of traffic; write and return the period's report."""
    from loopline.io import registry
    from loopline.services import monitoring

    cfg, workdir = run.cfg, run.workdir
    report = monitoring.build_report(
        cfg,
        bundle_dir,
        {
            "name": registry.model_name(cfg.dataset.name),
            "version": version,
            "dataset": cfg.dataset.name,
        },
        log_dir=run.live.log_dir,
        feedback_dir=workdir / cfg.paths.feedback,
    )
    monitoring.write_report(report, workdir / "reports" / "loop" / f"period_{step:02d}")
    return report


def _monitoring_row(report: dict[str, Any]) -> dict[str, Any]:
    """Return the timeline's monitoring columns of one period's report."""
    v, d, p = report["verdict"], report["drift"] or {}, report["performance"]
    return {
        "verdict": v["status"],
        "reasons": " | ".join(v["reasons"]),
        "score_psi": (d.get("score") or {}).get("psi"),
        "drifted_inputs": len(d.get("drifted_columns", [])) if d else None,
        "monitored_labels": p.get("labelled"),
        "monitored_auc": p.get("auc"),
        "retrained": False,
        "gate": None,
    }


def _retrain(run: _Run, step: int, reasons: list[str], say: Callable[[str], None]) -> dict:
    """Run `dvc repro` on what arrived; return the timeline's gate columns."""
    workdir = run.workdir
    say(f"period {step}: retraining ({'; '.join(reasons)[:200]})")
    workspace.commit(workdir, f"period {step}: feedback")
    t0 = time.perf_counter()
    result = workspace.run(workdir, "dvc", "repro")
    seconds = time.perf_counter() - t0
    workspace.commit(workdir, f"period {step}: retrained")
    gate = json.loads((workdir / run.cfg.paths.reports / "gate.json").read_text())
    run.stage_runs.append(
        {
            "period": step,
            "ran": workspace.ran_stages(result.stdout),
            "skipped": workspace.skipped_stages(result.stdout),
            "batches": batch_work(result.stdout + result.stderr),
            "seconds": round(seconds, 1),
        }
    )
    run.new_labels_since_retrain = False
    return {
        "retrained": True,
        "gate": gate["action"],
        "gate_passed": gate["passed"],
        "challenger": gate["challenger"],
    }


def _period(run: _Run, step: int, say: Callable[[str], None]) -> dict[str, Any]:
    """One loop period: serve, feed back, monitor, maybe retrain; return its timeline row."""
    cfg, settings = run.cfg, run.settings
    period = run.history + step - 1
    files = _arrive(run, period)
    apps = {k: v for k, v in files.items() if k.startswith("applications/")}
    labels = [v for k, v in files.items() if k.startswith("labels/")]
    path, version = run.champion()
    if version != run.live.version:
        run.live.load(path, version)
    served = run.live.serve(apps, cfg, step)
    run.control.serve(apps, cfg, step)
    row: dict[str, Any] = {
        "period": step,
        "month": _month(cfg, period),
        "champion": version,
        "served": served,
        "concept_shift": settings.drift_at is not None and step >= settings.drift_at,
    }
    row |= _feed_labels(run, labels)
    report = _monitor(run, step, path, version)
    row |= _monitoring_row(report)
    verdict = report["verdict"]
    if settings.retrain and verdict["status"] == "retrain" and run.new_labels_since_retrain:
        row |= _retrain(run, step, verdict["reasons"], say)
    say(
        f"period {step} ({row['month']}): served {served} with v{version}, "
        f"{row['labels_fed']} labels fed, verdict {verdict['status']}"
        + (f", gate: {row['gate']}" if row["retrained"] else "")
    )
    return row


def run_loop(
    root: Path,
    workdir: Path,
    settings: LoopSettings,
    out_dir: Path,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the loop; write timeline.csv, timeline.png and loop.json to out_dir; return summary.

    The workspace's MLflow store is passed to each registry call, never set process-wide.
    """
    started = time.perf_counter()
    workdir = workdir.resolve()
    cfg = prepare(root, workdir, settings)
    run = _start(workdir, cfg, settings, say)
    for step in range(1, settings.periods + 1):
        run.timeline.append(_period(run, step, say))
    truth = outcomes(cfg)
    table = pd.DataFrame(run.timeline)
    for arm in (run.live, run.control):
        table = table.merge(realised(arm, truth, cfg), on="period", how="left")
    summary = summarise(table, settings, run.stage_runs, cfg.monitor.min_labels)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["workdir"] = str(workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(table, out_dir / "timeline.csv")
    write_json(summary, out_dir / "loop.json")
    plot_timeline(table, summary, out_dir / "timeline.png")
    return summary


def batch_work(output: str) -> dict[str, dict[str, int]]:
    """Per-batch stages' work from their log lines: batches in all, new or changed, current."""
    found = re.findall(
        r" (ingest|validate): (\d+) batches: (\d+) new or changed, (\d+) current", output
    )
    return {s: {"batches": int(n), "processed": int(t), "current": int(k)} for s, n, t, k in found}


def _month(cfg: Config, period: int) -> str:
    return str(pd.Period(cfg.simulate.start, freq="M") + period)


def _feed(
    workdir: Path, label_file: Path, cfg: Config, log_dir: Path, shift_from: pd.Timestamp | None
) -> tuple[int, int]:
    """Feed one label batch back and add its partition to DVC; return the labels kept, and
    how many of them are of applications made after the concept shift."""
    from loopline.io.predlog import read_log
    from loopline.schemas import table_schema

    schema = table_schema(workdir / cfg.dataset.schema_path)
    result = feedback.ingest_feedback(
        label_file,
        dataset=cfg.dataset,
        log=read_log(log_dir).frame if log_dir.is_dir() else pd.DataFrame(),
        root=workdir / cfg.paths.feedback,
        schema_columns=schema.names,
        history=feedback.history_times(workdir / cfg.paths.validated, cfg.dataset),
    )
    if result.partition is not None and not result.already_ingested:
        workspace.run(workdir, "dvc", "add", str(result.partition.relative_to(workdir)))
    if result.partition is None:  # every label rejected: nothing was published
        return 0, 0
    shifted = 0
    if shift_from is not None:
        kept = pd.read_parquet(result.partition / "predictions.parquet", columns=["applied_at"])
        shifted = int((kept["applied_at"] >= shift_from).sum())
    return int(result.report.get("kept", 0)), shifted


def summarise(
    table: pd.DataFrame,
    settings: LoopSettings,
    stage_runs: list[dict[str, Any]],
    min_labels: int = 300,
) -> dict[str, Any]:
    """The loop's figures: detection, recovery, and the control's AUC over the same periods.

    "The labels show the shift" from the first period by which `min_labels` labels of
    post-shift applications have been fed back (what monitoring needs to judge a cohort).
    """
    k = settings.drift_at
    summary: dict[str, Any] = {
        "periods": settings.periods,
        "drift_at": k,
        "retrains": int(table["retrained"].sum()),
        "promotions": [
            int(r.period) for r in table.itertuples() if str(r.gate or "").startswith("promoted")
        ],
        "stage_runs": stage_runs,
    }
    if k is None:
        return summary
    before = table[table["period"] < k]
    summary["pre_shift_auc"] = _mean(before["retrain_auc"])
    summary |= _detection(table, k, min_labels)
    shows = summary["labels_show_shift_period"]
    summary |= _recovery(table, summary["promotions"], shows or k, summary["pre_shift_auc"])
    after_shift = table[table["period"] >= k]
    summary["post_shift_auc"] = {
        "retrain": _mean(after_shift["retrain_auc"]),
        "control": _mean(after_shift["control_auc"]),
    }
    summary["post_shift_profit"] = {
        "retrain": float(after_shift["retrain_profit"].sum()),
        "control": float(after_shift["control_profit"].sum()),
    }
    return summary


def _detection(table: pd.DataFrame, k: int, min_labels: int) -> dict[str, Any]:
    """When the labels showed the shift, flags raised before that, and the detection lag."""
    arrived = table["post_shift_labels_fed"].cumsum()
    showing = table.loc[arrived >= min_labels, "period"]
    shows = int(showing.min()) if len(showing) else None
    out: dict[str, Any] = {"labels_show_shift_period": shows}
    out["early_flags"] = [
        int(p)
        for p in table.loc[(table["verdict"] == "retrain"), "period"]
        if shows is None or p < shows
    ]
    flagged = table[(table["period"] >= (shows or k)) & (table["verdict"] == "retrain")]
    out["first_flag_period"] = int(flagged["period"].min()) if len(flagged) else None
    out["detection_lag_periods"] = (
        out["first_flag_period"] - shows
        if shows is not None and out["first_flag_period"] is not None
        else None
    )
    return out


def _recovery(
    table: pd.DataFrame, promotions: list[int], since: int, pre_shift_auc: float | None
) -> dict[str, Any]:
    """The first promotion from period `since` on, and the AUC of both arms just after it."""
    promoted = [p for p in promotions if p >= since]
    out: dict[str, Any] = {"first_promotion_after_shift": promoted[0] if promoted else None}
    if promoted and pre_shift_auc is not None:
        after = table[(table["period"] > promoted[0]) & (table["period"] <= promoted[0] + 2)]
        out["auc_two_periods_after_promotion"] = [
            None if pd.isna(a) else round(float(a), 4) for a in after["retrain_auc"]
        ]
        out["control_auc_same_periods"] = [
            None if pd.isna(a) else round(float(a), 4) for a in after["control_auc"]
        ]
        out["recovered"] = bool(
            len(after) and (after["retrain_auc"] >= pre_shift_auc - AUC_TOLERANCE).any()
        )
    return out


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return round(float(values.mean()), 4) if len(values) else None


def plot_timeline(table: pd.DataFrame, summary: dict[str, Any], path: Path) -> Path:
    """Realised AUC of both arms per period, retrains and promotions, drift signals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    x = table["period"]
    top.plot(x, table["retrain_auc"], marker="o", label="with retraining")
    top.plot(x, table["control_auc"], marker="s", linestyle="--", label="control (no retraining)")
    if summary.get("pre_shift_auc") is not None:
        level = summary["pre_shift_auc"]
        top.axhline(level, color="grey", linewidth=0.8, label="pre-shift level")
        top.axhspan(level - AUC_TOLERANCE, level + AUC_TOLERANCE, color="grey", alpha=0.1)
    for p in table.loc[table["retrained"], "period"]:
        top.axvline(p, color="orange", alpha=0.4, linewidth=1)
    for p in summary.get("promotions", []):
        top.axvline(p, color="green", linewidth=2, alpha=0.6)
    if summary.get("drift_at"):
        for ax in (top, middle, bottom):
            ax.axvline(summary["drift_at"] - 0.5, color="red", linestyle=":", linewidth=1.5)
    top.set_ylabel("realised AUC (all outcomes)")
    top.set_title(
        "Realised AUC per serving period (red: concept shift, orange: retrain, green: promotion)"
    )
    top.legend(loc="lower left", fontsize=8)
    middle.plot(x, table["retrain_profit"], marker="o", label="with retraining")
    middle.plot(x, table["control_profit"], marker="s", linestyle="--", label="control")
    middle.set_ylabel("realised profit")
    middle.legend(loc="lower left", fontsize=8)
    bottom.plot(x, table["score_psi"], marker="o", label="score PSI")
    bottom.plot(x, table["monitored_auc"], marker="^", label="monitored AUC (labels so far)")
    bottom.set_ylabel("monitoring signals")
    bottom.set_xlabel("loop period")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
