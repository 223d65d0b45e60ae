"""A fresh working copy of the project: its own git history, DVC cache and MLflow store.

`loopline loop` runs a model's whole life in one, and the end-to-end tests run real `dvc`
commands in one, so neither touches the user's repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = (
    "conf",
    "src",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    ".gitignore",
    ".dvcignore",
    "Makefile",
    "README.md",
)
BIN = Path(sys.executable).parent  # dvc and loopline of the running environment
_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info")


def tool(name: str) -> str:
    """The path of a command of the running environment (dvc, loopline), else its bare name."""
    path = BIN / name
    return str(path) if path.exists() else name


def copy_project(root: Path, dest: Path, *, extra: tuple[str, ...] = ()) -> Path:
    """Copy the project's source files (no data, no stores) and its .dvc config into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*PROJECT, *extra):
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_IGNORE, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy2(source, dest / name)
    shutil.copytree(
        root / ".dvc",
        dest / ".dvc",
        ignore=shutil.ignore_patterns("cache", "tmp"),
        dirs_exist_ok=True,
    )
    for keep in root.glob("data/**/.gitkeep"):  # folders stages depend on before any data
        target = dest / keep.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    return dest


def env() -> dict[str, str]:
    """The environment for commands in a workspace: this venv first, no outer DVC/MLflow."""
    out = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("DVC_ROOT", "DVC_EXP_NAME", "MLFLOW_TRACKING_URI"):
        out.pop(name, None)
    return out


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command in a workspace; on failure raise with its output."""
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def init_git(path: Path) -> None:
    """Make the workspace a git repository (DVC experiments and lineage need one)."""
    run(path, "git", "init", "-q", "-b", "main")
    run(path, "git", "config", "user.email", "loop@loopline.local")
    run(path, "git", "config", "user.name", "Loopline")


def commit(path: Path, message: str) -> None:
    run(path, "git", "add", "-A")
    run(path, "git", "commit", "-q", "-m", message, "--allow-empty")


def set_defaults(path: Path, **choices: str) -> None:
    """Edit conf/config.yaml's defaults list (e.g. experiment='tiny'), as a user would."""
    config = path / "conf" / "config.yaml"
    text = config.read_text()
    for group, option in choices.items():
        text = re.sub(rf"^  - {group}: .*$", f"  - {group}: {option}", text, flags=re.M)
    config.write_text(text)


def ran_stages(output: str) -> list[str]:
    """Return the names of the stages a `dvc repro` output says it ran, in order."""
    return re.findall(r"Running stage '([^']+)'", output)


def skipped_stages(output: str) -> list[str]:
    """Return the names of the stages a `dvc repro` output says did not change."""
    return re.findall(r"Stage '([^']+)' didn't change, skipping", output)
