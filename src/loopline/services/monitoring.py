"""Monitoring the champion: its recent traffic against its reference (drift, data quality,
realised outcomes), as a report (monitoring.json, monitoring.html, plots/monitoring.csv).

Used by the `monitor` DVC stage, `loopline monitor` and `loopline loop`.
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
from loopline.io.artifacts import ModelDir
from loopline.io.predlog import QUALITY_PREFIX, read_log
from loopline.paths import mlflow_uri, shared_root
from loopline.services import ServiceError

log = logging.getLogger(__name__)


def resolve_bundle(cfg: Config, source: str) -> tuple[Path, dict[str, Any]]:
    """Return the bundle folder to monitor and what to call it (champion by default)."""
    import mlflow

    from loopline.io import registry

    mlflow.set_tracking_uri(mlflow_uri())
    try:
        found = registry.resolve(
            source, dataset=cfg.dataset.name, cache_dir=shared_root() / ".loopline" / "models"
        )
    except LookupError as exc:
        raise ServiceError(str(exc)) from None
    return found.path, {"name": found.name, "version": found.version, "dataset": cfg.dataset.name}


def _traffic(log_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    """Return the prediction log and batch scoring's quality records (none without a log)."""
    if not log_dir.is_dir():
        return pd.DataFrame(), []
    read = read_log(log_dir)
    if read.corrupt_lines:
        log.warning("%d corrupt lines in the prediction log skipped", read.corrupt_lines)
    batches = [read_json(p) for p in sorted(log_dir.glob(f"{QUALITY_PREFIX}*.json"))]
    return read.frame, batches


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
    folder = ModelDir(bundle_dir, cfg.artifacts)
    meta = folder.read_manifest()
    reference = folder.read_reference()
    if "score" not in reference:
        raise ServiceError(f"{folder.path('reference')} has no score reference: rebuild the bundle")
    traffic, batches = _traffic(log_dir)
    labels = cfg.dataset.labels
    report = monitor.monitor(
        monitor.MonitorInputs(
            log=traffic,
            labelled=feedback.realised(feedback_dir),
            batches=tuple(batches),
            time_column=cfg.dataset.time_column,
        ),
        monitor.MonitoredModel(
            bundle_id=meta["bundle_id"],
            reference=monitor.Reference.from_json(reference),
            state=folder.read_state(),
            input_columns=tuple(meta["schema"]["columns"]),
            info=model,
        ),
        monitor.Outcomes(
            target=cfg.dataset.target,
            positive_label=cfg.dataset.positive_label,
            profit_good=cfg.policy.profit_good,
            loss_default=cfg.policy.loss_default,
            observed_at=labels.observed_at if labels else "observed_at",
        ),
        cfg.monitor,
        until=until,
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


def monitor_champion(cfg: Config) -> dict[str, Any]:
    """Monitor the champion over the configured window and write the report; with no champion
    (the gate rejected the first model), write a `no_champion` report instead of failing."""
    reports = Path(cfg.paths.reports)
    try:
        bundle_dir, model = resolve_bundle(cfg, "champion")
    except ServiceError as exc:
        verdict = {"status": "no_champion", "reasons": [str(exc)], "warnings": []}
        report = {"model": None, "periods": [], "verdict": verdict}
        write_report(report, reports)
        log.warning("nothing to monitor: %s", exc)
        return report
    report = build_report(
        cfg,
        bundle_dir,
        model,
        log_dir=Path(cfg.paths.predictions),
        feedback_dir=Path(cfg.paths.feedback),
    )
    write_report(report, reports)
    return report
