"""DVC stage `check_params`: stop when params.yaml is stale against conf/ (the source of truth).

dvc.yaml makes the first stages depend on this stage's output, so it runs before anything else
whenever conf/ or params.yaml changed. Its output is constant, so passing never re-runs others.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from loopline.params import (
    STALE_HELP,
    ConfigError,
    check_config,
    inside_dvc_experiment,
    params_drift,
)
from loopline.paths import repo_root

OUTPUT = Path("reports/params_check.txt")


def main() -> None:
    root = repo_root()
    if not inside_dvc_experiment():
        drift = params_drift(root)
        if drift:
            shown = ", ".join(drift[:8]) + (f" (+{len(drift) - 8} more)" if len(drift) > 8 else "")
            sys.stderr.write(f"\nloopline check_params: {STALE_HELP.format(diff=shown)}\n\n")
            sys.exit(1)
    try:  # unknown keys, a missing schema, rules naming columns the dataset lacks
        check_config(yaml.safe_load((root / "params.yaml").read_text()), root)
    except ConfigError as exc:
        sys.stderr.write(f"\nloopline check_params: {exc}\n\n")
        sys.exit(1)
    (root / OUTPUT).parent.mkdir(parents=True, exist_ok=True)
    (root / OUTPUT).write_text("params.yaml matches the composition of conf/\n")


if __name__ == "__main__":
    main()
