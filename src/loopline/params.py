"""`conf/` is the source of truth; `params.yaml` is its composition. Keep the two in step.

`write_params` composes exactly as `dvc exp run` does (DVC's own compose_and_dump), so the file
is byte-identical whichever way it was produced. `params_drift` lists the keys where params.yaml
differs from what conf/ composes to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from loopline.paths import repo_root

STALE_HELP = (
    "params.yaml is out of step with conf/ (the source of truth).\n"
    "  Differences: {diff}\n"
    "  Run `loopline params` (or `make params`) to recompose it after editing conf/, or use\n"
    "  `dvc exp run -S key=value` for a one-off change. Never edit params.yaml by hand."
)


def compose(overrides: list[str] | None = None, root: Path | None = None) -> dict[str, Any]:
    """Return conf/config.yaml composed with Hydra overrides, resolved to plain data."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    conf = (root or repo_root()) / "conf"
    if not (conf / "config.yaml").is_file():
        raise FileNotFoundError(
            f"no conf/config.yaml under {conf.parent}: run loopline from the repository root"
        )
    with initialize_config_dir(str(conf.resolve()), version_base=None):
        cfg = hydra_compose(config_name="config", overrides=list(overrides or []))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def write_params(overrides: list[str] | None = None, root: Path | None = None) -> Path:
    """Compose conf/ (plus overrides) into params.yaml the way `dvc exp run` does; return it."""
    from dvc.utils.hydra import compose_and_dump

    root = root or repo_root()
    out = root / "params.yaml"
    compose_and_dump(
        out, str((root / "conf").resolve()), None, "config", str(root), list(overrides or [])
    )
    return out


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


def params_drift(root: Path | None = None) -> list[str]:
    """Return dotted keys where params.yaml differs from the composition of conf/."""
    root = root or repo_root()
    path = root / "params.yaml"
    current = yaml.safe_load(path.read_text()) if path.exists() else {}
    return _diff(compose(root=root), current or {})


def inside_dvc_experiment() -> bool:
    """Return True under `dvc exp run`, which composes params.yaml from conf/ plus -S itself."""
    return bool(os.environ.get("DVC_EXP_NAME"))
