"""Tests for loopline.infer (schema inference) and loopline.onboard (`loopline init-dataset`)."""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from loopline.config import to_config
from loopline.infer import InferenceError, check_target, infer, label_value, widen
from loopline.ingest import normalise
from loopline.io import read_batch_file
from loopline.labels import outcome
from loopline.onboard import OnboardError, file_pattern, format_report, init_dataset, sniff
from loopline.params import compose
from loopline.schemas import parse_table_schema, table_schema
from loopline.validate import validate_batch

ROOT = Path(__file__).resolve().parents[2]


def _frame(columns: dict[str, list[str]]) -> pd.DataFrame:
    """Return raw values as read_batch_file gives them: text."""
    return pd.DataFrame(columns, dtype="str")


def _loans_like(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    return _frame(
        {
            "Application ID": [f"APP{i:05d}" for i in range(n)],
            "customer_id": [f"C{c:03d}" for c in rng.integers(0, 120, n)],
            "applied_at": list(times),
            "age": [str(a) if i % 20 else "?" for i, a in enumerate(rng.integers(18, 80, n))],
            "income": [f"{x:.2f}" for x in rng.normal(50_000, 10_000, n)],
            "status": list(rng.choice(["A11", "A12", "A13"], n)),
            "note": [f"free text {i}" for i in range(n)],
            "label": list(rng.choice(["1", "2"], n, p=[0.7, 0.3])),
        }
    )


@pytest.fixture(scope="module")
def loans_like() -> pd.DataFrame:
    return _loans_like()


@pytest.fixture(scope="module")
def inferred(loans_like: pd.DataFrame):
    return infer(loans_like, target="label", positive="2")


def test_dtypes(inferred) -> None:
    cols = inferred.schema["columns"]
    assert cols["application_id"] == {"dtype": "string", "nullable": False, "unique": True}
    assert cols["customer_id"]["dtype"] == "string"
    assert cols["applied_at"] == {"dtype": "datetime", "nullable": False}
    assert cols["age"]["dtype"] == "int"
    assert cols["income"]["dtype"] == "float"
    assert cols["status"] == {
        "dtype": "category",
        "nullable": False,
        "allowed": ["A11", "A12", "A13"],
        "unknown": "accept",
    }
    assert cols["note"]["dtype"] == "string"  # every value different: not a model input
    assert any("status: 3 distinct values -> category" in n for n in inferred.notes)


def test_schema_parses(inferred) -> None:
    schema = parse_table_schema(inferred.schema)
    assert schema.names[0] == "application_id"
    assert schema["label"].unknown == "quarantine"


def test_question_mark_is_a_marker_in_a_numeric_column(inferred) -> None:
    assert "?" in inferred.dataset["na_values"]
    assert "" in inferred.dataset["na_values"]
    assert inferred.schema["columns"]["age"]["nullable"] is True
    assert any(n.startswith("na markers: ['?']") for n in inferred.notes)


def test_markers_need_evidence() -> None:
    frame = _frame(
        {
            "savings": ["None", "low", "high", "low"] * 5,
            "amount": ["1", "-", "3", "4"] * 5,
            "city": ["NA", "x", "y", "z"] * 5,
            "region": ["NA", "north", "south", "east"] * 5,
            "y": ["0", "1"] * 10,
        }
    )
    result = infer(frame, target="y", positive=1)
    na = result.dataset["na_values"]
    assert "-" in na  # inside a numeric column
    assert "NA" in na  # a value of two columns
    assert "None" not in na  # only one text column: a real category
    assert "None" in result.schema["columns"]["savings"]["allowed"]
    assert result.schema["columns"]["amount"]["dtype"] == "int"


def test_ints_floats_codes_and_datetime_layouts() -> None:
    frame = _frame(
        {
            "count": ["1", "2", "3.0", ""] * 5,
            "ratio": ["0.5", "1", "0.25", "0.75"] * 5,
            "zip": ["01234", "02345", "01234", "09999"] * 5,
            "day": ["31/01/2024", "01/02/2024", "15/03/2024", "28/02/2024"] * 5,
            "y": ["no", "yes", "no", "no"] * 5,
        }
    )
    result = infer(frame, target="y", positive="yes", time_column="day")
    cols = result.schema["columns"]
    assert cols["count"]["dtype"] == "int" and cols["count"]["nullable"] is True
    assert cols["ratio"]["dtype"] == "float"
    assert cols["zip"]["dtype"] == "category"  # leading zeros: a code, not a number
    assert cols["day"]["dtype"] == "datetime"
    assert result.date_format == "%d/%m/%Y"
    assert result.dataset["time_column"] == "day"


def test_ranges_have_a_margin() -> None:
    assert widen(18, 79, whole=True) == (11, 86)
    assert widen(0, 100, whole=True) == (0, 110)  # never below 0 for non-negative values
    assert widen(-5, 5, whole=True) == (-6, 6)
    lo, hi = widen(0.2, 0.8)
    assert lo == pytest.approx(0.14) and hi == pytest.approx(0.86)
    lo, hi = widen(1234.5678, 9876.54321)
    assert lo <= 1234.5678 - 864 and hi >= 9876.54321 + 864
    assert widen(7, 7, whole=True) == (6, 8)  # one value: 10% of itself
    lo, hi = widen(0.0, 0.0)
    assert lo == 0 and hi > 0


def test_numeric_rule_bounds(inferred, loans_like: pd.DataFrame) -> None:
    age = pd.to_numeric(loans_like["age"], errors="coerce")
    rule = inferred.schema["columns"]["age"]
    span = age.max() - age.min()
    assert rule["min"] == max(0, np.floor(age.min() - 0.1 * span))
    assert rule["max"] == np.ceil(age.max() + 0.1 * span)
    assert isinstance(rule["min"], int) and isinstance(rule["max"], int)


def test_guesses_with_reasons(inferred) -> None:
    d = inferred.dataset
    assert d["id_column"] == "application_id"
    assert d["time_column"] == "applied_at"
    assert d["entity_column"] == "customer_id"
    notes = "\n".join(inferred.notes)
    assert "guessed id column: application_id (every value unique, name looks like an id)" in notes
    assert "guessed time column: applied_at" in notes
    assert "guessed entity column: customer_id" in notes
    assert "'Application ID': 'application_id'" in notes  # canonicalised, as ingest does


def test_low_cardinality_account_column_is_no_entity() -> None:
    frame = _frame({"account_status": ["A11", "A12", "A14"] * 40, "y": ["1", "2", "2"] * 40})
    result = infer(frame, target="y", positive="2")
    assert result.dataset["entity_column"] is None
    assert result.schema["columns"]["account_status"]["dtype"] == "category"


def test_given_roles_are_checked(loans_like: pd.DataFrame) -> None:
    with pytest.raises(InferenceError, match="an id must identify each row"):
        infer(loans_like, target="label", positive="2", id_column="customer_id")
    with pytest.raises(InferenceError, match="does not parse as timestamps"):
        infer(loans_like, target="label", positive="2", time_column="status")
    none = infer(loans_like, target="label", positive="2", id_column="", entity_column="")
    assert none.dataset["id_column"] is None and none.dataset["entity_column"] is None
    given = infer(loans_like, target="label", positive="2", id_column="Application ID")
    assert given.dataset["id_column"] == "application_id"
    assert "id column: application_id (given)" in given.notes


def test_integer_label_given_as_text(inferred) -> None:
    assert inferred.dataset["positive_label"] == 2
    assert isinstance(inferred.dataset["positive_label"], int)
    assert inferred.dataset["target_values"] == [1, 2]
    assert inferred.schema["columns"]["label"] == {
        "dtype": "category",
        "nullable": False,
        "allowed": ["1", "2"],
        "unknown": "quarantine",
    }


@pytest.mark.parametrize("positive", ["2", 2, 2.0, "2.0", " 2 "])
def test_positive_compares_by_value(positive: object) -> None:
    counts = pd.Series([70, 30], index=["1", "2"])
    assert check_target(counts, positive, column="class")["positive_label"] == 2


def test_positive_not_seen_names_the_values() -> None:
    counts = pd.Series([70, 30], index=["1", "2"])
    with pytest.raises(InferenceError, match=r"values seen: '1', '2'"):
        check_target(counts, "3", column="class")
    with pytest.raises(InferenceError, match="only the outcome"):
        check_target(pd.Series([5], index=["2"]), "2", column="class")


def test_string_labels() -> None:
    counts = pd.Series([75, 25], index=["<=50K", ">50K"])
    spec = check_target(counts, ">50K", column="income")
    assert spec["positive_label"] == ">50K"
    assert spec["target_values"] == ["<=50K", ">50K"]
    words = check_target(pd.Series([8, 2], index=["false", "true"]), "yes", column="churn")
    assert words["positive_label"] == "true"


@pytest.mark.parametrize("text", ["2", "0", "-3", "2.0", ">50K", "true", "yes", "02", "1e3"])
def test_label_values_round_trip(text: str) -> None:
    value = label_value(text)
    assert str(yaml.safe_load(yaml.safe_dump({"v": value}))["v"]) == text


def test_target_errors() -> None:
    frame = _frame({"a": ["1", "2"] * 5, "b": ["x", "y"] * 5})
    with pytest.raises(InferenceError, match="--no-header"):
        infer(frame, target="income", positive="1")
    with pytest.raises(InferenceError, match="values seen"):
        infer(frame, target="b", positive="z")


def test_sniff_semicolon_decimal_comma_and_whitespace(tmp_path: Path) -> None:
    semi = tmp_path / "eu.csv"
    semi.write_text("id;amount;kind\n1;12,5;a\n2;3,25;b\n3;7,0;a\n")
    dialect = sniff(semi)
    assert (dialect.delimiter, dialect.decimal, dialect.format) == (";", ",", "csv")
    spaced = tmp_path / "german.data"
    spaced.write_text("A11  6 A34 1169\nA12 48  A32 5951\nA14 12 A34 2096\n")
    dialect = sniff(spaced, header=False)
    assert (dialect.delimiter, dialect.format, dialect.pattern) == ("whitespace", "csv", "*.data")
    assert file_pattern(Path("adult.csv.gz")) == "*.csv.gz"
    assert file_pattern(Path("export_v1.2")) == "export_v1.2"


# --- onboarding generated files end to end (config composes, every row validates) ---

CREDIT_NAMES = [
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "installment_rate",
    "age",
    "housing",
    "class",
]


def _credit_rows(n: int, seed: int = 1) -> list[list[str]]:
    """German-credit-like rows: coded categories (A11...), numbers, label 1/2 (2 = bad)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        rows.append(
            [
                str(rng.choice(["A11", "A12", "A13", "A14"])),
                str(rng.integers(4, 73)),
                str(rng.choice(["A30", "A31", "A32", "A33", "A34"])),
                str(rng.choice(["A40", "A41", "A42", "A43", "A49", "A410"])),
                str(rng.integers(250, 18_425)),
                str(rng.choice(["A61", "A62", "A63", "A64", "A65"])),
                str(rng.integers(1, 5)),
                str(rng.integers(19, 76)),
                str(rng.choice(["A151", "A152", "A153"])),
                str(rng.choice(["1", "2"], p=[0.7, 0.3])),
            ]
        )
    return rows


def _census_lines(n: int, seed: int = 2) -> list[str]:
    """Adult-census-like lines: a header, ", " separators, "?" for missing, a string label."""
    rng = np.random.default_rng(seed)
    lines = [
        "age, workclass, education, education-num, hours-per-week, capital-gain, fnlwgt, "
        "native-country, income"
    ]
    for _ in range(n):
        workclass = rng.choice(["Private", "Self-emp", "Government", "?"], p=[0.6, 0.2, 0.15, 0.05])
        country = rng.choice(["United-States", "Mexico", "India", "?"], p=[0.8, 0.1, 0.05, 0.05])
        gain = "0" if rng.random() < 0.9 else str(rng.integers(100, 20_000))
        fields = [
            str(rng.integers(17, 91)),
            str(workclass),
            str(rng.choice(["Bachelors", "HS-grad", "Masters", "Some-college"])),
            str(rng.integers(1, 17)),
            str(rng.integers(1, 100)),
            gain,
            f"{rng.uniform(1e4, 1e6):.1f}",
            str(country),
            str(rng.choice(["<=50K", ">50K"], p=[0.75, 0.25])),
        ]
        lines.append(", ".join(fields))
    return lines


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root with a copy of conf/ (init-dataset writes into it)."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    return tmp_path


def _validate_whole_file(root: Path, name: str, rows: int) -> None:
    """Compose the config, parse the schema and validate every row of the raw copy."""
    cfg = to_config(compose([f"dataset={name}"], root=root))
    dataset = cfg.dataset
    schema = table_schema(root / dataset.schema_path)
    (source_key, source), *_ = dataset.sources.items()
    files = sorted((root / dataset.raw_dir).glob(source.pattern))
    assert len(files) == 1
    raw = read_batch_file(files[0], source)
    assert len(raw.frame) == rows and raw.malformed.empty
    result = normalise(
        raw,
        schema=schema,
        source=source,
        source_key=source_key,
        file_name=files[0].name,
        na_values=dataset.na_values,
        period_regex=dataset.batch_period_regex,
    )
    assert result.missing_columns == [] and result.extra_columns == []
    checked = validate_batch(
        result.frame,
        schema=schema,
        id_column=dataset.id_column,
        time_column=dataset.time_column,
    )
    assert len(checked.quarantined) == 0, checked.report
    assert len(checked.accepted) == rows
    y = outcome(checked.accepted[dataset.target], dataset.positive_label)
    assert 0 < np.nansum(y) < rows  # positives and negatives


def test_onboard_headerless_gzip_with_integer_label(project: Path, tmp_path_factory) -> None:
    rows = _credit_rows(400)
    source_dir = tmp_path_factory.mktemp("user")
    file = source_dir / "credit.data.gz"
    with gzip.open(file, "wt") as handle:
        handle.writelines(",".join(r) + "\n" for r in rows)
    before = file.read_bytes()

    result = init_dataset(
        file,
        name="credit",
        target="class",
        positive="2",
        header=False,
        names=CREDIT_NAMES,
        root=project,
    )

    assert file.read_bytes() == before  # the user's file is copied, never touched
    assert result.copied and result.raw_file == project / "data/raw/credit/credit.data.gz"
    assert (project / "data/feedback/credit/.gitkeep").is_file()
    assert result.source == {
        "pattern": "*.data.gz",
        "format": "csv",
        "delimiter": ",",
        "header": False,
        "names": CREDIT_NAMES,
        "decimal": ".",
        "encoding": "utf-8",
    }
    text = result.dataset_file.read_text()
    assert text.startswith("# Inferred by `loopline init-dataset` from ")
    assert "\npositive_label: 2\n" in text
    written = yaml.safe_load(text)
    assert written["target_values"] == [1, 2]
    assert written["id_column"] is None and written["time_column"] is None
    schema = yaml.safe_load(result.schema_file.read_text())["columns"]
    assert schema["checking_status"]["allowed"] == ["A11", "A12", "A13", "A14"]
    assert schema["duration"]["dtype"] == "int"
    assert schema["class"]["unknown"] == "quarantine"
    assert len(written["slices"]) == 2

    _validate_whole_file(project, "credit", rows=400)

    report = format_report(result)
    assert report[-3:] == ["Next:", "  loopline use credit", "  dvc repro"]
    assert "  conf/dataset/credit.yaml" in report
    with pytest.raises(OnboardError, match="--force"):
        init_dataset(
            file,
            name="credit",
            target="class",
            positive="2",
            header=False,
            names=CREDIT_NAMES,
            root=project,
        )


def test_onboard_census_with_question_marks(project: Path, tmp_path_factory) -> None:
    lines = _census_lines(500)
    file = tmp_path_factory.mktemp("user") / "adult.csv"
    file.write_text("\n".join(lines) + "\n")

    result = init_dataset(file, name="adult", target="income", positive=">50K", root=project)

    written = yaml.safe_load(result.dataset_file.read_text())
    assert written["positive_label"] == ">50K"
    assert written["target_values"] == ["<=50K", ">50K"]
    assert "?" in written["na_values"]
    assert written["sources"]["main"]["pattern"] == "*.csv"
    schema = yaml.safe_load(result.schema_file.read_text())["columns"]
    assert schema["workclass"]["nullable"] is True
    assert "?" not in schema["workclass"]["allowed"]
    assert schema["education_num"]["dtype"] == "int"
    assert schema["fnlwgt"]["dtype"] == "float"
    assert schema["capital_gain"]["min"] == 0
    assert any(n.startswith("na markers: ['?']") for n in result.notes)

    _validate_whole_file(project, "adult", rows=500)

    # already under data/raw/adult: onboarding it again (with --force) copies nothing
    again = init_dataset(
        project / "data/raw/adult/adult.csv",
        name="adult",
        target="income",
        positive=">50K",
        root=project,
        force=True,
    )
    assert not again.copied
    assert any("already in place" in line for line in format_report(again))


def test_onboard_semicolon_decimal_comma_bz2_with_dates(project: Path, tmp_path_factory) -> None:
    rng = np.random.default_rng(3)
    n = 300
    lines = ["Loan ID;Customer No;Applied On;Amount;Rate;Region;Default"]
    days = pd.date_range("2023-01-01", periods=n, freq="D").strftime("%d/%m/%Y")
    for i in range(n):
        amount = f"{rng.uniform(500, 9000):.2f}".replace(".", ",")
        rate = "" if i % 25 == 0 else f"{rng.uniform(0.01, 0.2):.3f}".replace(".", ",")
        region = rng.choice(["north", "south", "east"])
        label = rng.choice(["no", "yes"], p=[0.8, 0.2])
        lines.append(
            f"L{i:04d};C{rng.integers(0, 80):03d};{days[i]};{amount};{rate};{region};{label}"
        )
    file = tmp_path_factory.mktemp("user") / "loans.csv.bz2"
    file.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode("utf-8")))

    result = init_dataset(file, name="eu_loans", target="Default", positive="yes", root=project)

    assert result.source["delimiter"] == ";" and result.source["decimal"] == ","
    assert result.source["date_format"] == "%d/%m/%Y"
    written = yaml.safe_load(result.dataset_file.read_text())
    assert (written["id_column"], written["entity_column"], written["time_column"]) == (
        "loan_id",
        "customer_no",
        "applied_on",
    )
    assert written["positive_label"] == "yes"
    schema = yaml.safe_load(result.schema_file.read_text())["columns"]
    assert schema["amount"]["dtype"] == "float" and schema["rate"]["nullable"] is True
    _validate_whole_file(project, "eu_loans", rows=n)
