"""Stage 3, split: join delayed labels, then split out-of-time (or stratified without time).

Only rows whose label has been observed can train or evaluate a model; unlabelled rows stay in
the table (marked `unlabeled`) because per-customer history features still need them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DatasetConfig, SplitConfig
from loopline.ingest import AS_OF
from loopline.labels import conflicting_ids, outcome

TARGET = "_target"  # 1.0 positive, 0.0 negative, NaN not yet observed
# when a label became known: the arrival of its batch (the end of the period its file name
# carries), never before its own observation time. Point-in-time features count a label only
# from then on; "observed before the application" still compares the observation time.
LABEL_TIME = "_label_known_at"
SPLIT = "split"


def join_labels(
    apps: pd.DataFrame, labels: pd.DataFrame | None, dataset: DatasetConfig
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return applications with their label and label time, plus counts of labels not used.

    Every label row is accounted for once: conflicting labels for one id are all dropped
    (counted as rows and as ids), repeated identical labels keep the earliest, labels for
    unknown ids and labels observed before the application are counted, never silently kept.
    """
    out = apps.copy()
    if labels is None:  # the target is a column of the rows
        out[TARGET] = outcome(out[dataset.target], dataset.positive_label)
        out[LABEL_TIME] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
        return out, {"labels_in": int(out[dataset.target].notna().sum())}
    key, observed = dataset.id_column, dataset.labels.observed_at
    report = {"labels_in": len(labels)}
    labels = labels.sort_values(observed, kind="stable")
    # conflicts by value ("1" and "1.0" agree), within a batch or across batches alike
    conflicted = conflicting_ids(labels[key], labels[dataset.target])
    # set lookups: pandas' isin on arrow strings loops in Python (8 s at a million ids)
    hit = _member(labels[key], conflicted)
    report["conflicting_ids"] = len(conflicted)
    report["conflicting_labels"] = int(hit.sum())
    labels = labels[~hit]
    report["duplicate_labels"] = int(labels[key].duplicated().sum())
    labels = labels.drop_duplicates(key, keep="first")
    known = pd.Series(
        _member(labels[key], set(out[key].dropna().to_numpy(dtype=object))), index=labels.index
    )
    report["unknown_ids"] = int((~known).sum())
    labels = labels[known].set_index(key)
    seen_at = out[key].map(labels[observed]).astype("datetime64[ns]")
    out[LABEL_TIME] = out[key].map(known_at(labels, observed)).astype("datetime64[ns]")
    value = out[key].map(labels[dataset.target])
    report["observed_before_application"] = 0
    if dataset.time_column:
        early = seen_at.notna() & (seen_at < out[dataset.time_column])
        report["observed_before_application"] = int(early.sum())
        out.loc[early, LABEL_TIME] = pd.NaT
        value = value.mask(early)
    out[TARGET] = outcome(value, dataset.positive_label)
    report["labelled_rows"] = int(out[TARGET].notna().sum())
    return out, report


def known_at(labels: pd.DataFrame, observed: str) -> pd.Series:
    """Return when each label became known: its batch's end of period (`_as_of`, set at
    ingestion from the file name) when later than its observation, else the observation."""
    seen = labels[observed].astype("datetime64[ns]")
    if AS_OF not in labels.columns:
        return seen
    arrived = labels[AS_OF].astype("datetime64[ns]")
    return seen.where(arrived.isna() | (arrived <= seen), arrived)


def _member(values: pd.Series, members: set) -> np.ndarray:
    """values[i] in members, per row, as a boolean array."""
    return np.fromiter(
        (v in members for v in values.to_numpy(dtype=object)), dtype=bool, count=len(values)
    )


def assign_split(
    frame: pd.DataFrame, *, time_column: str | None, cfg: SplitConfig, seed: int
) -> pd.Series:
    """Return train/valid/test/unlabeled per row: by time when there is a time column."""
    split = pd.Series("unlabeled", index=frame.index, dtype="str")
    labelled = frame.index[frame[TARGET].notna()]
    n = len(labelled)
    if n < 10:
        raise ValueError(f"only {n} labelled rows: too few to split into train/valid/test")
    n_test = round(n * cfg.test_fraction)
    n_valid = round(n * cfg.valid_fraction)
    if time_column and (cfg.test_days or cfg.valid_days):
        return _split_by_days(frame, labelled, time_column, cfg, split)
    if time_column:
        ordered = frame.loc[labelled].sort_values(time_column, kind="stable").index
        split.loc[ordered[: n - n_valid - n_test]] = "train"
        split.loc[ordered[n - n_valid - n_test : n - n_test]] = "valid"
        split.loc[ordered[n - n_test :]] = "test"
        return split
    from sklearn.model_selection import train_test_split  # ~0.7 s to import: only when random

    y = frame.loc[labelled, TARGET]
    rest, test = train_test_split(labelled, test_size=n_test, stratify=y, random_state=seed)
    train, valid = train_test_split(
        rest, test_size=n_valid, stratify=y.loc[rest], random_state=seed
    )
    split.loc[train], split.loc[valid], split.loc[test] = "train", "valid", "test"
    return split


def _split_by_days(
    frame: pd.DataFrame, labelled: pd.Index, time_column: str, cfg: SplitConfig, split: pd.Series
) -> pd.Series:
    """Test = the last `test_days` of labelled applications, valid = the `valid_days` before."""
    if not (cfg.test_days and cfg.valid_days):
        raise ValueError("split.test_days and split.valid_days go together: set both or neither")
    times = frame.loc[labelled, time_column]
    test_from = times.max() - pd.Timedelta(days=cfg.test_days)
    valid_from = test_from - pd.Timedelta(days=cfg.valid_days)
    split.loc[labelled] = np.where(
        times > test_from, "test", np.where(times > valid_from, "valid", "train")
    )
    counts = split.loc[labelled].value_counts()
    for name in ("train", "valid", "test"):
        if counts.get(name, 0) < 10:
            raise ValueError(
                f"split by days leaves {counts.get(name, 0)} labelled rows in {name}: "
                "shorten split.test_days / split.valid_days"
            )
    return split


def split_report(frame: pd.DataFrame, time_column: str | None) -> dict[str, Any]:
    """Return rows, positive rate and time range per split."""
    report: dict[str, Any] = {}
    for name, part in frame.groupby(SPLIT):
        entry: dict[str, Any] = {"rows": len(part)}
        if part[TARGET].notna().any():
            entry["positive_rate"] = round(float(part[TARGET].mean()), 5)
        if time_column:
            entry["from"] = str(part[time_column].min())
            entry["to"] = str(part[time_column].max())
        report[str(name)] = entry
    return report
