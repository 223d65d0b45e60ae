"""Static figures of a run's evaluation, for MLflow (DVC renders the same data as plots)."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def render(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """Return one figure per plot table present: roc, pr, calibration, profit, importance."""
    out: dict[str, Figure] = {}
    if "roc" in tables:
        fig, ax = _figure("ROC (test)", "false positive rate", "true positive rate")
        ax.plot(tables["roc"]["fpr"], tables["roc"]["tpr"])
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        out["roc"] = fig
    if "pr" in tables:
        fig, ax = _figure("Precision-recall (test)", "recall", "precision")
        ax.plot(tables["pr"]["recall"], tables["pr"]["precision"])
        out["pr"] = fig
    if "calibration" in tables:
        fig, ax = _figure("Calibration (test)", "mean score", "observed default rate")
        cal = tables["calibration"]
        ax.plot(cal["mean_score"], cal["observed_rate"], marker="o")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        out["calibration"] = fig
    if "profit" in tables:
        fig, ax = _figure("Profit by threshold", "threshold (approve score < t)", "profit")
        for split, part in tables["profit"].groupby("split"):
            ax.plot(part["threshold"], part["profit"], label=str(split))
        ax.legend()
        out["profit"] = fig
    if "importance" in tables:
        top = tables["importance"].head(20).iloc[::-1]
        fig, ax = _figure("Feature importance (gain)", "gain", "")
        ax.barh(top["feature"], top["importance"])
        fig.set_size_inches(6, 6)
        fig.tight_layout()
        out["importance"] = fig
    return out
