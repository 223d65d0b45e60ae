"""Promotion: the challenger (the model just registered) against the champion, on the same
newest rows; the challenger becomes champion only when the gate passes (`gate.decide`).

Used by the `gate` DVC stage. The verdict is recorded in the challenger's MLflow run and on its
model version (tags `gate`, `gate_action`, `gate_reasons`); `loopline rollback` moves the alias
back.
"""

from __future__ import annotations

from pathlib import Path

from loopline import gate
from loopline.bundle import Bundle
from loopline.config import Config
from loopline.io import read_json, read_table, registry
from loopline.paths import mlflow_uri, shared_root
from loopline.services import ServiceError
from loopline.split import SPLIT, TARGET


def judge_challenger(cfg: Config) -> dict:
    """Assess the challenger just registered (and the champion) on the test split, promote it
    when the gate passes, record the verdict in MLflow, and return the report (gate.json)."""
    import mlflow

    reports, model_dir = Path(cfg.paths.reports), Path(cfg.paths.model_dir)
    run = read_json(reports / "mlflow_run.json")
    name, version = run["registered_model"], str(run["version"])
    mlflow.set_tracking_uri(mlflow_uri())
    rows = read_table(cfg.paths.split, where=(SPLIT, ["test"]))
    if rows.empty:
        raise ServiceError("the split has no test rows: nothing to compare the models on")
    y = rows[TARGET].to_numpy(dtype="float64")
    common = {
        "slices": cfg.dataset.slices,
        "min_slice_rows": cfg.gate.min_slice_rows,
        "profit_good": cfg.policy.profit_good,
        "loss_default": cfg.policy.loss_default,
    }
    challenger = Bundle.load(model_dir)
    new = gate.assess(challenger, rows, y, **common)
    champion = registry.champion_version(name)
    old = None
    if champion is not None and champion != version:
        found = registry.resolve(
            f"{name}/{champion}",
            dataset=cfg.dataset.name,
            cache_dir=shared_root() / ".loopline" / "models",
        )
        old = gate.assess(gate.with_history(Bundle.load(found.path), challenger), rows, y, **common)
    verdict = gate.decide(new, old, cfg.gate)
    action = gate.action(verdict, challenger=version, champion=champion, cfg=cfg.gate)
    if action.startswith("promoted"):
        registry.promote(name, version)
    report = {
        "model": name,
        "challenger": version,
        "champion_before": champion,
        "champion_after": registry.champion_version(name),
        "action": action,
        **verdict.to_dict(),
        "rows": len(rows),
        "evaluated_on": {
            "split": "test",
            "from": str(rows[cfg.dataset.time_column].min()) if cfg.dataset.time_column else None,
            "to": str(rows[cfg.dataset.time_column].max()) if cfg.dataset.time_column else None,
        },
        "challenger_metrics": new,
        "champion_metrics": old,
        "thresholds": vars(cfg.gate),
    }
    _record(report, run["run_id"], name, version)
    return report


def _record(report: dict, run_id: str, name: str, version: str) -> None:
    """Log the verdict and its evidence to the challenger's run and tag its model version."""
    import mlflow
    from mlflow import MlflowClient

    def flat(prefix: str, metrics: dict | None) -> dict[str, float]:
        keys = ("roc_auc", "ece", "log_loss", "profit", "approval_rate")
        return {
            f"{prefix}.{k}": float(metrics[k]) for k in keys if (metrics or {}).get(k) is not None
        }

    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(
            {"gate.passed": float(report["passed"])}
            | flat("gate.challenger", report["challenger_metrics"])
            | flat("gate.champion", report["champion_metrics"])
        )
        mlflow.set_tag("gate", "passed" if report["passed"] else "failed")
        mlflow.log_dict(report, "gate/gate.json")
    client = MlflowClient()
    client.set_model_version_tag(name, version, "gate", "passed" if report["passed"] else "failed")
    client.set_model_version_tag(name, version, "gate_action", report["action"][:250])
    if report["reasons"]:
        client.set_model_version_tag(
            name, version, "gate_reasons", "; ".join(report["reasons"])[:5000]
        )
