"""`conf/` is the source of truth; `params.yaml` is its composition. Keep the two in step.

`write_params` composes exactly as `dvc exp run` does (DVC's own compose_and_dump), so the file
is byte-identical whichever way it was produced. `params_drift` lists the keys where params.yaml
differs from what conf/ composes to.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from loopline.paths import repo_root

STALE_HELP = (
    "params.yaml is out of step with conf/ (the source of truth).\n"
    "  Differences: {diff}\n"
    "  Run `loopline params` (or `make params`) to recompose it after editing conf/, or use\n"
    "  `dvc exp run -S key=value` for a one-off change. Never edit params.yaml by hand.\n"
    "  (The active dataset is conf/config.yaml's `- dataset:` line; `loopline use NAME` sets it.)"
)

# config groups chosen in conf/config.yaml's defaults list; `loopline params group=option`
# and `loopline use NAME` rewrite that list, so the choice survives later conf/ edits and
# `dvc exp run` (which composes conf/) follows it too
GROUPS = ("simulate", "model", "features", "policy", "dataset", "experiment")


class ConfigError(ValueError):
    """conf/ does not compose into a valid config; the message names the file and the key."""


def _defaults_line(group: str) -> re.Pattern[str]:
    return re.compile(rf"^(\s*-\s*{group}\s*:\s*)([^#\s]*)(.*)$", re.M)


def group_choice(group: str, root: Path | None = None) -> str | None:
    """Return the option conf/config.yaml's defaults list picks for a group (None if absent)."""
    text = ((root or repo_root()) / "conf" / "config.yaml").read_text()
    match = _defaults_line(group).search(text)
    if match is None:
        return None
    value = match.group(2).strip()
    return None if value in ("", "null") else value


def active_dataset(root: Path | None = None) -> str:
    """Return the active dataset: the one conf/config.yaml's defaults list selects."""
    return group_choice("dataset", root) or "loans"


def check_group_option(group: str, option: str, root: Path | None = None) -> None:
    """Raise ConfigError unless `option` is a config file of `group` (naming those that are)."""
    root = root or repo_root()
    if group not in GROUPS:
        raise ConfigError(f"{group!r} is not a config group (groups: {', '.join(GROUPS)})")
    if option != "null" and not (root / "conf" / group / f"{option}.yaml").is_file():
        have = sorted(p.stem for p in (root / "conf" / group).glob("*.yaml"))
        raise ConfigError(
            f"conf/{group}/{option}.yaml does not exist (have: {', '.join(have) or 'none'})"
            + (
                "; `loopline init-dataset FILE --name NAME ...` writes one"
                if group == "dataset"
                else ""
            )
        )


def set_group(group: str, option: str, root: Path | None = None) -> Path:
    """Select `option` for a config group in conf/config.yaml (a one-line edit); return the file."""
    root = root or repo_root()
    check_group_option(group, option, root)
    path = root / "conf" / "config.yaml"
    text = path.read_text()
    pattern = _defaults_line(group)
    if pattern.search(text) is None:
        raise ConfigError(f"{path}: the defaults list has no `- {group}:` line to change")
    path.write_text(pattern.sub(lambda m: f"{m.group(1)}{option}{m.group(3)}", text, count=1))
    return path


def split_overrides(overrides: list[str]) -> tuple[dict[str, str], list[str]]:
    """Return ({group: option} for group switches, the other overrides)."""
    groups: dict[str, str] = {}
    rest: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.strip() in GROUPS:
            groups[key.strip()] = value.strip()
        else:
            rest.append(item)
    return groups, rest


def check_config(raw: dict[str, Any], root: Path | None = None) -> Any:
    """Return the typed Config of a composition; ConfigError names the file, key and fix.

    Catches what would otherwise fail stages later: unknown or misspelt keys (omegaconf would
    raise a traceback deep in a stage), a missing schema file, and policy rules naming columns
    the dataset does not have.
    """
    from omegaconf.errors import OmegaConfBaseException

    from loopline.config import to_config
    from loopline.expressions import ExpressionError, compile_expression
    from loopline.schemas import SchemaFileError, table_schema

    root = root or repo_root()
    try:
        cfg = to_config(raw)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        problem = "unknown key" if "not in" in str(exc) else "bad value for"
        raise ConfigError(
            f"{_file_of(key, root, raw)}: {problem} `{key}` ({str(exc).splitlines()[0]})"
        ) from None
    try:
        columns = set(table_schema(root / cfg.dataset.schema_path).names)
    except SchemaFileError as exc:
        raise ConfigError(f"conf/dataset/{cfg.dataset.name}.yaml: schema_path: {exc}") from None
    known = columns | set(cfg.dataset.derived) | _engineered(cfg)
    for kind in ("hard_declines", "referrals"):
        for rule in getattr(cfg.policy, kind):
            try:
                needed = compile_expression(rule.rule).columns
            except ExpressionError as exc:
                raise ConfigError(f"policy {kind} rule {rule.name!r}: {exc}") from None
            missing = [c for c in needed if c not in known]
            if missing:
                raise ConfigError(
                    f"policy {kind} rule {rule.name!r} ({rule.rule!r}) names "
                    f"{', '.join(map(repr, missing))}, which dataset {cfg.dataset.name!r} does "
                    f"not have. Give the dataset its own policy (conf/policy/NAME.yaml, selected "
                    "in conf/dataset/NAME.yaml with `defaults: [{override /policy@_global_.policy: "
                    "NAME}]`) or drop the rule; datasets without one use conf/policy/generic.yaml"
                )
    return cfg


def _engineered(cfg: Any) -> set[str]:
    """Return the names the features stage adds (time and per-entity history features)."""
    names = set(cfg.features.time_features)
    if cfg.dataset.entity_column and cfg.dataset.time_column:
        names |= {f"prior_apps_{d}d" for d in cfg.features.entity_windows_days}
        names |= {"days_since_prev_app", "prior_defaults_observed"}
    return names


def _file_of(key: str, root: Path, raw: dict[str, Any]) -> str:
    """Return the conf/ file most likely to hold a dotted key (for error messages)."""
    parts = key.split(".")
    candidates = []
    named = (raw.get("dataset") or {}).get("name") if isinstance(raw, dict) else None
    if parts[0] == "dataset" and named:  # the composed dataset, also under an override
        candidates.append(f"conf/dataset/{named}.yaml")
    if parts[0] in GROUPS and (choice := group_choice(parts[0], root)):
        candidates.append(f"conf/{parts[0]}/{choice}.yaml")
    if choice := group_choice("experiment", root):
        candidates.append(f"conf/experiment/{choice}.yaml")
    candidates.append("conf/config.yaml")
    leaf = re.compile(rf"^\s*{re.escape(parts[-1])}\s*:", re.M)
    for candidate in candidates:
        path = root / candidate
        if path.is_file() and leaf.search(path.read_text()):
            return candidate
    return candidates[0]


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


def params_problem(root: Path) -> str | None:
    """Return why the pipeline must not run on this params.yaml (stale against conf/, unknown
    keys, a missing schema, rules naming absent columns), or None when it may."""
    if not inside_dvc_experiment():
        drift = params_drift(root)
        if drift:
            shown = ", ".join(drift[:8]) + (f" (+{len(drift) - 8} more)" if len(drift) > 8 else "")
            return STALE_HELP.format(diff=shown)
    try:
        check_config(yaml.safe_load((root / "params.yaml").read_text()), root)
    except ConfigError as exc:
        return str(exc)
    return None
