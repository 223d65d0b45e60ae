"""Tests for loopline.partitions: redo a partition only when its input or the recipe changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopline.partitions import (
    MANIFEST,
    Plan,
    fingerprint,
    load_manifest,
    plan,
    remove_outputs,
    save_manifest,
)

RECIPE = "recipe-1"
MANIFEST_DOC = {
    "fingerprint": RECIPE,
    "partitions": {
        "2024-01.csv": {"input": "h1", "outputs": ["2024-01.parquet"]},
        "2024-02.csv": {"input": "h2", "outputs": ["2024-02.parquet"]},
        "2024-03.csv": {"input": "h3", "outputs": ["2024-03.parquet"]},
    },
}


@pytest.mark.parametrize(
    ("inputs", "recipe", "expected"),
    [
        # nothing changed
        (
            {"2024-01.csv": "h1", "2024-02.csv": "h2", "2024-03.csv": "h3"},
            RECIPE,
            Plan(todo=[], keep=["2024-01.csv", "2024-02.csv", "2024-03.csv"], drop=[]),
        ),
        # a new batch is the only work
        (
            {"2024-01.csv": "h1", "2024-02.csv": "h2", "2024-03.csv": "h3", "2024-04.csv": "h4"},
            RECIPE,
            Plan(todo=["2024-04.csv"], keep=["2024-01.csv", "2024-02.csv", "2024-03.csv"], drop=[]),
        ),
        # a changed batch is redone
        (
            {"2024-01.csv": "h1", "2024-02.csv": "CHANGED", "2024-03.csv": "h3"},
            RECIPE,
            Plan(todo=["2024-02.csv"], keep=["2024-01.csv", "2024-03.csv"], drop=[]),
        ),
        # a removed batch is dropped
        (
            {"2024-01.csv": "h1", "2024-03.csv": "h3"},
            RECIPE,
            Plan(todo=[], keep=["2024-01.csv", "2024-03.csv"], drop=["2024-02.csv"]),
        ),
        # a new recipe (config or code) redoes everything that is still there
        (
            {"2024-01.csv": "h1", "2024-02.csv": "h2"},
            "recipe-2",
            Plan(todo=["2024-01.csv", "2024-02.csv"], keep=[], drop=["2024-03.csv"]),
        ),
        # all at once, keys come back sorted
        (
            {"2024-05.csv": "h5", "2024-03.csv": "h3x", "2024-01.csv": "h1"},
            RECIPE,
            Plan(todo=["2024-03.csv", "2024-05.csv"], keep=["2024-01.csv"], drop=["2024-02.csv"]),
        ),
    ],
)
def test_plan(inputs: dict[str, str], recipe: str, expected: Plan) -> None:
    assert plan(inputs, MANIFEST_DOC, recipe) == expected


def test_plan_without_a_manifest_builds_everything() -> None:
    empty = {"fingerprint": None, "partitions": {}}
    assert plan({"b": "2", "a": "1"}, empty, RECIPE) == Plan(todo=["a", "b"], keep=[], drop=[])
    assert plan({}, empty, RECIPE) == Plan(todo=[], keep=[], drop=[])


def test_manifest_round_trip_and_removal(tmp_path: Path) -> None:
    assert load_manifest(tmp_path) == {"fingerprint": None, "partitions": {}}
    (tmp_path / "b.parquet").write_text("b")
    (tmp_path / "a.parquet").write_text("a")
    partitions = {"b.csv": {"input": "2", "outputs": ["b.parquet"]}, "a.csv": {"input": "1"}}
    save_manifest(tmp_path, RECIPE, partitions)
    manifest = load_manifest(tmp_path)
    assert manifest == {"fingerprint": RECIPE, "partitions": partitions}
    assert list(manifest["partitions"]) == ["a.csv", "b.csv"]  # sorted
    assert plan({"a.csv": "1", "b.csv": "2"}, manifest, RECIPE).keep == ["a.csv", "b.csv"]
    remove_outputs(tmp_path, manifest["partitions"]["b.csv"])
    remove_outputs(tmp_path, {"outputs": ["never-written.parquet"]})  # missing is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "a.parquet"]


def test_fingerprint_is_stable() -> None:
    config = {"b": [1, 2], "a": {"y": 1.5, "x": None}}
    same_config_other_order = {"a": {"x": None, "y": 1.5}, "b": [1, 2]}
    assert fingerprint(config) == fingerprint(same_config_other_order)
    assert fingerprint(config, "code") == fingerprint(config, "code")
    assert len(fingerprint(config)) == 16
    assert fingerprint() == fingerprint()
    # a known value, so that the hash does not change between runs or machines
    assert fingerprint({"a": 1}) == "f9d86028c6e0d64e"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (({"a": 1},), ({"a": 2},)),
        (({"a": 1},), ({"a": 1}, "extra")),
        (("a", "b"), ("b", "a")),  # order of parts matters
        (([1, 2],), ([2, 1],)),
        (("1",), (1,)),
    ],
)
def test_fingerprint_changes_with_content(left: tuple, right: tuple) -> None:
    assert fingerprint(*left) != fingerprint(*right)


def test_fingerprint_of_a_path_hashes_its_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "one.py", tmp_path / "two.py"
    first.write_text("x = 1\n")
    second.write_text("x = 1\n")
    assert fingerprint(first) == fingerprint(second)  # content, not name
    before = fingerprint({"k": 1}, first)
    first.write_text("x = 2\n")
    assert fingerprint({"k": 1}, first) != before
    with pytest.raises(FileNotFoundError):
        fingerprint(tmp_path / "absent.py")


def test_arrival_order_keeps_earlier_arrivals_whatever_the_names():
    """A batch keeps its arrival number; a new one arrives after all, even if it sorts first."""
    from loopline.services.ingestion import arrival_order

    first = arrival_order({"b.csv": "h1", "c.csv": "h2"}, {})
    assert first == {"b.csv": 0, "c.csv": 1}
    previous = {k: {"input": h, "arrived": first[k]} for k, h in (("b.csv", "h1"), ("c.csv", "h2"))}
    later = arrival_order({"a_resent.csv": "h9", "b.csv": "h1", "c.csv": "h2"}, previous)
    assert later == {"a_resent.csv": 2, "b.csv": 0, "c.csv": 1}
    changed = arrival_order({"b.csv": "h1-edited", "c.csv": "h2"}, previous)
    assert changed == {"b.csv": 2, "c.csv": 1}, "a changed batch is a new arrival"
