"""What the REST tests share: applications as a client sends them, and one client interface over
a real socket (tests/e2e/service.py) or the app in process (FastAPI's TestClient)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the e2e and model tests need no httpx2
    from fastapi.testclient import TestClient

JSON = {"Content-Type": "application/json"}


def as_request(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """One application as a REST client sends it: JSON scalars, ISO times, null for missing."""
    out: dict[str, Any] = {}
    for name in columns:
        value = row[name]
        if pd.api.types.is_scalar(value) and pd.isna(value):  # None, NaN, NaT, pd.NA
            out[name] = None
        elif isinstance(value, pd.Timestamp):
            out[name] = value.isoformat()
        elif isinstance(value, np.generic):  # numpy's integers, floats and bools
            out[name] = value.item()
        else:
            out[name] = value
    return out


def request_records(split: pd.DataFrame, n: int) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The first `n` test rows of a split table, and the same rows as REST requests (every
    column but the split's own: the label is sent too, and the service ignores it)."""
    test = split[split["split"] == "test"].head(n)
    columns = [c for c in split.columns if not c.startswith("_") and c != "split"]
    return test, [as_request(row, columns) for row in test[columns].to_dict("records")]


class RestClient:
    """`request` answers (status, the body's JSON, or its text when it is not JSON)."""

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        raise NotImplementedError

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, object]:
        status, raw = self.send(method, path, body, headers or {})
        try:
            return status, json.loads(raw)
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def predict(self, payload: object) -> tuple[int, object]:
        """POST /predict with `payload` as JSON."""
        return self.predict_raw(json.dumps(payload).encode())

    def predict_raw(self, body: bytes, headers: dict | None = None) -> tuple[int, object]:
        """POST /predict with these bytes as its JSON body."""
        return self.request("POST", "/predict", body, {**JSON, **(headers or {})})


class AppClient(RestClient):
    """The app in process: no socket, no server; an unhandled error is the 500 a client gets."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        response = self.client.request(method, path, content=body, headers=headers)
        return response.status_code, response.content
