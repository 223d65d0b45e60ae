"""The REST service's HTTP contract, against the app `loopline serve` runs, in process.

FastAPI's TestClient drives the same application (`create_app` with the settings `loopline serve
--model <bundle folder>` builds) on a real bundle: the one `trained` (tests/conftest.py) builds
through the stages' own `task(cfg)`. No socket and no uvicorn: what needs them (binding, parity
with the batch paths, the champion swap, /health during a big request, the token, schemathesis)
is tested against a real `loopline serve` in tests/e2e/test_serving.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from loopline.io.predlog import read_log
from loopline.serving.app import Settings, create_app
from tests.conftest import TrainedRun
from tests.rest import AppClient, request_records


@dataclass(frozen=True)
class Served:
    """The app in process, with its own prediction log, and the applications to send it."""

    client: AppClient
    log_dir: Path
    split: pd.DataFrame  # the trained run's split table: its test rows are sent

    def records(self, n: int) -> list[dict]:
        """The first `n` test applications as REST requests."""
        return request_records(self.split, n)[1]

    def logged(self) -> pd.DataFrame:
        """Every prediction the app has logged."""
        return read_log(self.log_dir).frame


@pytest.fixture(scope="module")
def served(trained: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app for the module, as `loopline serve --model <bundle folder> --log-dir <empty
    folder> --poll-seconds 0` builds it (no token; its startup and shutdown run)."""
    tmp_path = tmp_path_factory.mktemp("serving")
    log_dir = tmp_path / "predictions"
    settings = Settings(
        model=str(trained.model_dir),  # a bundle folder: no registry is asked
        dataset=trained.cfg.dataset.name,
        cache_dir=tmp_path / "models",
        log_dir=log_dir,
        feedback_dir=Path(trained.cfg.paths.feedback),
        poll_seconds=0,
        api_token=None,
    )
    # an error the app does not handle is answered as uvicorn would: a 500 (and logged)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Served(AppClient(client), log_dir, trained.split_table())


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 422, "json"),
        (b"", 422, ""),
        (json.dumps({"age": {"nested": 1}}).encode(), 422, "age"),
        (json.dumps({"age": 40, "favourite_colour": "red"}).encode(), 422, "favourite_colour"),
        (json.dumps([{"age": 1}] * 1001).encode(), 413, "at most"),
        (b"[" + b"0," * 600_000 + b"0]", 413, "larger than"),
    ],
)
def test_malformed_requests_get_4xx_not_500(
    served: Served, body: bytes, status: int, needle: str
) -> None:
    client = served.client
    code, answer = client.request("POST", "/predict", body, {"Content-Type": "application/json"})
    assert code == status, answer
    assert needle in json.dumps(answer).lower()
    assert "traceback" not in json.dumps(answer).lower()


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"age": -5}, "age", "below_min"),
        ({"annual_income": 1e12}, "annual_income", "above_max"),
        ({"region": "atlantis"}, "region", "not_allowed"),
        ({"loan_amount": "lots"}, "loan_amount", "not_a_number"),
        ({"applied_at": "yesterday"}, "applied_at", "bad_timestamp"),
        ({"customer_id": None}, "customer_id", "missing"),
        ({"applied_at": "2099-01-01T00:00:00"}, "applied_at", "in_future"),
        # values pandas cannot hold, or float() cannot: a rule, never a 500
        ({"applied_at": "1500-01-01T00:00:00"}, "applied_at", "date_range"),
        ({"applied_at": "9999-12-31T23:59:59+14:00"}, "applied_at", "date_range"),
        ({"applied_at": "0001-01-01T00:00:00-12:00"}, "applied_at", "date_range"),
        ({"annual_income": 10**309}, "annual_income", "not_a_number"),
        ({"loan_amount": "3_4"}, "loan_amount", "not_a_number"),
    ],
)
def test_rule_violations_name_the_field_and_rule(
    served: Served, change: dict, field: str, rule: str
) -> None:
    client = served.client
    records = served.records(1)
    before = len(served.logged())
    status, answer = client.predict(records[0] | change)
    assert status == 422
    assert {"index": 0, "field": field, "rule": rule} in [
        {k: e[k] for k in ("index", "field", "rule")} for e in answer["errors"]
    ]
    assert len(served.logged()) == before, "a rejected request is not logged as a prediction"


def test_json_errors_answer_in_our_shape_per_item_and_field(served: Served) -> None:
    client = served.client
    records = served.records(2)
    status, answer = client.predict(
        [records[0], records[1] | {"age": "forty", "region": "x" * 300}]
    )
    assert status == 422
    assert sorted((e["index"], e["field"], e["rule"]) for e in answer["errors"]) == [
        (1, "age", "not_a_number"),
        (1, "region", "too_long"),
    ]
    status, answer = client.predict_raw(b"\xff\xfe not utf-8")
    assert status in (400, 422) and set(answer) == {"detail", "errors"}, answer


def test_application_id_is_always_text(served: Served) -> None:
    client = served.client
    records = served.records(1)
    status, answer = client.predict(records[0] | {"application_id": "  TEXT-ID-7 "})
    assert status == 200, answer
    assert answer[0]["application_id"] == "TEXT-ID-7"
    spec = client.request("GET", "/openapi.json")[1]
    prediction = spec["components"]["schemas"]["Prediction"]["properties"]["application_id"]
    assert {"type": "string"} in prediction["anyOf"]


def test_openapi_declares_our_error_shape_and_every_status(served: Served) -> None:
    client = served.client
    spec = client.request("GET", "/openapi.json")[1]
    predict = spec["paths"]["/predict"]["post"]
    assert set(predict["responses"]) == {"200", "400", "413", "422"}  # 401 only with a token
    error_ref = "#/components/schemas/ErrorBody"
    for status in ("400", "413", "422"):
        assert predict["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": error_ref
        }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert set(spec["paths"]["/admin/reload"]["post"]["responses"]) == {"200", "400", "413", "503"}
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    application = spec["components"]["schemas"]["Application"]["properties"]
    assert body["anyOf"][0] == {"$ref": "#/components/schemas/Application"}
    assert application["age"]["type"] == "integer" and application["age"]["maximum"] == 110
    assert application["applied_at"]["format"] == "date-time"
    assert application["application_id"]["maxLength"] == 256


def test_non_finite_numbers_are_refused_before_anything_is_scored_or_logged(
    served: Served,
) -> None:
    """Starlette's parser takes NaN/Infinity; they get a 422 and change nothing (issue 10)."""
    client = served.client
    records = served.records(1)
    valid = records[0] | {"application_id": "FINITE-1", "customer_id": "FINITE-CUSTOMER"}
    text = json.dumps(valid)

    def swap(field: str, raw: str, source: str = text) -> str:
        """Return the body with one field's JSON value replaced by raw text."""
        return source.replace(f'"{field}": {json.dumps(valid[field])}', f'"{field}": {raw}')

    bodies = [
        swap("application_id", "Infinity"),  # the id itself
        swap("age", "NaN"),
        swap("loan_amount", "-Infinity"),
        # one bad item: the good one is not scored either
        "[" + text + "," + swap("annual_income", "Infinity", swap("application_id", '"F-2"')) + "]",
        text[:-1] + ', "defaulted": NaN}',  # the ignored label field
        "NaN",
        "[Infinity]",
        '{"age": {"deep": [NaN]}}',
        '{"application_id": 1e999}',  # overflows to inf in the parser
    ]
    before = len(served.logged())
    for body in bodies:
        assert body != text
        status, answer = client.predict_raw(body.encode())
        assert status == 422, (body, answer)
        assert answer["detail"] and isinstance(answer["errors"], list), answer
        assert "traceback" not in json.dumps(answer).lower()
        assert client.request("GET", "/health") == (200, {"status": "ok"})
    assert len(served.logged()) == before, "a refused request was logged"
    # nothing entered the per-customer history either: this is the customer's first application
    later = valid | {"application_id": "FINITE-3"}
    later["applied_at"] = (pd.Timestamp(valid["applied_at"]) + pd.Timedelta(days=1)).isoformat()
    status, answer = client.predict(later)
    assert status == 200, answer
    mine = served.logged().set_index("request_id").loc[answer[0]["request_id"]]
    assert mine["feature.prior_apps_30d"] == 0


def test_a_rejected_list_request_changes_nothing(served: Served) -> None:
    """Its valid items enter neither the per-customer history nor the log (issue 10)."""
    client = served.client
    records = served.records(1)
    valid = records[0] | {"application_id": "ATOMIC-1", "customer_id": "ATOMIC-CUSTOMER"}
    broken = valid | {"application_id": "ATOMIC-2", "age": -5}
    status, body = client.predict([valid, broken])
    assert status == 422 and [e["index"] for e in body["errors"]] == [1], body
    later = valid | {"application_id": "ATOMIC-3"}
    later["applied_at"] = (pd.Timestamp(valid["applied_at"]) + pd.Timedelta(days=1)).isoformat()
    status, answer = client.predict(later)
    assert status == 200, answer
    logged = served.logged()
    assert "ATOMIC-1" not in set(logged["input.application_id"].astype(str))
    mine = logged.set_index("request_id").loc[answer[0]["request_id"]]
    assert mine["feature.prior_apps_30d"] == 0, "the rejected request's item was remembered"
