"""`loopline validate` on bad input: a clear message or quarantine reasons, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loopline.cli import app

ROOT = Path(__file__).resolve().parents[2]
HEADER = (
    "application_id,customer_id,applied_at,age,annual_income,employment_years,employment_type,"
    "home_ownership,loan_amount,loan_term_months,purpose,region,channel,credit_utilization,"
    "num_open_accounts,past_delinquencies,debt_to_income"
)
GOOD = "A1,C1,2024-01-05T10:00:00,34,52000,5,salaried,rent,10000,36,car,north,online,0.3,4,0,0.2"


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _validate(path: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", str(path), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("latin1.csv", f"{HEADER}\n".encode() + "A1,é".encode("latin-1"), "not valid utf-8"),
        ("missing.csv", b"application_id,age\nA1,30\n", "required column(s) missing"),
        ("notes.txt", b"hello", "unknown file type"),
        ("broken.parquet", b"not parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_get_a_message_and_exit_2(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, output = _validate(path)
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER + "\n")
    code, output = _validate(path, "--json")
    assert code == 0
    report = json.loads(output)
    assert report["rows_in"] == report["accepted"] == report["quarantined"] == 0


def test_bad_rows_are_quarantined_with_reasons_and_counts_add_up(tmp_path: Path) -> None:
    rows = [
        GOOD,
        GOOD.replace("A1,", "A2,").replace(",34,", ",-3,"),
        GOOD.replace("A1,", "A3,").replace(",north,", ",atlantis,"),
        GOOD.replace("A1,", "A4,").replace(",52000,", ",lots,"),
        "A5,C5,too,few,fields",
        GOOD,  # duplicate of A1
        GOOD.replace("A1,", "A7,").replace(",car,", ",crypto,"),  # unknown purpose: accepted
    ]
    path = tmp_path / "batch.csv"
    path.write_text("\n".join([f"{HEADER},extra_col", *[r + ",x" for r in rows]]) + "\n")
    code, output = _validate(path, "--json")
    report = json.loads(output)
    assert code == 1
    assert report["rows_in"] == 7 == report["accepted"] + report["quarantined"]
    assert report["accepted"] == 2
    assert report["rules"] == {
        "age:below_min": 1,
        "region:not_allowed": 1,
        "annual_income:not_a_number": 1,
        "record:wrong_field_count": 1,
        "application_id:duplicate": 1,
    }
    assert report["unknown_categories"] == {"purpose": {"crypto": 1}}
    assert report["extra_columns"] == ["extra_col"]


def test_branch_export_is_recognised_by_its_file_name(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "App ID": ["B1"],
            "Customer No": ["C1"],
            "Application Date": ["05/01/2024 10:00"],
            "Applicant Age": ["40"],
            "Annual Salary": ["52,300"],
            "Years Employed": ["3"],
            "Employment Type": ["contract"],
            "Home Ownership": ["own"],
            "Loan Amount": ["12,000"],
            "Term (months)": ["24"],
            "Purpose": ["car"],
            "Region": ["east"],
            "Channel": ["branch"],
            "Credit Utilisation": ["0.5"],
            "Open Accounts": ["3"],
            "Past Delinquencies": ["0"],
            "DTI": ["0.3"],
        }
    )
    path = tmp_path / "2024-01_branch.csv"
    frame.to_csv(path, index=False)
    code, output = _validate(path, "--json")
    report = json.loads(output)
    assert (code, report["source"], report["accepted"]) == (0, "branch", 1)

    # the same export under a name no source's pattern matches: the message names the way out
    renamed = tmp_path / "export.csv"
    frame.to_csv(renamed, index=False)
    code, output = _validate(renamed)
    assert code == 2 and "required column(s) missing" in output, output
    assert "--source <" in output and "branch" in output.split("--source <")[1], output
    code, output = _validate(renamed, "--source", "branch", "--json")
    assert (code, json.loads(output)["accepted"]) == (0, 1)


def test_unknown_dataset_is_a_message(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(HEADER + "\n" + GOOD + "\n")
    code, output = _validate(path, "--dataset", "nope")
    assert code == 2
    assert "nope" in output


def test_params_check_reports_fresh_params() -> None:
    result = CliRunner().invoke(app, ["params", "--check"])
    assert result.exit_code == 0, result.output
    assert "matches conf/" in result.output


def test_params_refuses_overrides_that_would_not_last():
    """params.yaml is always conf/ composed: a key=value override points at conf/ or -S."""
    result = CliRunner().invoke(app, ["params", "model.max_depth=3"])
    assert result.exit_code == 2
    assert "dvc exp run -S model.max_depth=3" in result.output
