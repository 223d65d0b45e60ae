"""The README's two commands need nothing installed by hand (issue 9)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_installs_the_browser_before_running_the_tests() -> None:
    """`make test` on a fresh machine: the Chromium the report test needs comes from here."""
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/bin/.installed", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    steps = [line.strip() for line in dry if line.strip()]
    assert steps.index("scripts/ensure-chromium") < next(
        i for i, s in enumerate(steps) if "pytest" in s
    )
    script = (ROOT / "scripts/ensure-chromium").read_text()
    assert "apt-get install" in script and "chromium" in script
    assert (ROOT / "scripts/ensure-chromium").stat().st_mode & 0o111, "must be executable"


def test_ci_runs_the_readme_test_command() -> None:
    assert (ROOT / ".ci/run").read_text().strip().endswith("make test")
