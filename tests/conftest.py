"""Suite-wide settings: how many workers `make test` runs, and which modules start first."""

from __future__ import annotations

import os

import pytest

# the end-to-end modules, longest first (`make test` prints the slowest tests): with modules
# spread over workers (`--dist loadfile`), starting the long ones first keeps the tail short
LONGEST_FIRST = (
    "test_review.py",
    "test_loop.py",
    "test_onboarding.py",
    "test_pipeline.py",
    "test_online_history.py",
    "test_late_batch.py",
    "test_clone.py",
    "test_serving.py",
    "test_gate.py",
    "test_scoring.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core. End-to-end tests spend much of their time waiting on
    the processes they start (dvc, uvicorn, git), so one worker per core leaves cores idle."""
    return max(2, min(2 * (os.cpu_count() or 1), 8))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        if item.path.parent.name == "e2e" and name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a module is kept
