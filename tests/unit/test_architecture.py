"""The layer contract (pyproject.toml, ARCHITECTURE.md) holds, and it would catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": str(LINT.parent)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_domain_module_importing_a_stage_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "loopline", tmp_path / "src" / "loopline")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # a regular package first on the path hides the installed (namespace) one from the linter
    (tmp_path / "src" / "loopline" / "__init__.py").touch()
    labels = tmp_path / "src" / "loopline" / "labels.py"
    labels.write_text(labels.read_text() + "\nfrom loopline.stages import monitor  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode == 1
    assert "BROKEN" in result.stdout and "loopline.labels -> loopline.stages" in result.stdout
