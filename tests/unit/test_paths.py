"""Tests for loopline.paths: the repository root, also inside DVC's temporary experiment copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopline.paths import mlflow_uri, repo_root, shared_root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A main repository with an experiment copy at .dvc/tmp/exps/tmpabc; no env overrides."""
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "dvc.yaml").write_text("stages: {}\n")
    copy = root / ".dvc" / "tmp" / "exps" / "tmpabc"
    (copy / "src").mkdir(parents=True)
    (copy / "dvc.yaml").write_text("stages: {}\n")
    return root.resolve()


EXP = Path(".dvc/tmp/exps/tmpabc")


@pytest.mark.parametrize(
    ("cwd", "expected_repo_root"),
    [
        (Path(), Path()),
        (Path("src/pkg"), Path()),
        (EXP, EXP),
        (EXP / "src", EXP),
    ],
)
def test_repo_root_and_shared_root_from_cwd(
    repo: Path, monkeypatch: pytest.MonkeyPatch, cwd: Path, expected_repo_root: Path
) -> None:
    monkeypatch.chdir(repo / cwd)
    assert repo_root() == repo / expected_repo_root
    assert shared_root() == repo


def test_shared_root_from_a_start_path(repo: Path) -> None:
    assert shared_root(repo / EXP / "src") == repo
    assert repo_root(repo / EXP / "src") == repo / EXP


@pytest.mark.parametrize("inside", [EXP, EXP / "src", Path(".dvc/tmp/exps")])
def test_shared_root_honours_dvc_root(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inside: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # cwd is elsewhere: DVC_ROOT decides
    monkeypatch.setenv("DVC_ROOT", str(repo / inside))
    assert shared_root() == repo


def test_shared_root_outside_an_experiment_is_the_root(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_ROOT", str(repo))
    assert shared_root(repo / EXP) == repo
    monkeypatch.setenv("DVC_ROOT", str(repo / "src"))
    assert shared_root() == repo / "src"


def test_repo_root_without_dvc_yaml_is_the_start(tmp_path: Path) -> None:
    bare = tmp_path / "bare" / "deeper"
    bare.mkdir(parents=True)
    assert repo_root(bare) == bare.resolve()


def test_mlflow_uri_defaults_to_sqlite_at_the_shared_root(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / EXP)
    assert mlflow_uri() == f"sqlite:///{repo / 'mlflow.db'}"


def test_mlflow_uri_honours_the_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / EXP)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert mlflow_uri() == "http://mlflow.internal:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # empty means unset
    assert mlflow_uri() == f"sqlite:///{repo / 'mlflow.db'}"
