"""DVC stage `check_params`: stop when params.yaml is stale against conf/ (the source of truth).

dvc.yaml makes the first stages depend on this stage's output, so it runs before anything else
whenever conf/ or params.yaml changed. Its output is constant, so passing never re-runs others.
"""

from __future__ import annotations

import sys
from pathlib import Path

from loopline.io import write_text
from loopline.params import params_problem
from loopline.paths import repo_root

OUTPUT = Path("reports/params_check.txt")


def main() -> None:
    root = repo_root()
    problem = params_problem(root)
    if problem:
        sys.stderr.write(f"\nloopline check_params: {problem}\n\n")
        sys.exit(1)
    write_text("params.yaml matches the composition of conf/\n", root / OUTPUT)


if __name__ == "__main__":
    main()
