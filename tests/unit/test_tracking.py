"""MLflow helpers and figures: names MLflow accepts, metrics it can store, lineage from dvc.lock."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from loopline import figures, tracking


def test_flatten_nests_with_dots_and_keeps_lists() -> None:
    assert tracking.flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {
        "a.b": 1,
        "a.c": [1, 2],
        "d": "x",
    }


def test_loggable_params_sanitises_names_and_skips_paths() -> None:
    params = {
        "dataset": {"sources": {"branch": {"rename": {"Term (months)": "t"}}}},
        "paths": {"raw": "data/raw"},
        "model": {"eta": 0.1},
    }
    logged = tracking.loggable_params(params)
    assert logged == {"dataset.sources.branch.rename.Term _months_": "t", "model.eta": "0.1"}


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"test": {"auc": 0.8, "rows": 10}}, {"test.auc": 0.8, "test.rows": 10.0}),
        ({"a": None, "b": math.nan, "c": True, "d": "text"}, {}),
        ({"slices": {"age band": {"25-35": {"auc": 0.7}}}}, {"slices.age_band.25-35.auc": 0.7}),
    ],
)
def test_numeric_metrics_keeps_finite_numbers_only(metrics: dict, expected: dict) -> None:
    assert tracking.numeric_metrics(metrics) == expected


def test_dvc_hashes_reads_deps_and_outs(tmp_path: Path) -> None:
    lock = {
        "schema": "2.0",
        "stages": {
            "ingest": {
                "cmd": "python -m x",
                "deps": [{"path": "data/raw/loans", "md5": "abc.dir"}],
                "outs": [{"path": "data/interim", "md5": "def.dir"}],
            }
        },
    }
    path = tmp_path / "dvc.lock"
    path.write_text(yaml.safe_dump(lock))
    assert tracking.dvc_hashes(path) == {
        "ingest:data/raw/loans": "abc.dir",
        "ingest:data/interim": "def.dir",
    }
    assert tracking.dvc_hashes(tmp_path / "missing.lock") == {}


def test_git_commit_outside_git_is_none(tmp_path: Path) -> None:
    assert tracking.git_commit(tmp_path) is None


def test_figures_render_every_table_to_png() -> None:
    tables = {
        "roc": pd.DataFrame({"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1]}),
        "pr": pd.DataFrame({"recall": [0, 1], "precision": [1, 0.2]}),
        "calibration": pd.DataFrame({"mean_score": [0.1, 0.5], "observed_rate": [0.12, 0.45]}),
        "profit": pd.DataFrame(
            {
                "threshold": [0.1, 0.2] * 2,
                "profit": [1, 2, 1, 3],
                "split": ["valid"] * 2 + ["test"] * 2,
            }
        ),
        "importance": pd.DataFrame({"feature": ["a", "b"], "importance": [2.0, 1.0]}),
    }
    rendered = figures.render(tables)
    assert set(rendered) == set(tables)
    for figure in rendered.values():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figures.render({}) == {}


def test_runs_left_running_by_a_killed_process_are_marked_killed(tmp_path, monkeypatch):
    """A `track` killed mid-run leaves its run RUNNING; the next one closes it (issue 10)."""
    import subprocess

    import mlflow
    from mlflow import MlflowClient

    from loopline import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    experiment = tracking.start_experiment("loopline-test")
    dead = subprocess.Popen(["true"])
    dead.wait()
    client = MlflowClient()
    host = tracking.owner().rpartition(":")[0]
    orphan = client.create_run(experiment, tags={tracking.OWNER_TAG: f"{host}:{dead.pid}"})
    alive = client.create_run(experiment, tags={tracking.OWNER_TAG: tracking.owner()})
    elsewhere = client.create_run(experiment, tags={tracking.OWNER_TAG: "other-host:1"})
    assert tracking.end_orphaned_runs(experiment) == [orphan.info.run_id]
    status = {r: client.get_run(r).info.status for r in (orphan.info.run_id, alive.info.run_id)}
    assert status == {orphan.info.run_id: "KILLED", alive.info.run_id: "RUNNING"}
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"
    mlflow.set_tracking_uri("")
