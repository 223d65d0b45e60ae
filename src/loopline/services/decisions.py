"""Decisions: the profit-maximising threshold (on valid), rules, reason codes and the review
queue; policy.json beside the model, decisions and plots in the reports. Used by the `policy`
DVC stage.

Rules and amounts use the validated values (split table), not the clipped model inputs:
a 16-year-old must be declined as 16, whatever the model's clipping made of the age."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from loopline import policy, train
from loopline.config import Config
from loopline.evaluate import json_safe
from loopline.features import model_frame
from loopline.io import read_table, write_table
from loopline.io.artifacts import ModelDir
from loopline.split import SPLIT, TARGET

log = logging.getLogger(__name__)


def choose_policy(cfg: Config) -> dict:
    """Choose the threshold, decide the test rows, write the policy and its evidence; return the
    summary (reports/<dataset>/policy.json)."""
    model_dir = ModelDir(Path(cfg.paths.model_dir), cfg.artifacts)
    reports = Path(cfg.paths.reports)
    p, amount_col = cfg.policy, cfg.dataset.amount_column
    spec = model_dir.read_spec()
    booster = model_dir.load_booster()
    frame = read_table(cfg.paths.features, columns=[*spec.feature_names, SPLIT, TARGET])
    raw = read_table(cfg.paths.split)
    scored, curves = {}, []
    for name in ("valid", "test"):
        mask = (frame[SPLIT] == name).to_numpy()
        x = model_frame(frame[mask], spec)
        y, score = frame.loc[mask, TARGET].to_numpy(), train.predict(booster, x)
        amount = raw.loc[mask, amount_col].to_numpy(dtype="float64") if amount_col else None
        curve = policy.profit_curve(
            y, score, amount, p.profit_good, p.loss_default, p.threshold_grid
        )
        curves.append(curve.assign(split=name))
        scored[name] = (raw[mask], x, y, score, amount)
    threshold = policy.best_threshold(curves[0])
    rows, x, y, score, amount = scored["test"]
    decisions = policy.decide(score, rows, threshold, p).set_index(rows.index)
    id_col = cfg.dataset.id_column
    table = pd.DataFrame(
        {
            "row": rows.index,
            **({id_col: rows[id_col].to_numpy()} if id_col else {}),
            "score": score,
            "decision": decisions["decision"].to_numpy(),
            "decided_by": decisions["decided_by"].to_numpy(),
            "reasons": policy.explain(
                booster,
                x,
                decisions,
                k=p.reason_codes,
                texts=cfg.dataset.reason_texts,
                approx=p.contributions == "approx",
            ),
        }
    )
    write_table(table, reports / "decisions_test.parquet")
    queue = policy.review_queue(rows, score, decisions, amount, p.loss_default)
    write_table(queue, reports / "review_queue.csv")
    write_table(pd.concat(curves, ignore_index=True), reports / "plots" / "profit.csv")
    confusion = pd.DataFrame(
        {
            "actual": np.where(y == 1, "default", "repaid"),
            "predicted": decisions["decision"].to_numpy(),
        }
    )
    write_table(confusion, reports / "plots" / "confusion.csv")
    doc = policy.policy_document(threshold, p, model_dir.model_sha256(), list(spec.feature_names))
    model_dir.write_policy(doc)
    summary = {"threshold": threshold}
    for name, curve in zip(("valid", "test"), curves, strict=True):
        at = curve.loc[curve["threshold"].sub(threshold).abs().idxmin()]
        summary[name] = {  # the threshold alone (no rules, no review), against approving all
            "profit_at_threshold": float(at["profit"]),
            "approval_rate_at_threshold": float(at["approval_rate"]),
            "profit_approve_all": float(curve["profit"].iloc[-1]),
            "best_profit_any_threshold": float(curve["profit"].max()),
        }
    summary["test"]["decisions"] = policy.policy_summary(y, score, decisions, amount, p)
    return json_safe(summary)
