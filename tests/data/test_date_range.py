"""A value pandas cannot hold stops nothing: its row is quarantined, old log records are skipped.

pandas' datetime64[ns] holds 1677-09-21 .. 2262-04-11. A date outside the configured range
(conf/schemas/loans.yaml: 1900-01-01 .. 2200-01-01) quarantines its row as `applied_at:date_range`
in REST, `loopline validate`, `loopline score` and the pipeline; a prediction log holding such a
record from before the rule is still read by the monitor and feedback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopline import drift, feedback, monitor
from loopline.cli import app
from loopline.config import MonitorConfig
from loopline.io.predlog import PredictionLog, read_log
from loopline.preprocess import NumericRule, PreprocessState
from loopline.schemas import RowValidator, SchemaFileError, parse_table_schema

from .test_verdicts import DATASET, GOOD, NA, SCHEMA, _jsonl, stage_verdicts

BAD_DATES = {
    "1500-01-01": "applied_at:date_range",
    "9999-12-31T23:59:59+14:00": "applied_at:date_range",
    "0001-01-01T00:00:00-12:00": "applied_at:date_range",
    "2199-01-01": "applied_at:in_future",  # in range, but after now + a day
}


def _records() -> list[dict]:
    records = [dict(GOOD) for _ in range(8)]
    for i, value in enumerate(BAD_DATES):
        records[2 * i + 1]["applied_at"] = value
    return records


def test_rest_validator_breaks_a_rule_and_raises_nothing() -> None:
    validator = RowValidator(SCHEMA, NA, time_column=DATASET.time_column)
    for value, rule in BAD_DATES.items():
        _, broken = validator.validate(GOOD | {"application_id": "A", "applied_at": value})
        assert broken == [rule], value
    for number in (10**309, -(10**400), 1e308 * 10, "1" * 400):
        _, broken = validator.validate(GOOD | {"application_id": "A", "annual_income": number})
        assert broken == ["annual_income:not_a_number"], number


def test_cli_validate_quarantines_only_the_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "new_api.jsonl"
    path.write_text(_jsonl(_records()))
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert (report["rows_in"], report["accepted"], report["quarantined"]) == (8, 4, 4)
    assert report["rules"] == {"applied_at:date_range": 3, "applied_at:in_future": 1}


def test_pipeline_stages_quarantine_only_the_bad_rows(tmp_path: Path) -> None:
    records = _records()
    broken, values = stage_verdicts(tmp_path / "pipeline", _jsonl(records))
    expected = [set() for _ in records]
    for i, rule in enumerate(BAD_DATES.values()):
        expected[2 * i + 1] = {rule}
    assert broken == expected
    assert values[0]["applied_at"] == pd.Timestamp(GOOD["applied_at"])


def test_branch_dates_out_of_range_are_quarantined_too(tmp_path: Path) -> None:
    """A source with its own date_format (the branch CSV) follows the same range."""
    from loopline import ingest
    from loopline.io import read_batch_file
    from loopline.validate import validate_batch

    source = DATASET.sources["branch"]
    header = {canonical: raw for raw, canonical in source.rename.items()}
    rows = [dict(GOOD), dict(GOOD), dict(GOOD)]
    rows[0]["applied_at"] = "05/03/2024 10:00"
    rows[1]["applied_at"] = "01/01/1500 10:00"
    rows[2]["applied_at"] = "31/12/2250 10:00"
    lines = [",".join(header[c] for c in ["application_id", *GOOD])]
    for i, row in enumerate(rows):
        lines.append(",".join([f"B{i}", *(f'"{row[c]}"' for c in GOOD)]))
    path = tmp_path / "2024-03_branch.csv"
    path.write_text("\n".join(lines) + "\n")
    normalised = ingest.normalise(
        read_batch_file(path, source),
        schema=SCHEMA,
        source=source,
        source_key="branch",
        file_name=path.name,
        na_values=NA,
    )
    result = validate_batch(normalised.frame, schema=SCHEMA, id_column="application_id")
    assert result.accepted["application_id"].tolist() == ["B0"]
    assert result.quarantined["_reasons"].tolist() == ["applied_at:date_range"] * 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"min": "1500-01-01"}, "outside the dates pandas can hold"),
        ({"max": "not a date"}, "must be a date"),
        ({"min": "2100-01-01", "max": "2000-01-01"}, "is after max"),
    ],
)
def test_a_date_range_pandas_cannot_hold_is_a_schema_error(rule: dict, message: str) -> None:
    spec = {"columns": {"at": {"dtype": "datetime", **rule}}}
    with pytest.raises(SchemaFileError, match=message):
        parse_table_schema(spec)


# --- the prediction log ---------------------------------------------------------------------


def _served(log: PredictionLog, i: int, applied_at: str, age: object = 40) -> None:
    """Append one record as the REST service does (raw inputs, its own logged_at)."""
    log.append(
        {
            "request_id": f"r{i}",
            "source": "rest",
            "model_version": "1",
            "bundle_id": "b1",
            "score": 0.1,
            "decision": "approve",
            "reasons": [],
            "input": {"application_id": f"A{i}", "applied_at": applied_at, "age": age},
            "features": {"age": 40.0},
        }
    )


@pytest.mark.parametrize("mixed", [False, True], ids=["arrow", "python"])
def test_a_logged_record_dated_1500_is_skipped_and_counted(tmp_path: Path, mixed: bool) -> None:
    root = tmp_path / "log"
    with PredictionLog(root) as log:
        _served(log, 0, "2025-01-05T10:00:00")
        _served(log, 1, "1500-01-01T00:00:00")  # accepted before the date-range rule
        _served(log, 2, "2025-01-06T10:00:00", age="41" if mixed else 41)  # mixed: slow path
    before = sorted(p.read_bytes() for p in root.iterdir())
    read = read_log(root)
    assert read.out_of_range_records == 1 and read.corrupt_lines == 0
    assert read.frame["request_id"].tolist() == ["r0", "r2"]
    times = feedback.application_times(read.frame["input.applied_at"])
    assert times.tolist() == [pd.Timestamp("2025-01-05 10:00"), pd.Timestamp("2025-01-06 10:00")]
    assert sorted(p.read_bytes() for p in root.iterdir()) == before  # the log is never edited


def test_monitor_and_feedback_read_a_log_with_an_old_bad_record(tmp_path: Path) -> None:
    root = tmp_path / "log"
    with PredictionLog(root) as log:
        for i in range(40):
            _served(log, i, f"2025-01-{1 + i % 28:02d}T10:00:00")
        _served(log, 99, "1500-01-01T00:00:00")
    frame = read_log(root).frame

    labels = tmp_path / "2025-04.csv"
    labels.write_text("application_id,defaulted,observed_at\nA1,0,2025-04-01T00:00:00\n")
    result = feedback.ingest_feedback(
        labels,
        dataset=DATASET,
        log=frame,
        root=tmp_path / "fb",
        schema_columns=SCHEMA.names,
    )
    assert result.report["kept"] == 1

    rng = np.random.default_rng(0)
    ages = pd.DataFrame({"age": rng.integers(18, 80, 500).astype(float)})
    reference = drift.reference_stats(ages, numeric=["age"], categorical=[])
    reference["score"] = drift.reference_stats(
        pd.DataFrame({"score": rng.beta(2, 12, 500)}), numeric=["score"], categorical=[]
    )["numeric"]["score"]
    reference["performance"] = {"roc_auc": 0.8, "positive_rate": 0.1, "mean_score": 0.1}
    report = monitor.monitor(
        monitor.MonitorInputs(log=frame, labelled=pd.DataFrame(), time_column="applied_at"),
        monitor.MonitoredModel(
            bundle_id="b1",
            reference=monitor.Reference.from_json(reference),
            state=PreprocessState(
                version=1,
                rows=500,
                numeric={"age": NumericRule(low=18.0, high=80.0, fill=40.0)},
                categorical={},
            ),
            input_columns=("age",),
        ),
        monitor.Outcomes(target="defaulted", positive_label=1, profit_good=0.1, loss_default=0.6),
        MonitorConfig(ignore_features=[]),
    )
    assert report["verdict"]["status"]
