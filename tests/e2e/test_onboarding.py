"""Bring your own dataset with no edits: `loopline init-dataset`, `loopline use`, `dvc repro`,
then the champion answers over REST and in batch without the label (issue 9).

Two shapes the project has never seen (tests/e2e/datasets.py): a headerless, gzip-compressed
credit file with coded categories and an integer label 1/2 (2 = bad), and a census-like file
with a header, `?` for missing values and a string label.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from .conftest import Repo, make_repo
from .datasets import CREDIT_NAMES, credit_file, credit_frame, income_file, income_frame
from .service import serving

pytestmark = pytest.mark.slow

CASES = {
    "credit": {
        "write": credit_file,
        "frame": credit_frame,
        "args": [
            *("--target", "risk", "--positive", "2"),
            *("--no-header", "--names", ",".join(CREDIT_NAMES)),
        ],
        "label": "risk",
    },
    "income": {
        "write": income_file,
        "frame": income_frame,
        "args": ["--target", "income", "--positive", ">50K"],
        "label": "income",
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_new_dataset_from_file_to_served_model(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    user = tmp_path / "user"
    user.mkdir()
    source = case["write"](user)
    original = source.read_bytes()
    repo = make_repo(tmp_path / "repo")
    started = time.perf_counter()
    out = repo.run("loopline", "init-dataset", str(source), "--name", name, *case["args"]).stdout
    assert "loopline use" in out and "dvc repro" in out, out
    repo.run("loopline", "use", name)
    repo.repro()
    assert source.read_bytes() == original, "the user's file is never changed"

    dataset = yaml.safe_load((repo.path / f"conf/dataset/{name}.yaml").read_text())
    assert dataset["target"] == case["label"]
    split = json.loads((repo.path / f"reports/{name}/split.json").read_text())["splits"]
    assert all(0 < split[s]["positive_rate"] < 1 for s in ("train", "valid", "test")), split
    metrics = json.loads((repo.path / f"reports/{name}/metrics.json").read_text())
    auc = metrics["test"]["xgboost"]["roc_auc"]
    assert auc > 0.7, metrics
    gate = json.loads((repo.path / f"reports/{name}/gate.json").read_text())
    assert gate["action"].startswith("promoted"), gate

    # a new application has no label: the frame's rows without the label column
    rows = case["frame"](40, seed=99).drop(columns=[case["label"]])
    rows.columns = [c.replace("-", "_") for c in rows.columns]
    records = json.loads(rows.to_json(orient="records"))  # "?" stays: a missing-value marker
    with serving(repo) as client:
        seconds = time.perf_counter() - started
        status, body = client.predict(records[0])
        assert status == 200, body
        labelled = {**records[0], case["label"]: "ignored"}
        status, with_label = client.predict(labelled)
        assert status == 200, with_label
        assert with_label[0]["score"] == body[0]["score"], "a label in a request is ignored"
        assert body[0]["model_version"] == f"loopline-{name}/1"
        rest = [client.predict(r)[1][0]["score"] for r in records[:10]]

    batch_in = tmp_path / "new_applications.csv"
    rows.to_csv(batch_in, index=False)
    result = repo.run("loopline", "score", str(batch_in), str(tmp_path / "scored.csv"))
    assert "40 scored, 0 quarantined" in result.stdout, result.stdout
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["score"].head(10).tolist() == pytest.approx(rest, abs=1e-6)
    print(f"{name}: init-dataset to served model {seconds:.1f} s, test ROC AUC {auc:.3f}")


def test_datasets_do_not_clobber_each_other(tiny_repo: Repo, tmp_path: Path) -> None:
    """Switching the active dataset keeps the other's models, reports and registered model."""
    repo = tiny_repo  # loans, after a full `dvc repro`
    source = credit_file(tmp_path)
    repo.run("loopline", "init-dataset", str(source), "--name", "credit", *CASES["credit"]["args"])
    repo.run("loopline", "use", "credit")
    assert "name: credit" in (repo.path / "params.yaml").read_text()
    repo.repro()
    kept = {p: p.read_bytes() for p in (repo.path / "models/credit").iterdir()}
    report = (repo.path / "reports/credit/metrics.json").read_bytes()
    repo.run("loopline", "use", "loans")
    repo.repro()
    repo.run("loopline", "use", "credit")
    assert "name: credit" in (repo.path / "params.yaml").read_text()
    for path, data in kept.items():
        assert path.read_bytes() == data, f"{path} changed by switching datasets"
    assert (repo.path / "reports/credit/metrics.json").read_bytes() == report
    assert (repo.path / "models/loans/bundle.json").exists()
    # both registered models serve, each from its own dataset's champion
    with serving(repo) as client:
        assert client.request("GET", "/model")[1]["name"] == "loopline-credit"
    with serving(repo, "--dataset", "loans") as client:
        assert client.request("GET", "/model")[1]["name"] == "loopline-loans"


def test_active_dataset_survives_conf_edits_and_dvc_exp_run(tmp_path: Path) -> None:
    """`loopline use` writes the choice into conf/, so recomposing never switches back."""
    repo = make_repo(tmp_path / "repo", experiment="tiny")
    repo.run("loopline", "use", "census")
    config = repo.path / "conf/config.yaml"
    config.write_text(config.read_text().replace("min_category_count: 10", "min_category_count: 5"))
    repo.run("loopline", "params")
    assert "name: census" in (repo.path / "params.yaml").read_text()
    assert repo.run("loopline", "params", "--check").returncode == 0
    repo.run("loopline", "simulate", "--dataset", "census", "--rows", "3000")
    repo.commit("census active")
    result = repo.run("dvc", "exp", "run", "-S", "preprocess.min_category_count=6")
    assert "census" in (repo.path / "params.yaml").read_text()
    assert (repo.path / "reports/census/metrics.json").exists(), result.stdout
