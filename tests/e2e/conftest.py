"""End-to-end fixtures: a temporary copy of the repository where real `dvc` commands run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopline import workspace

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
def tiny_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A copy of the repository on the tiny configuration, after one full `dvc repro`."""
    repo = make_repo(tmp_path_factory.mktemp("loopline"), experiment="tiny")
    repo.first_run = repo.repro()  # type: ignore[attr-defined]
    return repo


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[..., Repo]:
    return lambda **defaults: make_repo(tmp_path, **defaults)
