"""The REST service as a real uvicorn process on 127.0.0.1, serving the registry's champion.

What needs the process: the registry and the champion swap, parity with batch scoring and the
evaluation, the prediction log and history of a running service, the socket itself, scoring off
the event loop, the token, schemathesis. The HTTP contract alone (error shapes and statuses, rule
violations, non-finite numbers, rejected requests changing nothing, the OpenAPI document) is
tested on the same app in process: tests/unit/test_serving_contract.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.rest import request_records

from .conftest import Repo
from .service import Client, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tiny_repo: Repo) -> Iterator[tuple[Repo, Client]]:
    with serving(tiny_repo, "--poll-seconds", "0.5") as client:
        yield tiny_repo, client


def _records(repo: Repo, n: int) -> tuple[pd.DataFrame, list[dict]]:
    return request_records(pd.read_parquet(repo.path / "data/processed/loans/split.parquet"), n)


def _log_records(repo: Repo) -> pd.DataFrame:
    from loopline.io.predlog import read_log

    return read_log(repo.path / "data/predictions/loans").frame


def test_service_reports_health_and_model(served: tuple[Repo, Client]) -> None:
    repo, client = served
    assert client.request("GET", "/health") == (200, {"status": "ok"})
    status, info = client.request("GET", "/model")
    assert status == 200
    assert info["name"] == "loopline-loans" and info["version"] == "1"
    assert (
        info["training_run"]
        == json.loads((repo.path / "reports/loans/mlflow_run.json").read_text())["run_id"]
    )
    assert (
        info["bundle_id"]
        == json.loads((repo.path / "models/loans/bundle.json").read_text())["bundle_id"]
    )
    status, spec = client.request("GET", "/openapi.json")
    assert status == 200 and "/predict" in spec["paths"]


def test_rest_batch_and_evaluation_paths_agree_exactly(served: tuple[Repo, Client]) -> None:
    repo, client = served
    test, records = _records(repo, 200)
    status, predictions = client.predict(records)
    assert status == 200, predictions
    decisions = pd.read_parquet(repo.path / "reports/loans/decisions_test.parquet").set_index("row")
    expected = decisions.loc[test.index]
    np.testing.assert_array_equal([p["score"] for p in predictions], expected["score"].to_numpy())
    assert [p["decision"] for p in predictions] == expected["decision"].tolist()
    assert [p["application_id"] for p in predictions] == test["application_id"].tolist()
    assert all(p["model_version"] == "loopline-loans/1" for p in predictions)
    declined = [p for p in predictions if p["decision"] != "approve"]
    assert declined and all(p["reason_codes"] for p in declined)
    # the third path: `loopline score` on the same applications, written as a JSONL export
    batch_file = repo.path / "same_rows.jsonl"
    batch_file.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    repo.run("loopline", "score", str(batch_file), "scored.parquet", "--no-log", "--no-progress")
    batch = pd.read_parquet(repo.path / "scored.parquet").set_index("application_id")
    batch = batch.loc[test["application_id"]]
    np.testing.assert_array_equal(batch["score"].to_numpy(), expected["score"].to_numpy())
    assert batch["decision"].tolist() == expected["decision"].tolist()


def test_an_oversized_body_gets_413_over_a_real_connection(served: tuple[Repo, Client]) -> None:
    """Refused on its Content-Length, before it is read: the client still gets the answer."""
    _, client = served
    code, answer = client.predict_raw(b"[" + b"0," * 600_000 + b"0]")
    assert code == 413, answer
    assert "larger than" in json.dumps(answer).lower()
    assert client.request("GET", "/health") == (200, {"status": "ok"})


def test_prediction_log_holds_one_record_per_scored_application(
    served: tuple[Repo, Client],
) -> None:
    repo, client = served
    before = _log_records(repo)
    _, records = _records(repo, 30)
    request_ids = []
    for record in records[:10]:
        status, answer = client.predict(record)
        assert status == 200
        request_ids.append(answer[0]["request_id"])
    status, answer = client.predict(records[10:30])
    assert status == 200
    request_ids += [p["request_id"] for p in answer]
    after = _log_records(repo)
    new = after[~after["request_id"].isin(before["request_id"])]
    assert sorted(new["request_id"]) == sorted(request_ids)
    assert len(new) == 30
    assert set(new["input.application_id"]) == {r["application_id"] for r in records}
    assert new["score"].notna().all()


def test_promoting_a_new_champion_swaps_without_failing_requests(
    served: tuple[Repo, Client],
) -> None:
    repo, client = served
    _, records = _records(repo, 5)
    failures: list[object] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        i = 0
        while not stop.is_set() and i < 5000:
            status, answer = client.predict(records[i % len(records)])
            if status != 200:
                failures.append(answer)
            else:
                versions.append(answer[0]["model_version"])
            i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    register = (
        "from pathlib import Path; import pandas as pd; from loopline import tracking;"
        "from loopline.io import registry;"
        "cols=[c for c in pd.read_parquet('data/processed/loans/split.parquet').columns "
        "if not c.startswith('_') and c!='split'];"
        "ex=tracking.input_example(pd.read_parquet('data/processed/loans/split.parquet'), cols);"
        "import mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
        "v = tracking.log_bundle(Path('models/loans'), name='loopline-loans', example=ex,"
        " bundle_id='copy');"
        "registry.promote('loopline-loans', v); print(v)"
    )
    result = subprocess.run(
        [sys.executable, "-c", register], cwd=repo.path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    new_version = result.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and f"loopline-loans/{new_version}" not in versions[-20:]:
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures
    assert versions[0] == "loopline-loans/1"
    assert versions[-1] == f"loopline-loans/{new_version}"
    assert client.request("GET", "/model")[1]["version"] == new_version


def test_served_applications_update_online_history(served: tuple[Repo, Client]) -> None:
    repo, client = served
    _, records = _records(repo, 1)
    record = records[0] | {"application_id": "NEW-HISTORY-1", "customer_id": "NEW-CUSTOMER"}
    first = client.predict(record)[1][0]
    later = dict(record, application_id="NEW-HISTORY-2")
    later["applied_at"] = (pd.Timestamp(record["applied_at"]) + pd.Timedelta(days=1)).isoformat()
    client.predict(later)
    logged = _log_records(repo).set_index("request_id")
    assert logged.loc[first["request_id"], "feature.prior_apps_30d"] == 0
    assert np.isnan(logged.loc[first["request_id"], "feature.days_since_prev_app"])
    assert logged.iloc[-1]["feature.prior_apps_30d"] == 1  # the first one, served a day before
    assert logged.iloc[-1]["feature.days_since_prev_app"] == pytest.approx(1.0)


def test_service_binds_to_loopback_only(served: tuple[Repo, Client]) -> None:
    _, client = served
    out = subprocess.run(["cat", "/proc/net/tcp"], capture_output=True, text=True).stdout
    port_hex = f"{client.port:04X}"
    listening = [line.split()[1] for line in out.splitlines()[1:] if line.split()[3] == "0A"]
    ours = [addr for addr in listening if addr.endswith(f":{port_hex}")]
    assert ours == ["0100007F:" + port_hex]


def test_health_answers_while_a_big_request_is_scored(served: tuple[Repo, Client]) -> None:
    """Scoring runs off the event loop: /health and /admin/reload do not wait for it."""
    repo, client = served
    _, records = _records(repo, 50)
    big = [
        records[i % len(records)] | {"application_id": f"BIG-{i}", "customer_id": f"BIG-C{i % 97}"}
        for i in range(1000)
    ]
    result: dict[str, object] = {}

    def score_big() -> None:
        started = time.perf_counter()
        result["answer"] = client.predict(big)
        result["seconds"] = time.perf_counter() - started

    worker = threading.Thread(target=score_big)
    worker.start()
    time.sleep(0.1)  # the request is being read and scored
    health: list[float] = []
    reloads: list[float] = []
    while worker.is_alive() and len(health) < 2000:
        started = time.perf_counter()
        assert client.request("GET", "/health")[0] == 200
        health.append(time.perf_counter() - started)
        if len(health) == 5:
            started = time.perf_counter()
            status, answer = client.request("POST", "/admin/reload")
            assert status == 200, answer
            reloads.append(time.perf_counter() - started)
        time.sleep(0.01)
    worker.join()
    status, answer = result["answer"]
    assert status == 200 and len(answer) == 1000
    print(  # the figures the closing note quotes
        f"1000-item request {result['seconds']:.2f} s; /health during it: {len(health)} probes, "
        f"p50 {1000 * float(np.median(health)):.1f} ms, max {1000 * max(health):.1f} ms; "
        f"/admin/reload {1000 * reloads[0]:.0f} ms"
    )
    assert len(health) >= 5, "the big request finished before /health was probed"
    assert max(health) < 0.25, health
    assert reloads and reloads[0] < 2.0


TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def guarded(
    served: tuple[Repo, Client], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Repo, Client, Path]]:
    """A second service on the same repository, with LOOPLINE_API_TOKEN set and its own log."""
    repo, _ = served
    log_dir = tmp_path_factory.mktemp("guarded-log")
    env = {"LOOPLINE_API_TOKEN": TOKEN}
    with serving(repo, "--poll-seconds", "0", "--log-dir", str(log_dir), env=env) as client:
        yield repo, client, log_dir


def test_a_token_guards_every_write_and_nothing_else(
    guarded: tuple[Repo, Client, Path],
) -> None:
    from loopline.io.predlog import read_log

    repo, client, log_dir = guarded
    _, records = _records(repo, 1)
    body = json.dumps(records[0]).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, answer = client.predict_raw(body, headers)
        assert status == 401 and answer["detail"] and answer["errors"] == [], answer
        assert client.request("POST", "/admin/reload", b"", headers)[0] == 401
    # the token is checked before the body is read: a bad body gets 401 too, not 422
    assert client.predict_raw(b"{not json")[0] == 401
    assert not list(log_dir.rglob("*.jsonl")) and not list(log_dir.rglob("*.parquet"))
    good = {"Authorization": f"Bearer {TOKEN}"}
    status, answer = client.predict_raw(body, good)
    assert status == 200, answer
    assert client.request("POST", "/admin/reload", b"", good)[0] == 200
    assert len(read_log(log_dir).frame) == 1
    for path in ("/health", "/ready", "/model", "/openapi.json", "/docs"):
        assert client.request("GET", path)[0] == 200, path
    spec = client.request("GET", "/openapi.json")[1]
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, method in (("/predict", "post"), ("/admin/reload", "post")):
        assert "401" in spec["paths"][path][method]["responses"]
        assert spec["paths"][path][method]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_schemathesis_finds_no_server_error_and_no_contract_violation(
    guarded: tuple[Repo, Client, Path],
) -> None:
    """Every schemathesis check against the real service (bounded: 100 examples, seed 1).

    Tolerated and counted apart: schema-valid applications refused only by `in_future` (a
    time after the server's clock), a rule JSON Schema cannot state.
    """
    from bench.fuzz import run_schemathesis

    _, client, _ = guarded
    result = run_schemathesis(client.port, max_examples=100, seed=1, token=TOKEN, timeout=120)
    print(
        f"schemathesis: {result['cases']} cases in {result['seconds']} s, "
        f"{result['checks_failed']} failed checks, "
        f"{result['tolerated_time_rules']} refused by time rules"
    )
    assert result["cases"] >= 300
    assert result["errors"] == [] and result["errored"] == 0, result
    assert result["failures"] == [], json.dumps(result["failures"], indent=2)
