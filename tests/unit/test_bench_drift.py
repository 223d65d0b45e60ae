"""Our side of bench/drift.py on a small table: no Evidently venv, no network, a few seconds."""

from __future__ import annotations

import pytest
from bench.drift import (
    CATEGORICAL,
    LOG_COLUMNS,
    NUMERIC,
    SHIFTED,
    from_log,
    make_tables,
    ours_from_scratch,
    ours_monitoring,
    ours_reference,
    read_window,
    write_log,
)

ROWS = 20_000


@pytest.fixture(scope="module")
def tables():
    return make_tables(ROWS)


def test_tables_have_the_declared_columns(tables):
    reference, window = tables
    assert list(reference.columns) == NUMERIC + CATEGORICAL
    assert list(window.columns) == NUMERIC + CATEGORICAL
    assert len(reference) == len(window) == ROWS
    assert reference["income"].isna().any()  # some missing values, as in real traffic
    assert reference["region"].nunique() == 30
    assert reference["home_ownership"].nunique() == 3


def test_shifted_columns_are_flagged_both_ways(tables):
    reference, window = tables
    monitoring = ours_monitoring(window, ours_reference(reference))
    scratch = ours_from_scratch(reference, window)
    assert set(SHIFTED) <= set(monitoring.drifted_columns)
    assert monitoring.drifted_columns == scratch.drifted_columns
    by_name = {c.column: c for c in monitoring.columns}
    assert "distance" in by_name["income"].reasons
    assert "distance" in by_name["employment_type"].reasons
    for column in CATEGORICAL:  # the unshifted categoricals stay quiet
        if column not in SHIFTED:
            assert not by_name[column].drifted, column


def test_only_the_shifted_columns_are_flagged(tables):
    reference, window = tables
    report = ours_monitoring(window, ours_reference(reference))
    assert sorted(report.drifted_columns) == sorted(SHIFTED)


def test_window_read_back_from_the_log_flags_the_same(tables, tmp_path):
    reference, window = tables
    stored = ours_reference(reference)
    segments = write_log(window, tmp_path, chunk=8_000)
    assert len(segments) == 3
    frame = read_window(tmp_path)
    assert list(frame.columns) == LOG_COLUMNS
    assert len(frame) == ROWS
    from_memory = ours_monitoring(window, stored)
    read_back = ours_monitoring(from_log(frame), stored)
    assert read_back.drifted_columns == from_memory.drifted_columns
