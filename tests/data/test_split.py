"""Tests for loopline.split: joining delayed labels and the out-of-time / stratified split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopline.config import DatasetConfig, LabelsConfig, SplitConfig
from loopline.split import LABEL_TIME, SPLIT, TARGET, assign_split, join_labels, split_report

LOANS = DatasetConfig(
    id_column="id",
    entity_column="customer",
    time_column="at",
    target="defaulted",
    positive_label=1,
    target_values=[0, 1],
    labels=LabelsConfig(observed_at="observed_at"),
)
CENSUS = DatasetConfig(
    name="census",
    target="income",
    positive_label=">50K",
    target_values=[">50K", "<=50K"],
    labels=None,
)


def _apps(ids: list[str], at: str | list[str] = "2024-01-10") -> pd.DataFrame:
    times = [at] * len(ids) if isinstance(at, str) else at
    return pd.DataFrame({"id": ids, "at": pd.to_datetime(times)}).astype({"id": "str"})


def _labels(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["id", "defaulted", "observed_at"])
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    return frame.astype({"id": "str", "defaulted": "str"})


def _joined(apps: pd.DataFrame, labels: pd.DataFrame) -> tuple[dict, dict, dict]:
    out, report = join_labels(apps, labels, LOANS)
    target = dict(zip(out["id"], out[TARGET], strict=True))
    seen = dict(zip(out["id"], out[LABEL_TIME], strict=True))
    return target, seen, report


# --- join_labels --------------------------------------------------------------------------


def test_labels_are_joined_with_their_time() -> None:
    target, seen, report = _joined(
        _apps(["a", "b", "c"]),
        _labels([("a", "1", "2024-03-01"), ("b", "0", "2024-04-01")]),
    )
    assert target["a"] == 1.0
    assert target["b"] == 0.0
    assert np.isnan(target["c"])
    assert seen["a"] == pd.Timestamp("2024-03-01")
    assert pd.isna(seen["c"])
    assert report == {
        "labels_in": 2,
        "conflicting_ids": 0,
        "conflicting_labels": 0,
        "duplicate_labels": 0,
        "unknown_ids": 0,
        "observed_before_application": 0,
        "labelled_rows": 2,
    }


def test_conflicting_labels_are_all_dropped_and_counted() -> None:
    target, seen, report = _joined(
        _apps(["a", "b"]),
        _labels([("a", "1", "2024-03-01"), ("a", "0", "2024-03-05"), ("b", "1", "2024-03-01")]),
    )
    assert np.isnan(target["a"])
    assert pd.isna(seen["a"])
    assert target["b"] == 1.0
    assert report["conflicting_ids"] == 1
    assert report["labelled_rows"] == 1


ACCOUNTED = (
    "conflicting_labels",
    "duplicate_labels",
    "unknown_ids",
    "observed_before_application",
    "labelled_rows",
)


def test_every_label_row_is_accounted_for_once() -> None:
    """Two different labels for one id in one batch are a conflict, counted as rows: the
    counts add up to labels_in (issue 10: 2,003 in, 2,001 accounted)."""
    _, _, report = _joined(
        _apps(["a", "b", "c"], ["2024-01-10", "2024-01-10", "2024-03-10"]),
        _labels(
            [
                ("a", "1", "2024-03-01"),
                ("a", "0", "2024-03-01"),
                ("a", "1.0", "2024-03-02"),
                ("b", "0", "2024-03-01"),
                ("b", "0.0", "2024-03-04"),  # the same outcome spelt otherwise: a duplicate
                ("c", "1", "2024-03-01"),  # before its application
                ("zz", "1", "2024-03-01"),
            ]
        ),
    )
    assert report["conflicting_ids"] == 1
    assert report["conflicting_labels"] == 3
    assert report["duplicate_labels"] == 1
    assert sum(report[k] for k in ACCOUNTED) == report["labels_in"] == 7


def test_a_label_counts_from_when_its_batch_arrived() -> None:
    """Point in time: a label observed on 5 March in the March batch is known on 1 April."""
    labels = _labels([("a", "1", "2024-03-05"), ("b", "1", "2024-03-05")])
    labels["_as_of"] = pd.to_datetime(["2024-04-01", "2024-03-01"])  # b: a stale period name
    out, report = join_labels(_apps(["a", "b"], "2024-02-01"), labels, LOANS)
    known = dict(zip(out["id"], out[LABEL_TIME], strict=True))
    assert known["a"] == pd.Timestamp("2024-04-01")
    assert known["b"] == pd.Timestamp("2024-03-05"), "never before its own observation"
    assert report["observed_before_application"] == 0


def test_duplicate_identical_labels_keep_the_earliest() -> None:
    target, seen, report = _joined(
        _apps(["a"]),
        _labels([("a", "0", "2024-05-01"), ("a", "0", "2024-03-01"), ("a", "0", "2024-04-01")]),
    )
    assert target["a"] == 0.0
    assert seen["a"] == pd.Timestamp("2024-03-01")
    assert report["duplicate_labels"] == 2
    assert report["conflicting_ids"] == 0


def test_labels_for_unknown_ids_are_counted() -> None:
    out, report = join_labels(
        _apps(["a"]), _labels([("a", "1", "2024-03-01"), ("zz", "1", "2024-03-01")]), LOANS
    )
    assert len(out) == 1
    assert report["unknown_ids"] == 1
    assert report["labelled_rows"] == 1


def test_label_observed_before_the_application_is_dropped() -> None:
    target, seen, report = _joined(
        _apps(["a", "b"], ["2024-03-10", "2024-03-10"]),
        _labels([("a", "1", "2024-03-09"), ("b", "1", "2024-03-10")]),
    )
    assert np.isnan(target["a"])
    assert pd.isna(seen["a"])
    assert target["b"] == 1.0  # observed at the application's own time is allowed
    assert report["observed_before_application"] == 1
    assert report["labelled_rows"] == 1


def test_join_keeps_rows_and_does_not_change_the_input() -> None:
    apps = _apps(["a", "b"])
    before = apps.copy()
    out, _ = join_labels(apps, _labels([("a", "1", "2024-03-01")]), LOANS)
    pd.testing.assert_frame_equal(apps, before)
    assert out["id"].tolist() == ["a", "b"]
    assert out[LABEL_TIME].dtype == "datetime64[ns]"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([">50K", "<=50K", None], [1.0, 0.0, np.nan]),
        (["<=50K", "<=50K"], [0.0, 0.0]),
    ],
)
def test_inline_string_target(values: list, expected: list[float]) -> None:
    apps = pd.DataFrame({"age": range(len(values)), "income": values}).astype({"income": "str"})
    out, report = join_labels(apps, None, CENSUS)
    np.testing.assert_array_equal(out[TARGET].to_numpy(), expected)
    assert out[LABEL_TIME].isna().all()
    assert report == {"labels_in": sum(v is not None for v in values)}


# --- assign_split -------------------------------------------------------------------------


def _frame(n: int, *, unlabelled: int = 0, positive_rate: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), "s")
    target = (rng.random(n) < positive_rate).astype(float)
    target[rng.choice(n, unlabelled, replace=False)] = np.nan
    return pd.DataFrame({"at": times, TARGET: target}, index=rng.permutation(n) + 100)


def test_out_of_time_split_orders_train_valid_test() -> None:
    frame = _frame(400, unlabelled=40)
    frame[SPLIT] = assign_split(frame, time_column="at", cfg=SplitConfig(0.15, 0.15), seed=1)
    times = {name: part["at"] for name, part in frame.groupby(SPLIT)}
    assert times["train"].max() <= times["valid"].min()
    assert times["valid"].max() <= times["test"].min()
    assert (frame.loc[frame[TARGET].isna(), SPLIT] == "unlabeled").all()
    assert (frame.loc[frame[TARGET].notna(), SPLIT] != "unlabeled").all()
    counts = frame[SPLIT].value_counts().to_dict()
    assert counts == {"train": 252, "valid": 54, "test": 54, "unlabeled": 40}  # of 360 labelled


def test_split_by_days_keeps_recent_months_out_of_train_only_as_far_as_asked() -> None:
    frame = _frame(2000, unlabelled=100)
    cfg = SplitConfig(valid_days=30, test_days=45)
    frame[SPLIT] = assign_split(frame, time_column="at", cfg=cfg, seed=0)
    labelled = frame[frame[TARGET].notna()]
    newest = labelled["at"].max()
    test, valid = labelled[labelled[SPLIT] == "test"], labelled[labelled[SPLIT] == "valid"]
    assert test["at"].min() > newest - pd.Timedelta(days=45)
    assert valid["at"].min() > newest - pd.Timedelta(days=75)
    assert valid["at"].max() <= newest - pd.Timedelta(days=45)
    assert labelled.loc[labelled[SPLIT] == "train", "at"].max() <= valid["at"].min()
    with pytest.raises(ValueError, match="go together"):
        assign_split(frame, time_column="at", cfg=SplitConfig(test_days=45), seed=0)
    with pytest.raises(ValueError, match="shorten"):
        assign_split(frame, time_column="at", cfg=SplitConfig(valid_days=10, test_days=400), seed=0)


def test_out_of_time_split_with_tied_times() -> None:
    frame = pd.DataFrame(
        {"at": pd.to_datetime(["2024-01-01"] * 10 + ["2024-02-01"] * 10), TARGET: [0.0, 1.0] * 10}
    )
    frame[SPLIT] = assign_split(frame, time_column="at", cfg=SplitConfig(0.25, 0.25), seed=0)
    order = {"train": 0, "valid": 1, "test": 2}
    ranks = frame.sort_values("at", kind="stable")[SPLIT].map(order)
    assert ranks.is_monotonic_increasing
    assert frame[SPLIT].value_counts().to_dict() == {"train": 10, "valid": 5, "test": 5}


@pytest.mark.parametrize(("valid", "test"), [(0.15, 0.15), (0.1, 0.2), (0.3, 0.1)])
def test_split_fractions_follow_config(valid: float, test: float) -> None:
    frame = _frame(1000, unlabelled=100)
    split = assign_split(frame, time_column="at", cfg=SplitConfig(valid, test), seed=0)
    shares = split[split != "unlabeled"].value_counts(normalize=True)
    assert shares["valid"] == pytest.approx(valid, abs=0.002)
    assert shares["test"] == pytest.approx(test, abs=0.002)
    assert shares["train"] == pytest.approx(1 - valid - test, abs=0.002)


def test_stratified_split_without_time_keeps_positive_rate() -> None:
    frame = _frame(2000, unlabelled=50, positive_rate=0.2, seed=3).drop(columns="at")
    frame[SPLIT] = assign_split(frame, time_column=None, cfg=SplitConfig(0.15, 0.15), seed=7)
    rates = frame[frame[SPLIT] != "unlabeled"].groupby(SPLIT)[TARGET].mean()
    overall = frame[TARGET].mean()
    for name in ("train", "valid", "test"):
        assert rates[name] == pytest.approx(overall, abs=0.01), name
    assert (frame.loc[frame[TARGET].isna(), SPLIT] == "unlabeled").all()
    shares = frame.loc[frame[TARGET].notna(), SPLIT].value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.15, abs=0.002)


def test_stratified_split_is_reproducible_by_seed() -> None:
    frame = _frame(300).drop(columns="at")
    first = assign_split(frame, time_column=None, cfg=SplitConfig(), seed=5)
    again = assign_split(frame, time_column=None, cfg=SplitConfig(), seed=5)
    other = assign_split(frame, time_column=None, cfg=SplitConfig(), seed=6)
    pd.testing.assert_series_equal(first, again)
    assert not first.equals(other)


@pytest.mark.parametrize("labelled", [0, 1, 9])
def test_too_few_labelled_rows(labelled: int) -> None:
    frame = _frame(30, unlabelled=30 - labelled)
    with pytest.raises(ValueError, match=f"only {labelled} labelled rows: too few"):
        assign_split(frame, time_column="at", cfg=SplitConfig(), seed=0)


def test_split_report() -> None:
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-01", "2024-03-01"]),
            TARGET: [1.0, 0.0, 1.0, np.nan],
            SPLIT: ["train", "train", "test", "unlabeled"],
        }
    )
    report = split_report(frame, "at")
    assert report["train"] == {
        "rows": 2,
        "positive_rate": 0.5,
        "from": "2024-01-01 00:00:00",
        "to": "2024-01-02 00:00:00",
    }
    assert report["test"]["positive_rate"] == 1.0
    assert "positive_rate" not in report["unlabeled"]
