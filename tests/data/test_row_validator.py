"""The single-record validator agrees with the pandera path on the same good and bad rows.

The REST service cannot afford pandera per request (about 23 ms), so `RowValidator` compiles
the same TableSchema into plain checks. This test holds the two to the same verdicts, rule by
rule, and to the same canonical values for accepted rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import ingest, simulate
from loopline.config import SimulateConfig, SourceConfig
from loopline.io import read_batch_file
from loopline.schemas import RowValidator, table_schema
from loopline.validate import validate_batch

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = table_schema(ROOT / "conf/schemas/loans.yaml")
NA = ["", "NA", "N/A", "null", "NULL", "None", "nan"]
EXTRA_CASES = [
    {"age": "34"},  # numbers as text
    {"age": " 41 "},
    {"age": 33.5},  # not a whole number
    {"age": True},  # a boolean is not a number
    {"annual_income": "NaN"},
    {"annual_income": "inf"},
    {"annual_income": "1e5"},
    {"loan_term_months": 13},  # not an allowed term
    {"purpose": "crypto"},  # unknown, accepted as __unknown__
    {"employment_type": "astronaut"},  # unknown, quarantined
    {"home_ownership": None},
    {"credit_utilization": "N/A"},  # a missing-value marker
    {"applied_at": "2024-03-05T10:00:00Z"},
    {"applied_at": "2024-03-05 10:00:00+02:00"},
    {"applied_at": "05/03/2024"},
    {"applied_at": 1709632800},
    {"region": " north "},
    {"region": "North"},
]


def _records() -> list[dict]:
    cfg = SimulateConfig(rows=1500, periods=3, defect_rate=0.3, seed=7)
    clean = simulate.simulate_applications(cfg)
    dirty = simulate.inject_defects(clean, 0.3, np.random.default_rng(3))
    columns = [r.name for r in SCHEMA.columns]
    frame = dirty[columns].astype(object)
    records = []
    for row in frame.to_dict(orient="records"):
        record = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and np.isnan(value)):
                record[key] = None
            elif isinstance(value, pd.Timestamp):
                record[key] = value.isoformat()
            elif hasattr(value, "item"):
                record[key] = value.item()
            else:
                record[key] = value
        records.append(record)
    base = records[0]
    return records + [base | case for case in EXTRA_CASES]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], pd.DataFrame, list]:
    records = _records()
    path = tmp_path_factory.mktemp("rows") / "batch.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    normalised = ingest.normalise(
        read_batch_file(path),
        schema=SCHEMA,
        source=SourceConfig(),
        source_key="api",
        file_name="batch.jsonl",
        na_values=NA,
    )
    result = validate_batch(normalised.frame, schema=SCHEMA)
    reasons = pd.Series([[] for _ in records], dtype=object)
    rows = result.quarantined["_source_row"].to_numpy() - 1
    reasons.iloc[rows] = [r.split(";") for r in result.quarantined["_reasons"]]
    accepted = result.accepted.set_index(result.accepted["_source_row"] - 1)
    validator = RowValidator(SCHEMA, NA)
    return (
        records,
        accepted,
        [(reasons.iloc[i], validator.validate(r)) for i, r in enumerate(records)],
    )


def test_both_paths_break_the_same_rules_on_every_row(both: tuple) -> None:
    records, _, pairs = both
    assert len(records) > 1500
    disagreements = [
        (records[i], sorted(slow), sorted(fast[1]))
        for i, (slow, (fast)) in enumerate(pairs)
        if sorted(slow) != sorted(fast[1])
    ]
    assert not disagreements[:5]
    assert sum(1 for slow, _ in pairs if slow) > 300, "the sample must hold many bad rows"


def test_accepted_rows_have_the_same_canonical_values(both: tuple) -> None:
    _, accepted, pairs = both
    for i, row in accepted.iterrows():
        values = pairs[i][1][0]
        for rule in SCHEMA.columns:
            slow, fast = row[rule.name], values[rule.name]
            if pd.isna(slow):
                assert fast is None, (i, rule.name)
            elif rule.dtype == "datetime":
                assert pd.Timestamp(fast) == slow, (i, rule.name)
            else:
                assert fast == slow, (i, rule.name, fast, slow)
