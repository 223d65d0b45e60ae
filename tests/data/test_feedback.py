"""Feedback: delayed labels validated, joined to the prediction log, published once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from loopline import feedback
from loopline.config import DatasetConfig, to_config
from loopline.io import DataFileError, read_table
from loopline.params import compose
from loopline.validate import REASONS

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["application_id", "customer_id", "applied_at", "loan_amount", "age"]


@pytest.fixture(scope="module")
def loans() -> DatasetConfig:
    return to_config(compose(root=ROOT)).dataset


def served_log(n: int = 6) -> pd.DataFrame:
    """A prediction log as read_log returns it: batch rows (typed) and a REST row (text time)."""
    times = pd.date_range("2025-01-05 10:00", periods=n, freq="D")
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "logged_at": pd.Series(times, dtype="datetime64[ns]").dt.tz_localize("UTC"),
            "source": "batch",
            "model_version": "1",
            "bundle_id": "b1",
            "score": [0.1 * (i + 1) for i in range(n)],
            "decision": ["approve"] * (n - 1) + ["decline"],
            "input.application_id": [f"A{i}" for i in range(n)],
            "input.customer_id": [f"C{i % 3}" for i in range(n)],
            "input.applied_at": pd.Series(times, dtype="object"),
            "input.loan_amount": [1000.0 * (i + 1) for i in range(n)],
            "input.age": [30 + i for i in range(n)],
        }
    )
    frame.loc[n - 1, "input.applied_at"] = times[-1].strftime("%Y-%m-%dT%H:%M:%S")  # REST row
    frame.loc[n - 1, "source"] = "rest"
    return frame


def write_labels(path: Path, rows: list[tuple[str, object, str]]) -> Path:
    lines = ["application_id,defaulted,observed_at"] + [f"{a},{b},{c}" for a, b, c in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest(path: Path, root: Path, loans: DatasetConfig, **kw) -> feedback.FeedbackResult:
    return feedback.ingest_feedback(
        path, dataset=loans, log=served_log(), root=root, schema_columns=COLUMNS, **kw
    )


def test_labels_join_the_log_and_every_rejection_has_a_reason(tmp_path, loans):
    labels = write_labels(
        tmp_path / "2025-04.csv",
        [
            ("A0", 0, "2025-04-01T00:00:00"),
            ("A1", 1, "2025-04-02T00:00:00"),
            ("A5", 0, "2025-04-02T00:00:00"),  # served over REST (text time in the log)
            ("ZZZ", 1, "2025-04-03T00:00:00"),  # never served
            ("A2", 0, "2025-04-03T00:00:00"),  # conflicting outcomes in the same batch
            ("A2", 1, "2025-04-04T00:00:00"),
            ("A3", 7, "2025-04-04T00:00:00"),  # not an allowed outcome
            ("A4", 0, "2025-01-01T00:00:00"),  # observed before the application
        ],
    )
    result = ingest(labels, tmp_path / "fb", loans)
    report = result.report
    assert not result.already_ingested
    assert report["rows_in"] == 8 and report["kept"] == 3 and report["rejected"] == 5
    assert report["reasons"] == {
        "application_id:unknown_application": 1,
        "defaulted:conflicting_in_batch": 2,
        "defaulted:not_allowed": 1,
        "observed_at:before_application": 1,
    }
    kept = read_table(result.partition / "predictions.parquet")
    assert sorted(kept["application_id"]) == ["A0", "A1", "A5"]
    assert kept.set_index("application_id").loc["A1", "score"] == pytest.approx(0.2)
    assert kept.set_index("application_id").loc["A5", "decision"] == "decline"
    assert kept["applied_at"].notna().all()
    rejected = read_table(result.partition / "rejected.parquet")
    assert len(rejected) == 5 and rejected[REASONS].notna().all()
    # served applications up to the last observation are carried, labelled or not
    apps = read_table(result.partition / "applications.parquet")
    assert sorted(apps["application_id"]) == [f"A{i}" for i in range(6)]
    assert list(apps.columns) == COLUMNS
    assert result.partition.name.startswith("2025-04_")


def test_the_same_batch_twice_changes_nothing(tmp_path, loans):
    labels = write_labels(tmp_path / "l.csv", [("A0", 0, "2025-04-01T00:00:00")])
    first = ingest(labels, tmp_path / "fb", loans)
    before = sorted(p.name for p in (tmp_path / "fb").iterdir())
    again = ingest(labels, tmp_path / "fb", loans)
    assert again.already_ingested and again.partition == first.partition
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == before


def test_labels_that_contradict_or_repeat_earlier_feedback_are_rejected(tmp_path, loans):
    root = tmp_path / "fb"
    ingest(write_labels(tmp_path / "a.csv", [("A0", 0, "2025-04-01T00:00:00")]), root, loans)
    second = ingest(
        write_labels(
            tmp_path / "b.csv",
            [("A0", 1, "2025-05-01T00:00:00"), ("A1", 0, "2025-05-01T00:00:00")],
        ),
        root,
        loans,
    )
    third = ingest(
        write_labels(tmp_path / "c.csv", [("A1", 0, "2025-06-01T00:00:00")]), root, loans
    )
    assert second.report["reasons"] == {"defaulted:conflicts_with_earlier_feedback": 1}
    assert third.report["reasons"] == {"application_id:duplicate_of_earlier_feedback": 1}
    # applications already carried by an earlier partition are not carried again
    carried = [len(read_table(p / "applications.parquet")) for p in feedback.partitions(root)]
    assert sum(carried) == 6
    assert set(feedback.realised(root)["application_id"]) == {"A0", "A1"}


def test_labels_of_history_applications_are_kept_without_a_prediction(tmp_path, loans):
    labels = write_labels(tmp_path / "l.csv", [("H1", 1, "2025-04-01T00:00:00")])
    result = ingest(labels, tmp_path / "fb", loans, history={"H1": pd.Timestamp("2025-03-01")})
    assert result.report["kept"] == 1
    kept = read_table(result.partition / "predictions.parquet")
    assert kept["score"].isna().all()
    assert kept["applied_at"].tolist() == [pd.Timestamp("2025-03-01")]


def test_a_history_label_observed_before_its_application_is_rejected(tmp_path, loans):
    """Known from the pipeline's history rather than the log, the rule still holds (issue 10)."""
    labels = write_labels(tmp_path / "l.csv", [("H1", 1, "2025-02-01T00:00:00")])
    result = ingest(labels, tmp_path / "fb", loans, history={"H1": pd.Timestamp("2025-03-01")})
    assert result.report["kept"] == 0
    assert result.report["reasons"] == {"observed_at:before_application": 1}


def test_empty_file_and_dataset_without_delayed_labels_fail_clearly(tmp_path, loans):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFileError, match="empty"):
        ingest(empty, tmp_path / "fb", loans)
    census = to_config(compose(["dataset=census"], root=ROOT)).dataset
    labels = write_labels(tmp_path / "l.csv", [("A0", 0, "2025-04-01T00:00:00")])
    with pytest.raises(DataFileError, match="no delayed labels"):
        feedback.ingest_feedback(
            labels, dataset=census, log=served_log(), root=tmp_path / "fb", schema_columns=[]
        )
    assert not (tmp_path / "fb").exists() or not feedback.partitions(tmp_path / "fb")


def test_a_batch_with_no_valid_label_publishes_nothing(tmp_path, loans):
    """No empty partition for `dvc add` to track; every row still has its reason (issue 10)."""
    labels = write_labels(
        tmp_path / "2025-05.csv",
        [("ZZZ", 1, "2025-04-03T00:00:00"), ("A3", 7, "2025-04-04T00:00:00")],
    )
    result = ingest(labels, tmp_path / "fb", loans)
    assert result.partition is None
    assert result.report["kept"] == 0 and result.report["rejected"] == 2
    assert not (tmp_path / "fb").exists() or not any((tmp_path / "fb").iterdir())


def test_a_published_partition_is_readable_by_others(tmp_path, loans):
    """mkdtemp's private 0700 must not leak into the published folder."""
    import os

    labels = write_labels(tmp_path / "2025-04.csv", [("A0", 0, "2025-04-01T00:00:00")])
    old = os.umask(0o022)
    try:
        result = ingest(labels, tmp_path / "fb", loans)
    finally:
        os.umask(old)
    assert result.partition.stat().st_mode & 0o777 == 0o755
