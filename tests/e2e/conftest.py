"""End-to-end fixtures: a temporary copy of the repository where real `dvc` commands run."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from loopline import workspace
from tests.conftest import shared_root

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Repo:
    path: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        for name in ("DVC_ROOT", "DVC_EXP_NAME", "MLFLOW_TRACKING_URI"):
            env.pop(name, None)
        result = subprocess.run(args, cwd=self.path, env=env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def repro(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", "repro", *extra, check=check)

    def set_defaults(self, **choices: str) -> None:
        """Edit conf/config.yaml's defaults list (e.g. experiment='tiny'), as a user would."""
        config = self.path / "conf" / "config.yaml"
        text = config.read_text()
        for group, option in choices.items():
            text = re.sub(rf"^  - {group}: .*$", f"  - {group}: {option}", text, flags=re.M)
        config.write_text(text)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message, "--allow-empty")


def ran_stages(output: str) -> set[str]:
    """Return the names of the stages a `dvc repro` output says it ran."""
    return set(workspace.ran_stages(output))


def make_repo(tmp: Path, **defaults: str) -> Repo:
    workspace.copy_project(ROOT, tmp, extra=("tests",))
    repo = Repo(tmp)
    repo.run("git", "init", "-q", "-b", "main")
    repo.run("git", "config", "user.email", "test@loopline.local")
    repo.run("git", "config", "user.name", "Loopline Test")
    repo.set_defaults(**defaults)
    repo.run("loopline", "params")
    repo.commit("tiny configuration")
    return repo


@pytest.fixture(scope="session")
def tiny_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny configuration after one full `dvc repro`, built once per test run (whichever
    worker comes first builds it, the others wait) and never used directly: tests get copies."""
    root = shared_root(tmp_path_factory)
    path, log = root / "tiny-template", root / "tiny-template.first-run.txt"
    with FileLock(str(root / "tiny-template.lock")):
        if not log.exists():
            shutil.rmtree(path, ignore_errors=True)
            repo = make_repo(path, experiment="tiny")
            log.write_text(repo.repro().stdout)
    return path, log.read_text()


def copy_workspace(template: Path, dest: Path) -> Repo:
    """Copy a built workspace (git, DVC cache, MLflow store, data) to dest, as `mv` would leave
    it. MLflow records artifact locations as absolute URIs, so they are rewritten to the copy's
    own mlartifacts/; nothing in the copy points back at the template."""
    shutil.copytree(template, dest, symlinks=True)
    old, new = f"{template}/", f"{dest}/"
    store = sqlite3.connect(dest / "mlflow.db")
    with store:
        tables = [r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in store.execute(f'PRAGMA table_info("{table}")'):
                if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                    name = column[1]
                    store.execute(
                        f'UPDATE "{table}" SET "{name}" = REPLACE("{name}", ?, ?) '
                        f'WHERE "{name}" LIKE ?',
                        (old, new, f"%{old}%"),
                    )
    store.execute("VACUUM")  # no stale page keeps the old paths
    store.close()
    for model in (dest / "mlartifacts").rglob("MLmodel"):
        model.write_text(model.read_text().replace(old, new))
    return Repo(dest)


@pytest.fixture(scope="module")
def tiny_repo(tiny_template: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """This module's own copy of the tiny configuration after one full `dvc repro`."""
    template, first_run = tiny_template
    repo = copy_workspace(template, tmp_path_factory.mktemp("tiny") / "repo")
    repo.first_run = subprocess.CompletedProcess(["dvc", "repro"], 0, first_run, "")  # type: ignore[attr-defined]
    return repo


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[..., Repo]:
    return lambda **defaults: make_repo(tmp_path, **defaults)
