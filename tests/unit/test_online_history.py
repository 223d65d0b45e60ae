"""The online per-customer history: labels at their knowledge time, once; memory bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from loopline.features import EntityHistory


def _history(**kwargs) -> EntityHistory:
    return EntityHistory(windows_days=[30], days_since_previous=True, labels=True, **kwargs)


def test_a_label_counts_from_when_it_became_known_and_only_once() -> None:
    history = _history()
    assert history.add_application("c1", "2024-01-10", "a1")
    assert not history.add_label("unknown", "2024-02-01"), "no entity for an unknown id"
    assert history.add_label("a1", "2024-02-01")
    assert not history.add_label("a1", "2024-02-01"), "a label fed back twice counts once"
    assert history.query("c1", np.datetime64("2024-01-31"))["prior_defaults_observed"] == 0
    assert history.query("c1", np.datetime64("2024-02-02"))["prior_defaults_observed"] == 1


def test_a_label_already_in_the_bundle_is_not_added_again() -> None:
    table = EntityHistory.table(
        pd.Series(["c1", "c1"]),
        pd.Series(pd.to_datetime(["2024-01-01", "2024-01-05"])),
        pd.Series(["a1", "a2"]),
        pd.Series([1.0, 0.0]),
        pd.Series(pd.to_datetime(["2024-02-01", "2024-02-03"])),
    )
    history = EntityHistory.from_table(
        table, windows_days=[30], days_since_previous=True, labels=True
    )
    assert "a1" in history and history.entity_of("a2") == "c1"
    assert not history.add_label("a1", "2024-02-01")
    assert history.add_label("a2", "2024-02-03")  # its label was negative in the bundle
    assert history.query("c1", np.datetime64("2024-03-01"))["prior_defaults_observed"] == 2


def test_memory_per_customer_is_bounded() -> None:
    history = _history(max_per_entity=3)
    for day in range(1, 8):
        history.add_application("c1", f"2024-01-0{day}", f"a{day}")
    features = history.query("c1", np.datetime64("2024-01-20"))
    assert features["prior_apps_30d"] == 3, "only the latest three are kept"
    assert features["days_since_prev_app"] == 13


def test_a_stored_history_is_built_on_first_use_and_answers_the_same() -> None:
    table = EntityHistory.table(
        pd.Series(["c1", "c1", "c2"]),
        pd.Series(pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-07"])),
        pd.Series(["a1", "a2", "a3"]),
        None,
        None,
    )
    lazy = EntityHistory.from_table(
        table, windows_days=[30], days_since_previous=True, labels=False
    )
    assert lazy._pending is not None and not lazy._apps  # loading a bundle builds nothing
    eager = EntityHistory.from_table(
        table, windows_days=[30], days_since_previous=True, labels=False
    ).load()
    assert eager._pending is None
    assert eager._apps == {"c1": [1704067200, 1704412800], "c2": [1704585600]}
    at = np.datetime64("2024-01-10")
    assert (
        lazy.query("c1", at)
        == eager.query("c1", at)
        == {
            "prior_apps_30d": 2.0,
            "days_since_prev_app": 5.0,
        }
    )
    assert lazy._pending is None  # the first question built it
