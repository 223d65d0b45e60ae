"""Request models and examples derived from the schema, without a running server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from loopline.schemas import RowValidator, table_schema
from loopline.serving.app import example_record, request_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dataset", ["loans", "census"])
def test_openapi_example_passes_the_schema_rules(dataset: str) -> None:
    schema = table_schema(ROOT / f"conf/schemas/{dataset}.yaml")
    example = example_record(schema)
    assert set(example) == {r.name for r in schema.columns}
    assert RowValidator(schema, []).validate(example)[1] == []


def _valid() -> dict:
    return example_record(table_schema(ROOT / "conf/schemas/loans.yaml"))


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({"age": 30, "region": "north"}, True),
        ({"age": 30.0}, True),  # a whole JSON float: whole_number is the schema rules' call
        ({"age": 30.5}, True),  # ... and so is a fraction (RowValidator: whole_number)
        ({"region": "atlantis"}, True),  # allowed values: the schema rules' call (not_allowed)
        ({"employment_years": None}, True),  # nullable
        ({"age": None}, False),  # required
        ({"age": "30"}, False),  # a number column takes JSON numbers
        ({"age": True}, False),
        ({"age": float("nan")}, False),  # non-finite numbers never reach the rules
        ({"loan_amount": float("inf")}, False),
        ({"age": 10**30}, True),  # a float as far as JSON goes: above_max for the rules
        ({"application_id": 12}, False),  # a text column takes JSON strings
        ({"application_id": "x" * 256}, True),
        ({"application_id": "x" * 257}, False),  # strings are bounded
        ({"age": [30]}, False),  # not a JSON scalar
        ({"age": {"v": 30}}, False),
        ({"unknown_field": 1}, False),
    ],
)
def test_request_model_takes_json_types_per_column_and_no_unknown_fields(
    change: dict, ok: bool
) -> None:
    model = request_model(table_schema(ROOT / "conf/schemas/loans.yaml"))
    body = _valid() | change
    if ok:
        dumped = model(**body).model_dump()
        assert all(dumped[k] == v or dumped[k] == float(v) for k, v in change.items())
    else:
        with pytest.raises(ValidationError):
            model(**body)


def test_request_model_declares_types_ranges_and_enums_per_column() -> None:
    model = request_model(table_schema(ROOT / "conf/schemas/loans.yaml"), ignored=("defaulted",))
    doc = model.model_json_schema()
    props = doc["properties"]
    assert {k: props["age"][k] for k in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 0,
        "maximum": 110,
    }
    assert props["annual_income"]["type"] == "number"
    assert props["applied_at"]["format"] == "date-time"
    assert props["applied_at"]["maxLength"] == props["application_id"]["maxLength"] == 256
    assert props["region"]["enum"] == ["north", "south", "east", "west", "central"]
    assert "enum" not in props["purpose"]  # unknown levels are accepted as __unknown__
    assert {"type": "null"} in props["employment_years"]["anyOf"]
    assert set(doc["required"]) == {
        "application_id", "customer_id", "applied_at", "age", "annual_income", "loan_amount",
        "loan_term_months", "purpose", "region", "channel",
    }  # fmt: skip
    assert doc["additionalProperties"] is False
