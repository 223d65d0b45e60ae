"""Labels are outcomes: one rule for whether a label value is the positive class.

Files spell the same outcome many ways: `2`, `2.0` and `"2"`; `1`/`0`, `true`/`false`,
`yes`/`no`; `">50K"`. A label is compared with `dataset.positive_label` by value, not by its
text: numbers as numbers, booleans and yes/no words as booleans, other text without surrounding
spaces and case. The pipeline (split), monitoring and feedback all use `outcome`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

_TRUE = {"true", "yes", "y", "t"}
_FALSE = {"false", "no", "n", "f"}


def label_key(value: Any) -> float | str | None:
    """Return a comparable key for one label value: a number, a lower-cased word, or None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    text = str(value).strip()
    if not text:
        return None
    if "_" not in text:  # float() accepts "3_4"; a label spelt so is text, not 34
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return None if math.isnan(number) else number
    word = text.lower()
    if word in _TRUE:
        return 1.0
    if word in _FALSE:
        return 0.0
    return word


def outcome(values: pd.Series, positive_label: Any) -> np.ndarray:
    """Return 1.0 where a label is the positive label (by value), 0.0 where not, NaN if missing."""
    positive = label_key(positive_label)
    if positive is None:
        raise ValueError(f"dataset.positive_label is empty ({positive_label!r})")
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    per_unique = np.array(
        [np.nan if (k := label_key(u)) is None else float(k == positive) for u in uniques],
        dtype="float64",
    )
    out = np.full(len(values), np.nan)
    known = codes >= 0
    out[known] = per_unique[codes[known]]
    return out


def conflicting_ids(ids: pd.Series, values: pd.Series) -> set[Any]:
    """Return the ids that carry labels of different values (compared by `label_key`, so `1`
    and `"1.0"` agree): a conflict, wherever its rows came from (one batch or several)."""
    keys = pd.Series([label_key(v) for v in values.to_numpy(dtype=object)], index=values.index)
    keys = keys.map(lambda k: None if k is None else repr(k))  # 1.0 and "1.0" stay apart
    distinct = keys.groupby(ids.to_numpy(dtype=object)).nunique()
    return set(distinct.index[distinct > 1])


def check_both_classes(
    y: np.ndarray, *, dataset_name: str, target: str, positive: Any, seen: list[Any]
) -> None:
    """Raise ValueError naming the target config when the labels hold only one class."""
    labelled = y[~np.isnan(y)]
    positives = int(labelled.sum())
    if len(labelled) and 0 < positives < len(labelled):
        return
    which = "no positives" if positives == 0 else "no negatives"
    raise ValueError(
        f"the labels hold {which}: {len(labelled)} labelled rows, {positives} equal "
        f"positive_label {positive!r} (values seen in {target!r}: {seen[:10]}). "
        f"Fix `target` / `positive_label` in conf/dataset/{dataset_name}.yaml, "
        "then `loopline params` and `dvc repro`."
    )
