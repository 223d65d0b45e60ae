"""`loopline loop` end to end: serve, feed back, monitor, retrain through `dvc repro`, gate.

The tiny configuration for three periods, with monitoring told to recommend retraining as soon
as enough labels of the champion's own traffic have arrived (`auc_drop=-1`, `auc_z=-10`: any
realised AUC counts as decayed), so that one retrain happens deterministically and its
`dvc repro` can be inspected.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ROOT, Repo

pytestmark = pytest.mark.slow

DATA_STAGES = {"ingest", "validate", "split", "preprocess", "features"}
MODEL_STAGES = {"train", "evaluate", "policy", "bundle", "track", "gate", "monitor"}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("loop")
    work, out = base / "work", base / "out"
    Repo(ROOT).run(
        "loopline",
        "loop",
        "--periods",
        "3",
        "--drift-at",
        "2",
        "--experiment",
        "tiny",
        "--workdir",
        str(work),
        "--out",
        str(out),
        "--set",
        "monitor.min_labels=50",
        "--set",
        "monitor.thresholds.auc_drop=-1",
        "--set",
        "monitor.thresholds.auc_z=-10",
    )
    return work, out, json.loads((out / "loop.json").read_text())


def test_the_loop_writes_a_timeline_for_both_arms(loop) -> None:
    _, out, summary = loop
    table = pd.read_csv(out / "timeline.csv")
    assert list(table["period"]) == [1, 2, 3]
    assert (table["served"] > 300).all()
    for column in ("retrain_auc", "control_auc", "retrain_profit", "control_profit", "verdict"):
        assert table[column].notna().all(), column
    assert table["labels_fed"].sum() > 0
    assert (out / "timeline.png").stat().st_size > 10_000
    assert summary["retrains"] >= 1 and summary["drift_at"] == 2
    assert summary["pre_shift_auc"] is not None


def test_a_retrain_reruns_only_what_the_new_partitions_affect(loop) -> None:
    _, _, summary = loop
    first, retrain = summary["stage_runs"][0], summary["stage_runs"][1]
    assert "simulate" in first["ran"]
    ran, skipped = set(retrain["ran"]), set(retrain["skipped"])
    assert "simulate" in skipped and "simulate" not in ran
    assert ran >= DATA_STAGES | MODEL_STAGES
    # per-batch stages processed only the new feedback partitions' batches
    for stage in ("ingest", "validate"):
        work = retrain["batches"][stage]
        assert 0 < work["processed"] <= 6, work  # two files (applications, labels) a period
        assert work["current"] == first["batches"][stage]["batches"]


def test_the_retrained_model_went_through_the_gate(loop) -> None:
    work, _, summary = loop
    gate = json.loads((work / "reports/loans/gate.json").read_text())  # the latest retrain's
    assert gate["challenger"] != "1" and gate["champion_metrics"] is not None
    assert {c["check"] for c in gate["checks"]} >= {"min_auc", "auc_gain", "slices"}
    if gate["passed"]:
        assert gate["champion_after"] == gate["challenger"]
        assert summary["promotions"]
    else:
        assert gate["champion_after"] == gate["champion_before"]


def test_every_period_has_a_monitoring_report(loop) -> None:
    work, _, _ = loop
    for period in (1, 2, 3):
        folder = work / "reports/loop" / f"period_{period:02d}"
        report = json.loads((folder / "monitoring.json").read_text())
        assert report["verdict"]["status"] in {"healthy", "retrain", "insufficient_data"}
        assert "<svg" in (folder / "monitoring.html").read_text()
    feedback = sorted((work / "data/feedback/loans").glob("*.dvc"))
    assert feedback, "each feedback partition is tracked by DVC"


@pytest.mark.browser
def test_a_real_monitoring_page_renders_in_headless_chromium(loop, tmp_path: Path) -> None:
    from tests.unit.test_report import chromium, run_chromium

    work, _, _ = loop
    folder = work / "reports/loop/period_03"
    verdict = json.loads((folder / "monitoring.json").read_text())["verdict"]["status"]
    dom = run_chromium(
        chromium(), tmp_path / "profile", "--dump-dom", (folder / "monitoring.html").as_uri()
    )
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    text = dom.stdout.decode()
    assert text.count("<svg") >= 4
    assert {"healthy": "Healthy", "retrain": "Retrain", "insufficient_data": "nsufficient"}[
        verdict
    ] in text


def test_feedback_and_monitor_commands_in_the_loop_workspace(loop, tmp_path: Path) -> None:
    from loopline.io.predlog import read_log

    work, _, _ = loop
    repo = Repo(work)
    served = read_log(work / "data/predictions/loans").frame["input.application_id"].astype(str)
    fed = set(
        pd.concat(
            pd.read_parquet(p) for p in (work / "data/feedback/loans").glob("*/labels.parquet")
        )["application_id"].astype(str)
    )
    fresh = [i for i in served if i not in fed][:5]
    labels = tmp_path / "late.csv"
    rows = [f"{i},0,2026-01-01T00:00:00" for i in fresh] + ["NOT-SERVED,1,2026-01-01T00:00:00"]
    labels.write_text("application_id,defaulted,observed_at\n" + "\n".join(rows) + "\n")
    first = repo.run("loopline", "feedback", str(labels), check=False)
    assert first.returncode == 1, first.stderr  # one label rejected
    assert "6 labels, 5 kept, 1 rejected" in first.stdout
    assert "application_id:unknown_application" in first.stdout
    assert "tracked by DVC" in first.stdout
    again = repo.run("loopline", "feedback", str(labels))
    assert "already fed back" in again.stdout
    status = repo.run("dvc", "status").stdout
    assert "ingest" in status  # the new partition is a changed dependency of ingest
    report = repo.run("loopline", "monitor", check=False)
    assert report.returncode in (0, 3), report.stderr
    assert "verdict:" in report.stdout
    assert (work / "reports/loans/monitoring.html").exists()
    bad = repo.run("loopline", "feedback", str(tmp_path / "missing.csv"), check=False)
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr
