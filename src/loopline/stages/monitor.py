"""DVC stage `monitor` (and `loopline monitor`): the champion's recent traffic vs its reference.

Reads the prediction log, the feedback partitions and the champion bundle's reference.json;
writes reports/monitoring.json (metrics), reports/monitoring.html (for people) and
reports/plots/monitoring.csv (one row per month, for `dvc plots`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from loopline import feedback, monitor
from loopline.config import Config
from loopline.io import read_json, write_json, write_table
from loopline.paths import mlflow_uri, shared_root
from loopline.predlog import read_log
from loopline.scoring import QUALITY_PREFIX
from loopline.stages import StageError, run_stage

log = logging.getLogger(__name__)


def resolve_bundle(cfg: Config, source: str) -> tuple[Path, dict[str, Any]]:
    """Return the bundle folder to monitor and what to call it (champion by default)."""
    import mlflow

    from loopline.serving import registry

    mlflow.set_tracking_uri(mlflow_uri())
    try:
        found = registry.resolve(
            source, dataset=cfg.dataset.name, cache_dir=shared_root() / ".loopline" / "models"
        )
    except LookupError as exc:
        raise StageError(str(exc)) from None
    return found.path, {"name": found.name, "version": found.version, "dataset": cfg.dataset.name}


def build_report(
    cfg: Config,
    bundle_dir: Path,
    model: dict[str, Any],
    *,
    log_dir: Path,
    feedback_dir: Path,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Read the log, feedback and reference; return the monitoring report."""
    meta = read_json(bundle_dir / "bundle.json")
    reference = read_json(bundle_dir / "reference.json")
    if "score" not in reference:
        raise StageError(f"{bundle_dir}/reference.json has no score reference: rebuild the bundle")
    traffic = pd.DataFrame()
    batches: list[dict] = []
    if log_dir.is_dir():
        read = read_log(log_dir)
        traffic = read.frame
        if read.corrupt_lines:
            log.warning("%d corrupt lines in the prediction log skipped", read.corrupt_lines)
        batches = [read_json(p) for p in sorted(log_dir.glob(f"{QUALITY_PREFIX}*.json"))]
    report = monitor.monitor(
        traffic,
        reference=reference,
        state=read_json(bundle_dir / "preprocess.json"),
        bundle_id=meta["bundle_id"],
        input_columns=list(meta["schema"]["columns"]),
        time_column=cfg.dataset.time_column,
        labelled=feedback.realised(feedback_dir),
        batches=batches,
        target=cfg.dataset.target,
        observed_at=cfg.dataset.labels.observed_at if cfg.dataset.labels else "observed_at",
        positive_label=cfg.dataset.positive_label,
        profit_good=cfg.policy.profit_good,
        loss_default=cfg.policy.loss_default,
        cfg=cfg.monitor,
        until=until,
        model=model,
    )
    report["window"]["log"] = str(log_dir)
    return report


def write_report(report: dict[str, Any], reports: Path) -> Path:
    """Write monitoring.json, monitoring.html and plots/monitoring.csv; return the HTML path."""
    from loopline.report import write_html

    write_json(report, reports / "monitoring.json")
    periods = pd.DataFrame(report["periods"] or [{"period": None}])
    write_table(periods, reports / "plots" / "monitoring.csv")
    return write_html(report, reports / "monitoring.html")


def task(cfg: Config) -> None:
    try:
        bundle_dir, model = resolve_bundle(cfg, "champion")
    except StageError as exc:  # nothing serves yet (the gate rejected the first model)
        verdict = {"status": "no_champion", "reasons": [str(exc)], "warnings": []}
        write_report({"model": None, "periods": [], "verdict": verdict}, Path(cfg.paths.reports))
        log.warning("nothing to monitor: %s", exc)
        return
    report = build_report(
        cfg,
        bundle_dir,
        model,
        log_dir=Path(cfg.paths.predictions),
        feedback_dir=Path(cfg.paths.feedback),
    )
    write_report(report, Path(cfg.paths.reports))
    v = report["verdict"]
    log.info("verdict: %s %s", v["status"], "; ".join(v["reasons"]))


if __name__ == "__main__":
    run_stage("monitor", task)
