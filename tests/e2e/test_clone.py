"""A newcomer's first steps on a fresh clone: `make run`, then `loopline serve` and
`loopline score` answer with the same champion (issue 9).

The MLflow store is not in git or DVC: on a clone every stage's committed outputs hash the
same, and a `track` stage DVC considered up to date would leave the store empty and nothing to
serve. The clone reuses this test run's environment instead of building its own `.venv`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from .conftest import BIN, ROOT, Repo
from .service import serving

pytestmark = pytest.mark.slow


def test_fresh_clone_make_run_then_serve_and_score(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(BIN.parent, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    # `-o`: the shared environment counts as installed (the README's `make run` builds it)
    made = subprocess.run(
        ["make", "-o", ".venv/bin/.installed", "run"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    for stage in ("track", "gate"):  # monitor: same gate verdict, same report; it may skip
        assert f"Running stage '{stage}'" in made.stdout, f"{stage} skipped on a fresh clone"
    repo = Repo(clone)

    split = pd.read_parquet(clone / "data/processed/loans/split.parquet")
    columns = json.loads((clone / "models/loans/bundle.json").read_text())["schema"]["columns"]
    rows = split[split["split"] == "test"].head(20)[list(columns)]
    records = json.loads(rows.to_json(orient="records", date_format="iso"))
    with serving(repo) as client:
        assert client.request("GET", "/ready")[1]["model_version"] == "loopline-loans/1"
        rest = []
        for record in records:
            status, body = client.predict(record)
            assert status == 200, body
            rest.append(body[0]["score"])

    applications = tmp_path / "applications.jsonl"
    applications.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = repo.run("loopline", "score", str(applications), str(tmp_path / "scored.csv"))
    assert "20 scored" in result.stdout, result.stdout
    batch = pd.read_csv(tmp_path / "scored.csv")["score"].tolist()
    assert batch == pytest.approx(rest, abs=1e-6), "REST and batch score with the same champion"
    from loopline.io.predlog import read_log

    logged = read_log(clone / "data/predictions/loans").frame
    assert set(logged["model_version"]) == {"loopline-loans/1"}, "both logged the champion"
    assert len(logged) == 40
    assert repo.run("loopline", "monitor").returncode in (0, 3)
