"""End-to-end batch scoring (`loopline score`) with a bundle the real pipeline trained.

One module-scoped copy of the repository runs `dvc repro` on the tiny configuration (the shared
`tiny_repo` is mutated by other tests), then raw batch files are scored chunk by chunk and held
to the pipeline's own validated partitions and to `Bundle.score_frame`.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopline.bundle import Bundle
from loopline.cli import _pick_source, app
from loopline.config import SourceConfig
from loopline.io.chunks import read_chunks
from loopline.io.predlog import read_log
from loopline.scoring import score_batches
from loopline.services.scoring import ScoreSummary, ScoringOptions, score_file

from .conftest import Repo

pytestmark = pytest.mark.slow

RAW = "data/raw/loans/simulated/applications"
EARLIER = "application_id:duplicate_of_earlier_batch"


@pytest.fixture(scope="module")
def repo(tiny_repo: Repo) -> Repo:
    """This module's copy of the repository on the tiny configuration, after `dvc repro`."""
    return tiny_repo


@pytest.fixture(scope="module")
def bundle(repo: Repo) -> Bundle:
    return Bundle.load(repo.path / "models/loans")


def _score(
    bundle: Bundle, path: Path, output: Path, *, chunk_rows: int, log_dir: Path | None = None
) -> ScoreSummary:
    _, key, source = _pick_source(path, SimpleNamespace(dataset=bundle.dataset), None)
    return score_file(
        path,
        output,
        bundle=bundle,
        model_version=f"path:{bundle.root}",
        options=ScoringOptions(
            source_key=key, source=source, chunk_rows=chunk_rows, log_dir=log_dir, progress=False
        ),
    )


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["score", *args, "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _raw_records(path: Path) -> int:
    if path.suffix == ".csv":
        return len(pd.read_csv(path, dtype=str))
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def _new_applications(repo: Repo, target: Path, months: list[str]) -> list[dict]:
    """Write several months of API records as one new batch: fresh ids, in time order."""
    records = []
    for month in months:
        for line in (repo.path / RAW / f"{month}_api.jsonl").read_text().splitlines():
            record = json.loads(line)
            if isinstance(record.get("application_id"), str):
                record["application_id"] = "N" + record["application_id"]
            records.append(record)
    stamp = lambda r: r["applied_at"] if isinstance(r.get("applied_at"), str) else "~"  # noqa: E731
    records.sort(key=stamp)
    target.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


@pytest.mark.parametrize("name", ["2024-03_api.jsonl", "2024-03_branch.csv"])
def test_scores_equal_score_frame_on_the_pipelines_validated_rows(
    repo: Repo, bundle: Bundle, tmp_path: Path, name: str
) -> None:
    raw = repo.path / RAW / name
    summary = _score(bundle, raw, tmp_path / "scores.parquet", chunk_rows=37)
    assert summary.chunks > 2
    assert summary.rows_read == _raw_records(raw) == summary.scored + summary.quarantined

    partition = f"applications/simulated__applications__{name}.parquet"
    validated = pd.read_parquet(repo.path / "data/interim/loans/validated" / partition)
    expected = bundle.score_frame(validated).set_axis(validated["application_id"].to_numpy())
    ours = pd.read_parquet(summary.output).set_index("application_id")
    assert ours.index.is_unique
    # the pipeline also quarantines ids seen in earlier batches; one file alone does not
    assert set(expected.index) <= set(ours.index)
    got = ours.loc[expected.index]
    np.testing.assert_array_equal(got["score"].to_numpy(), expected["score"].to_numpy())
    assert got["decision"].tolist() == expected["decision"].tolist()
    assert got["decided_by"].tolist() == expected["decided_by"].tolist()
    assert [list(r) for r in got["reasons"]] == [list(r) for r in expected["reasons"]]
    assert got["_source_row"].tolist() == validated["_source_row"].tolist()

    pipeline_bad = pd.read_parquet(repo.path / "data/interim/loans/quarantine" / partition)
    reasons = (
        pipeline_bad["_reasons"].str.split(";").map(lambda rs: [r for r in rs if r != EARLIER])
    )
    pipeline_bad = pipeline_bad.assign(_reasons=reasons.str.join(";"))[reasons.str.len() > 0]
    ours_bad = pd.read_parquet(summary.quarantine)
    assert ours_bad["_source_row"].tolist() == pipeline_bad["_source_row"].tolist()
    assert ours_bad["_reasons"].tolist() == pipeline_bad["_reasons"].tolist()


@pytest.mark.parametrize("name", ["2024-04_api.jsonl", "2024-04_branch.csv"])
def test_counts_add_up_with_corrupted_records(
    repo: Repo, bundle: Bundle, tmp_path: Path, name: str
) -> None:
    original = repo.path / RAW / name
    records = _raw_records(original)  # corrupting a record keeps it one record
    lines = original.read_text().splitlines()
    if name.endswith(".csv"):  # line 0 is the header: line i is record i
        lines[5] = ",".join(lines[5].split(",")[:-2])  # two fields short
        lines[9] += ",surplus"  # one field too many
        broken = {5: "record:wrong_field_count", 9: "record:wrong_field_count"}
    else:
        lines[4] = lines[4][:-7]  # truncated JSON
        lines[8] = "[1, 2, 3]"
        broken = {5: "record:invalid_json", 9: "record:not_a_json_object"}
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    summary = _score(bundle, path, tmp_path / "scores.parquet", chunk_rows=25)

    assert summary.rows_read == records == summary.scored + summary.quarantined
    scored = pd.read_parquet(summary.output)
    quarantined = pd.read_parquet(summary.quarantine)
    assert (len(scored), len(quarantined)) == (summary.scored, summary.quarantined)
    rows = [*scored["_source_row"], *quarantined["_source_row"]]
    assert sorted(rows) == list(range(1, records + 1))
    reasons = quarantined.set_index("_source_row")["_reasons"]
    assert {row: reasons[row] for row in broken} == broken
    assert sum(summary.rules.values()) >= summary.quarantined
    assert summary.exit_code == 1


def test_duplicates_across_chunks_and_chunk_size_does_not_change_scores(
    repo: Repo, bundle: Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "new_api.jsonl"
    records = _new_applications(repo, path, ["2024-02", "2024-03", "2024-04", "2024-05"])
    first, later = records[3], records[200]
    with path.open("a") as handle:  # the same applications again, chunks later
        handle.write(json.dumps(first) + "\n" + json.dumps(later) + "\n")
    small = _score(bundle, path, tmp_path / "small.parquet", chunk_rows=40)
    whole = _score(bundle, path, tmp_path / "whole.parquet", chunk_rows=1_000_000)
    assert small.chunks > 10 and whole.chunks == 1
    pd.testing.assert_frame_equal(pd.read_parquet(small.output), pd.read_parquet(whole.output))
    quarantined = pd.read_parquet(small.quarantine)
    pd.testing.assert_frame_equal(quarantined, pd.read_parquet(whole.quarantine))
    assert small.rules == whole.rules

    dup = quarantined[quarantined["_source_row"] > len(records)]
    assert dup["application_id"].tolist() == [first["application_id"], later["application_id"]]
    assert dup["_reasons"].tolist() == ["application_id:duplicate"] * 2
    scored_ids = pd.read_parquet(small.output)["application_id"]
    assert scored_ids.is_unique and first["application_id"] in set(scored_ids)

    # the test has teeth: chunks scored on their own would miss earlier chunks' applications
    (chunk,) = score_batches(
        read_chunks(path, source=SourceConfig(), chunk_rows=10**6),
        bundle=bundle,
        source_key="api",
        source=SourceConfig(),
        file_name=path.name,
    )
    alone = pd.concat(
        bundle.score_frame(chunk.accepted.iloc[i : i + 40]) for i in range(0, small.scored, 40)
    )
    apps = "feature.prior_apps_90d"
    assert (alone[apps].to_numpy() < chunk.scores[apps].to_numpy()).any()


def test_prediction_log_holds_one_record_per_scored_row(
    repo: Repo, bundle: Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "2024-06_api.jsonl"
    _new_applications(repo, path, ["2024-06"])
    log_dir = tmp_path / "predictions"
    summary = _score(bundle, path, tmp_path / "scores.parquet", chunk_rows=30, log_dir=log_dir)
    log = read_log(log_dir)
    assert log.corrupt_lines == 0 and not log.unreadable_segments
    assert log.segments == summary.chunks  # every chunk here has scored rows
    frame = log.frame
    assert len(frame) == summary.scored == summary.logged
    assert frame["request_id"].is_unique
    assert set(frame["source"]) == {"batch"}
    assert set(frame["model_version"]) == {f"path:{bundle.root}"}
    assert set(frame["bundle_id"]) == {bundle.bundle_id}
    scored = pd.read_parquet(summary.output).set_index("application_id")
    logged = frame.set_index("input.application_id")
    assert set(logged.index) == set(scored.index)
    logged = logged.loc[scored.index]
    np.testing.assert_array_equal(logged["score"], scored["score"].astype("float64"))
    assert logged["decision"].tolist() == scored["decision"].tolist()
    assert [list(r) for r in logged["reasons"]] == [list(r) for r in scored["reasons"]]
    assert {f"feature.{n}" for n in bundle.feature_names} <= set(frame.columns)
    assert {f"input.{n}" for n in bundle.schema.names} <= set(frame.columns)


def test_cli_writes_every_format_and_exit_codes(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the default --log-dir would be
    model = str(repo.path / "models/loans")
    lines = (repo.path / RAW / "2024-05_api.jsonl").read_text().splitlines()
    lines[2] = "{broken"
    path = tmp_path / "2024-05_api.jsonl"
    path.write_text("\n".join(lines) + "\n")
    outputs = {}
    for suffix in (".parquet", ".csv", ".jsonl"):
        out = tmp_path / "out" / f"scores{suffix}"
        code, output = _cli(str(path), str(out), "--model", model, "--chunk-rows", "50", "--no-log")
        assert code == 1, output
        assert f"{len(lines)} rows read" in output and "record:invalid_json" in output
        read = {
            ".parquet": pd.read_parquet,
            ".csv": lambda p: pd.read_csv(p, keep_default_na=False),
            ".jsonl": lambda p: pd.read_json(p, lines=True, dtype={"application_id": str}),
        }[suffix]
        outputs[suffix] = (read(out), read(out.with_name(f"scores.quarantine{suffix}")))
    scored, quarantined = outputs[".parquet"]
    assert list(scored.columns) == [
        "application_id",
        "_source_row",
        "score",
        "decision",
        "decided_by",
        "reasons",
    ]
    for suffix in (".csv", ".jsonl"):
        other, other_bad = outputs[suffix]
        assert other["application_id"].tolist() == scored["application_id"].tolist()
        np.testing.assert_allclose(other["score"], scored["score"], rtol=1e-6)
        assert other["reasons"].tolist() == ["; ".join(r) for r in scored["reasons"]]
        assert other_bad["_source_row"].tolist() == quarantined["_source_row"].tolist()
        assert other_bad["_reasons"].tolist() == quarantined["_reasons"].tolist()
    assert not (tmp_path / "data").exists(), "--no-log writes no prediction log"

    clean = tmp_path / "clean.jsonl"  # only the rows that were scored: exit status 0
    keep = set(scored["_source_row"])
    clean.write_text("".join(f"{line}\n" for i, line in enumerate(lines, 1) if i in keep))
    log_dir = tmp_path / "log"
    code, output = _cli(
        str(clean), str(tmp_path / "clean.csv"), "--model", model, "--log-dir", str(log_dir)
    )
    assert code == 0, output
    assert f"{len(keep)} scored, 0 quarantined" in output
    assert len(read_log(log_dir).frame) == len(keep)


HEADER = (
    "application_id,customer_id,applied_at,age,annual_income,employment_years,employment_type,"
    "home_ownership,loan_amount,loan_term_months,purpose,region,channel,credit_utilization,"
    "num_open_accounts,past_delinquencies,debt_to_income"
)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.jsonl", b"\n \n", "the file is empty"),
        ("latin1.csv", f"{HEADER}\n".encode() + "A1,é".encode("latin-1"), "not valid utf-8"),
        ("missing.csv", b"application_id,age\nA1,30\n", "required column(s) missing"),
        ("missing.jsonl", b'{"application_id": "A1", "age": 30}\n', "required column(s) missing"),
        ("junk.jsonl", b"not json\n", "required column(s) missing"),
        ("broken.parquet", b"not parquet", "not a readable Parquet file"),
        ("notes.txt", b"hello", "unknown file type"),
    ],
)
def test_unreadable_files_exit_2_with_a_message_and_no_output(
    repo: Repo, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_bytes(content)
    out = tmp_path / "out" / "scores.csv"
    log_dir = tmp_path / "log"
    model = str(repo.path / "models/loans")
    code, output = _cli(str(path), str(out), "--model", model, "--log-dir", str(log_dir))
    assert code == 2, output
    assert message in output
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert not log_dir.exists()


def test_missing_bundle_and_bad_output_exit_2(tmp_path: Path, repo: Repo) -> None:
    raw = str(repo.path / RAW / "2024-01_api.jsonl")
    code, output = _cli(raw, str(tmp_path / "s.csv"), "--model", str(tmp_path))
    assert code == 2 and "no model bundle" in output
    code, output = _cli(raw, str(tmp_path / "s.txt"), "--model", str(repo.path / "models/loans"))
    assert code == 2 and "use .csv, .jsonl or .parquet" in output


def test_one_out_of_range_date_quarantines_only_its_row(
    repo: Repo, bundle: Bundle, tmp_path: Path
) -> None:
    """applied_at 1500 (outside pandas' range) used to abort the whole file; REST accepted it."""
    lines = (repo.path / RAW / "2024-05_api.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    clean = tmp_path / "clean.jsonl"  # the rows that score when nothing is changed
    clean.write_text("".join(f"{line}\n" for line in lines))
    before = _score(bundle, clean, tmp_path / "before.parquet", chunk_rows=50)
    target = next(
        i
        for i, r in enumerate(records)
        if r["application_id"] in set(pd.read_parquet(before.output)["application_id"])
    )
    for value, rule in [
        ("1500-01-01T00:00:00", "applied_at:date_range"),
        ("9999-12-31T23:59:59+14:00", "applied_at:date_range"),
        ("2199-01-01T00:00:00", "applied_at:in_future"),
    ]:
        changed = [dict(r) for r in records]
        changed[target]["applied_at"] = value
        path = tmp_path / "2024-05_api.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in changed))
        summary = _score(bundle, path, tmp_path / "scores.parquet", chunk_rows=50)
        assert summary.rows_read == len(records)
        assert (summary.scored, summary.quarantined) == (before.scored - 1, before.quarantined + 1)
        bad = pd.read_parquet(summary.quarantine).set_index("_source_row")["_reasons"]
        assert bad[target + 1] == rule
        code, output = _cli(
            str(path), str(tmp_path / "cli.csv"), "--model", str(bundle.root), "--no-log"
        )
        assert code == 1 and rule in output, output
        # REST: the same rule, a violation (422), never an exception
        assert bundle.check_record(changed[target])[1] == [rule]
    huge = dict(records[target]) | {"annual_income": 10**309}
    assert bundle.check_record(huge)[1] == ["annual_income:not_a_number"]
