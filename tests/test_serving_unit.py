"""Request models and examples derived from the schema, without a running server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from loopline.schemas import RowValidator, table_schema
from loopline.serving.app import example_record, request_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dataset", ["loans", "census"])
def test_openapi_example_passes_the_schema_rules(dataset: str) -> None:
    schema = table_schema(ROOT / f"conf/schemas/{dataset}.yaml")
    example = example_record(schema)
    assert set(example) == {r.name for r in schema.columns}
    assert RowValidator(schema, []).validate(example)[1] == []


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"age": 30, "region": "north"}, True),
        ({"age": None}, True),
        ({"age": "30"}, True),  # text is left to the schema rules (not_a_number or fine)
        ({"age": [30]}, False),  # not a JSON scalar
        ({"age": {"v": 30}}, False),
        ({"unknown_field": 1}, False),
    ],
)
def test_request_model_accepts_scalars_only_and_no_unknown_fields(body: dict, ok: bool) -> None:
    model = request_model(table_schema(ROOT / "conf/schemas/loans.yaml"))
    if ok:
        assert model(**body).model_dump()["age"] == body.get("age")
    else:
        with pytest.raises(ValidationError):
            model(**body)
