"""Labels compare by value and type, not by their text (issue 9: `2` vs `2.0`, yes/no, >50K)."""

import numpy as np
import pandas as pd
import pytest

from loopline.labels import check_both_classes, outcome


@pytest.mark.parametrize(
    ("values", "positive", "expected"),
    [
        (["1", "2", "2.0", None], 2, [0.0, 1.0, 1.0, np.nan]),
        ([1.0, 2.0, 2.0], "2", [0.0, 1.0, 1.0]),
        ([1, 2, 2], 2.0, [0.0, 1.0, 1.0]),
        (["0", "1", "1"], 1, [0.0, 1.0, 1.0]),
        (["yes", "No", " YES "], "yes", [1.0, 0.0, 1.0]),
        (["true", "false"], True, [1.0, 0.0]),
        ([True, False], 1, [1.0, 0.0]),
        ([">50K", "<=50K", " >50K"], ">50K", [1.0, 0.0, 1.0]),
        (["3_4", "34"], 34, [0.0, 1.0]),
    ],
)
def test_outcome_compares_by_value(values, positive, expected):
    got = outcome(pd.Series(values, dtype=object), positive)
    np.testing.assert_array_equal(got, np.array(expected, dtype="float64"))


def test_outcome_on_arrow_strings_and_categories():
    values = pd.Series(["2", "1", None], dtype="str")
    np.testing.assert_array_equal(outcome(values, 2), [1.0, 0.0, np.nan])
    cats = pd.Series(["2", "1"], dtype="category")
    np.testing.assert_array_equal(outcome(cats, "2"), [1.0, 0.0])


def test_empty_positive_label_is_an_error():
    with pytest.raises(ValueError, match="positive_label"):
        outcome(pd.Series(["1"]), None)


def test_one_class_names_the_target_config():
    with pytest.raises(ValueError, match=r"no positives.*conf/dataset/credit\.yaml"):
        check_both_classes(
            np.array([0.0, 0.0, np.nan]),
            dataset_name="credit",
            target="risk",
            positive=3,
            seen=["1", "2"],
        )
    with pytest.raises(ValueError, match="no negatives"):
        check_both_classes(
            np.array([1.0, 1.0]), dataset_name="d", target="t", positive=1, seen=["1"]
        )
    check_both_classes(np.array([0.0, 1.0]), dataset_name="d", target="t", positive=1, seen=[])
