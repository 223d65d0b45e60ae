"""Sweeps, the review report and the notebooks, in a fresh copy of the repository (tiny).

One module-scoped repository: a full `dvc repro` committed on `main`, then a 4-point sweep
(`loopline sweep`, queued DVC experiments run two at a time), then the best experiment
applied and reviewed against `main`, then both notebooks executed against it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, Repo, ran_stages

pytestmark = pytest.mark.slow

DATA_STAGES = {"simulate", "ingest", "validate", "split", "preprocess", "features"}
GRID = ["model.max_depth=2,4", "model.eta=0.1,0.3"]


@pytest.fixture(scope="module")
def swept(tiny_repo: Repo) -> tuple[Repo, str, str]:
    repo = tiny_repo  # the tiny configuration after a full `dvc repro`
    # the pull-request workflow's command: a named experiment bundle and an override through
    # DVC's Hydra; the result is the baseline on `main`
    first = repo.run("dvc", "exp", "run", "-S", "experiment=tiny", "-S", "model.eta=0.2")
    repo.commit("baseline run")
    args = ["loopline", "sweep", "--name", "grid4", "--jobs", "2"]
    for item in GRID:
        args += ["-S", item]
    result = repo.run(*args)
    return repo, result.stdout, first.stdout


def test_dvc_exp_run_composes_overrides_through_hydra(swept) -> None:
    repo, _, first = swept
    assert "Running stage 'train'" in first
    assert "Running stage 'simulate'" not in first
    committed = yaml.safe_load(repo.run("git", "show", "HEAD:params.yaml").stdout)
    assert committed["model"]["eta"] == 0.2  # the override
    assert committed["model"]["num_boost_round"] == 60  # the tiny bundle


def test_queued_runs_record_to_the_shared_mlflow_store(swept) -> None:
    repo = swept[0]
    db = sqlite3.connect(repo.path / "mlflow.db")
    names = {v for (v,) in db.execute("select value from tags where key='dvc_experiment'")}
    queued = _queue(repo)
    assert len(queued) == 4 and set(queued) <= names, (
        "queued runs (in .dvc/tmp/exps copies) record to the repo's store"
    )


def _queue(repo: Repo) -> list[str]:
    status = repo.run("dvc", "queue", "status").stdout
    return [line.split()[1] for line in status.splitlines() if " Success" in line]


def test_a_sweep_runs_every_grid_point(swept) -> None:
    repo, output, _ = swept
    assert "4 experiments succeeded, 0 failed" in output
    assert len(_queue(repo)) == 4
    assert "roc_auc" in output  # the exp show table, sorted by the primary metric
    shown = json.loads(repo.run("dvc", "exp", "show", "--json").stdout)
    depths = {
        (
            r["data"]["params"]["params.yaml"]["data"]["model"]["max_depth"],
            r["data"]["params"]["params.yaml"]["data"]["model"]["eta"],
        )
        for commit in shown
        for exp in commit.get("experiments") or []
        for r in exp["revs"]
    }
    assert depths == {(2, 0.1), (2, 0.3), (4, 0.1), (4, 0.3)}


def test_a_sweep_over_model_params_never_reruns_the_data_stages(swept) -> None:
    repo = swept[0]
    for name in _queue(repo):
        logs = repo.run("dvc", "queue", "logs", name).stdout
        ran = ran_stages(logs)
        assert "train" in ran, logs[-2000:]
        assert not ran & DATA_STAGES, f"{name} re-ran {ran & DATA_STAGES}"


def test_the_sweep_is_grouped_under_one_mlflow_parent_run(swept) -> None:
    repo = swept[0]
    db = sqlite3.connect(repo.path / "mlflow.db")
    (parent,) = db.execute(
        "select run_uuid from tags where key='sweep' and value='grid4'"
    ).fetchone()
    children = db.execute(
        "select count(*) from tags where key='mlflow.parentRunId' and value=?", (parent,)
    ).fetchone()[0]
    assert children == 4


def test_review_against_main_reports_params_metrics_gate_and_data(swept) -> None:
    repo = swept[0]
    best = _queue(repo)[0]
    repo.run("dvc", "exp", "apply", best)
    result = repo.run("loopline", "review", "--baseline", "main", "--out", "reports/review.md")
    text = (repo.path / "reports/review.md").read_text()
    assert text == result.stdout.split("\nwritten to ")[0] + "\n" or text in result.stdout
    for heading in (
        "### Parameters",
        "### Metrics",
        "### Slices",
        "### Promotion gate",
        "### Data versions",
        "### Plots",
    ):
        assert heading in text
    assert "`model.max_depth`" in text or "`model.eta`" in text
    assert "test.xgboost.roc_auc" in text
    assert ("better" in text) or ("worse" in text) or ("same" in text)
    assert "PASS" in text or "FAIL" in text
    # the sweep used the same data: its row in the data-versions table says so
    [row] = [line for line in text.splitlines() if line.startswith("| `data/raw/loans` |")]
    assert row.rstrip().endswith("| same |"), row
    assert (repo.path / "reports/review_plots/index.html").exists()
    # as the pull-request workflow calls it
    repo.run("loopline", "review", "--baseline", "main", "--out", "reports/pr.md", "--no-plots")
    assert "### Promotion gate" in (repo.path / "reports/pr.md").read_text()
    assert "roc_auc" in repo.run("dvc", "metrics", "show", "--md").stdout


def test_review_of_an_unknown_baseline_fails_clearly(swept) -> None:
    repo = swept[0]
    result = repo.run("loopline", "review", "--baseline", "no-such-branch", check=False)
    assert result.returncode == 2
    assert "not a commit" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["01-data-exploration", "02-experiment-review"])
def test_notebooks_execute_without_error(swept, name: str) -> None:
    import nbformat
    from nbclient import NotebookClient

    repo = swept[0]
    source = ROOT / "notebooks" / f"{name}.ipynb"
    notebook = nbformat.read(source, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "notebooks are stored without outputs"
    )
    folder = repo.path / "notebooks"
    folder.mkdir(exist_ok=True)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": folder}}
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [
        o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert images, "the notebook drew its plots"


def test_make_sweep_is_the_documented_grid() -> None:
    text = (ROOT / "Makefile").read_text()
    assert "loopline sweep" in text
    result = subprocess.run(["make", "-n", "sweep"], cwd=ROOT, capture_output=True, text=True)
    assert "loopline sweep -S" in result.stdout


def test_push_and_pull_through_the_local_directory_remote(swept, tmp_path: Path) -> None:
    repo = swept[0]
    storage = tmp_path / "storage"
    repo.run("dvc", "remote", "modify", "--local", "local", "url", str(storage))
    repo.run("dvc", "push")
    assert any(storage.rglob("*")), "dvc push filled the remote"
    model = repo.path / "models/loans/model.ubj"
    before = model.read_bytes()
    model.unlink()
    import shutil

    shutil.rmtree(repo.path / ".dvc/cache")
    repo.run("dvc", "pull")
    assert model.read_bytes() == before
