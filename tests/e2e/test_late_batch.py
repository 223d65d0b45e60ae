"""A batch a user adds late (an earlier month) is kept, ingested alone and lands in time order:
the pipeline never deletes data a user put in; a re-sent copy never replaces rows already
validated, whatever its file name (issue 10)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from .conftest import Repo, ran_stages

pytestmark = pytest.mark.slow


def test_a_late_batch_for_an_earlier_month_is_kept_and_ingested_alone(tiny_repo: Repo) -> None:
    repo = tiny_repo
    before = pd.read_parquet(repo.path / "data/processed/loans/features.parquet")
    source = repo.path / "data/raw/loans/simulated/applications/2024-02_api.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()[:40]]
    records = [r for r in records if r.get("customer_id") and r.get("application_id")][:30]
    for i, record in enumerate(records):
        record["application_id"] = f"LATE{i:04d}"
    late = repo.path / "data/raw/loans/incoming/applications/2024-02_late_api.jsonl"
    late.parent.mkdir(parents=True)
    late.write_text("\n".join(json.dumps(r) for r in records) + "\n")

    result = repo.repro()
    assert late.exists(), "dvc repro deleted a batch the user added"
    assert late.read_text().count("LATE") == len(records)
    assert "simulate" not in ran_stages(result.stdout)
    assert "1 new or changed" in result.stdout + result.stderr
    manifest = json.loads((repo.path / "data/interim/loans/validated/_manifest.json").read_text())
    report = manifest["partitions"]["incoming/applications/2024-02_late_api.jsonl"]["report"]
    assert report["rows_in"] == len(records)

    split = pd.read_parquet(repo.path / "data/processed/loans/split.parquet")
    rows = split[split["application_id"].str.startswith("LATE")]
    assert len(rows) == report["accepted"] > 0
    assert split["applied_at"].is_monotonic_increasing, "late rows land in time order"

    after = pd.read_parquet(repo.path / "data/processed/loans/features.parquet")
    keep = ["application_id", "customer_id", "applied_at", "prior_apps_90d"]
    joined = before[keep].merge(after[keep], on=["application_id", "customer_id", "applied_at"])
    late_times = rows.groupby("customer_id")["applied_at"].min()
    window = pd.Timedelta(days=90)
    first_late = joined["customer_id"].map(late_times)
    affected = (joined["applied_at"] > first_late) & (joined["applied_at"] <= first_late + window)
    grew = joined["prior_apps_90d_y"] - joined["prior_apps_90d_x"]
    assert affected.any(), "no later application of these customers to check"
    assert (grew[affected] >= 1).all(), "later rows count the late applications they follow"
    assert (grew[joined["customer_id"].map(late_times).isna()] == 0).all(), "others unchanged"

    # a re-sent copy of the first month, in a folder that sorts before the simulator's
    original = repo.path / "data/raw/loans/simulated/applications/2024-01_api.jsonl"
    copy = repo.path / "data/raw/loans/incoming/applications/2024-01_api.jsonl"
    copy.write_text(original.read_text())
    accepted_before = manifest["partitions"]["simulated/applications/2024-01_api.jsonl"]
    repo.repro()
    manifest = json.loads((repo.path / "data/interim/loans/validated/_manifest.json").read_text())
    resent = manifest["partitions"]["incoming/applications/2024-01_api.jsonl"]["report"]
    first = manifest["partitions"]["simulated/applications/2024-01_api.jsonl"]
    assert first["report"] == accepted_before["report"], "the earlier arrival keeps its rows"
    assert resent["accepted"] == 0
    assert resent["rules"].get("application_id:duplicate_of_earlier_batch", 0) > 0
    split = pd.read_parquet(repo.path / "data/processed/loans/split.parquet")
    assert not split["_source_file"].str.startswith("incoming/applications/2024-01").any()

    # a label batch with two different labels for one application (a conflict inside one
    # file) and the same label twice for another: both reach the split and are counted
    labelled = split[split["_target"].notna()].set_index("application_id")
    first_id, second_id = labelled.index[:2]
    kept = int(labelled.loc[second_id, "_target"])
    when = labelled["applied_at"].max() + pd.Timedelta(days=3)
    day = when.strftime("%Y-%m-%dT%H:%M:%S")
    labels = repo.path / f"data/raw/loans/incoming/labels/{when:%Y-%m}_corrections.csv"
    labels.parent.mkdir(parents=True)
    labels.write_text(
        "application_id,defaulted,observed_at\n"
        f"{first_id},1,{day}\n"
        f"{first_id},0,{day}\n"
        f"{second_id},{kept},{day}\n"
        f"{second_id},{kept},{day}\n"
    )
    repo.repro()
    report = json.loads((repo.path / "reports/loans/split.json").read_text())["labels"]
    counted = (
        "conflicting_labels",
        "duplicate_labels",
        "unknown_ids",
        "observed_before_application",
        "labelled_rows",
    )
    assert sum(report[k] for k in counted) == report["labels_in"], report
    split = pd.read_parquet(repo.path / "data/processed/loans/split.parquet").set_index(
        "application_id"
    )
    assert pd.isna(split.loc[first_id, "_target"]), "a conflicted label must not be trained on"
    assert split.loc[second_id, "_target"] == kept, "identical labels are a duplicate"
    assert report["conflicting_ids"] >= 1 and report["duplicate_labels"] >= 2, report
