"""`loopline review`: a Markdown report comparing the workspace with a baseline commit.

Meant to be pasted as a pull-request comment (the CI workflow posts it): the parameters that
changed, the metrics with their deltas and whether each moved the right way, slice AUCs, the
verdict the promotion gate would give the workspace's model against the baseline's (on each
one's own test metrics), the data versions each used (DVC hashes from dvc.lock), and a link to
`dvc plots diff` output. Everything is read from files git and DVC already keep:
`params.yaml`, `dvc.lock` and `reports/*.json` of the baseline come from `git show`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loopline import gate
from loopline.config import GateConfig, to_config
from loopline.io import write_text
from loopline.tracking import flatten
from loopline.workspace import tool

# metric name (last dotted part) -> True when higher is better
DIRECTION = {
    "roc_auc": True,
    "pr_auc": True,
    "ks": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
    "profit_at_threshold": True,
    "approval_rate_at_threshold": None,
    "best_profit_any_threshold": True,
    "auc_gain_over_baseline": True,
}
HEADLINE = (
    "test.xgboost.",
    "auc_gain_over_baseline",
    "policy.test.profit_at_threshold",
    "policy.test.approval_rate_at_threshold",
)
DATA_STAGES = ("simulate", "ingest", "validate", "split", "features")


def git_show(root: Path, rev: str, path: str) -> str | None:
    """Return a file's text at a revision, or None when it is not there."""
    result = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True
    )
    return result.stdout if result.returncode == 0 else None


def load(root: Path, rev: str | None, path: str) -> Any:
    """YAML/JSON at a revision (None: the workspace), or None when missing."""
    if rev is None:
        file = root / path
        text = file.read_text() if file.exists() else None
    else:
        text = git_show(root, rev, path)
    return None if text is None else yaml.safe_load(text)


def reports_dir(root: Path, rev: str | None) -> str:
    """The reports folder at a revision (per dataset since `paths.reports` has the name)."""
    params = load(root, rev, "params.yaml") or {}
    return str((params.get("paths") or {}).get("reports") or "reports")


def load_report(root: Path, rev: str | None, name: str) -> Any:
    """A report file of the revision's reports folder, or None when missing."""
    return load(root, rev, f"{reports_dir(root, rev)}/{name}")


def load_evaluation(root: Path, rev: str | None) -> Any:
    """Every evaluation figure at a revision: evaluation.json (metrics.json before it existed)."""
    found = load_report(root, rev, "evaluation.json")
    return found if found is not None else load_report(root, rev, "metrics.json")


def param_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    a, b = flatten(old or {}), flatten(new or {})
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def metric_rows(old: dict, new: dict) -> list[dict[str, Any]]:
    """Numeric metrics present on either side with delta and verdict."""
    a, b = flatten(old or {}), flatten(new or {})
    rows = []
    for key in sorted(set(a) | set(b)):
        if key.startswith("slices."):
            continue
        x, y = a.get(key), b.get(key)
        if not all(isinstance(v, int | float) or v is None for v in (x, y)):
            continue
        if x is None and y is None:
            continue
        delta = None if x is None or y is None else y - x
        higher = DIRECTION.get(key.rsplit(".", 1)[-1])
        if delta is None or higher is None or abs(delta) < 1e-12:
            verdict = "" if delta is None or higher is None else "same"
        else:
            verdict = "better" if (delta > 0) == higher else "worse"
        rows.append({"metric": key, "old": x, "new": y, "delta": delta, "verdict": verdict})
    return rows


def gate_metrics(metrics: dict | None, policy: dict | None) -> dict[str, Any] | None:
    """The figures the gate compares, from one side's metrics.json and policy.json."""
    if not metrics or "test" not in metrics:
        return None
    test = metrics["test"]["xgboost"]
    return {
        "roc_auc": test.get("roc_auc"),
        "ece": test.get("ece"),
        "profit": ((policy or {}).get("test") or {}).get("profit_at_threshold", 0.0),
        "slices": metrics.get("slices", {}),
    }


def data_versions(lock: dict | None) -> dict[str, str]:
    """Path -> content hash of every data dependency and output in dvc.lock."""
    out: dict[str, str] = {}
    for stage in (lock or {}).get("stages", {}).values():
        for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
            path = entry.get("path", "")
            if path.startswith(("data/", "models/")) and entry.get("md5"):
                out[path] = entry["md5"]
    return out


def plots_diff(root: Path, baseline: str, out_dir: Path) -> Path | None:
    """Run `dvc plots diff BASELINE` into out_dir; return its index.html (None on failure)."""
    result = subprocess.run(
        [tool("dvc"), "plots", "diff", baseline, "-o", str(out_dir)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    index = out_dir / "index.html"
    return index if result.returncode == 0 and index.exists() else None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@dataclass(frozen=True)
class _Sides:
    """What a review compares: the baseline's and the workspace's params, metrics and policy."""

    params_old: dict | None
    params_new: dict | None
    metrics_old: dict | None
    metrics_new: dict | None
    policy_old: dict | None
    policy_new: dict | None

    @classmethod
    def load(cls, root: Path, baseline: str) -> _Sides:
        params_old, params_new = (
            load(root, baseline, "params.yaml"),
            load(root, None, "params.yaml"),
        )
        metrics_old = load_evaluation(root, baseline)
        metrics_new = load_evaluation(root, None)
        policy_old = load_report(root, baseline, "policy.json")
        policy_new = load_report(root, None, "policy.json")
        return cls(params_old, params_new, metrics_old, metrics_new, policy_old, policy_new)


def _parameters_section(sides: _Sides) -> list[str]:
    changes = param_changes(sides.params_old, sides.params_new)
    lines = ["### Parameters", ""]
    if not changes:
        return [*lines, "No parameter changed."]
    lines += ["| parameter | baseline | workspace |", "|---|---|---|"]
    return lines + [f"| `{k}` | {_fmt(a)} | {_fmt(b)} |" for k, a, b in changes]


def _metrics_section(sides: _Sides) -> list[str]:
    rows = metric_rows(sides.metrics_old, sides.metrics_new) + metric_rows(
        {"policy": sides.policy_old or {}}, {"policy": sides.policy_new or {}}
    )
    headline = [r for r in rows if r["metric"].startswith(HEADLINE)]
    lines = ["", "### Metrics (test split)", ""]
    if not headline:
        return [*lines, "No metrics to compare (run `dvc repro` first)."]
    lines += ["| metric | baseline | workspace | delta | |", "|---|---:|---:|---:|---|"]
    for r in headline:
        mark = {"better": "better", "worse": "**worse**"}.get(r["verdict"], r["verdict"])
        lines.append(
            f"| {r['metric']} | {_fmt(r['old'])} | {_fmt(r['new'])} | {_fmt(r['delta'])} | {mark} |"
        )
    return lines


def _slices_section(sides: _Sides) -> list[str]:
    lines = ["", "### Slices (test ROC AUC)", ""]
    slices_old = (sides.metrics_old or {}).get("slices", {})
    slices_new = (sides.metrics_new or {}).get("slices", {})
    if not slices_new:
        return [*lines, "No slice metrics."]
    lines += ["| slice | group | baseline | workspace | delta |", "|---|---|---:|---:|---:|"]
    for name, groups in slices_new.items():
        for group, stats in groups.items():
            a = slices_old.get(name, {}).get(group, {}).get("roc_auc")
            b = stats.get("roc_auc")
            delta = None if a is None or b is None else b - a
            lines.append(f"| {name} | {group} | {_fmt(a)} | {_fmt(b)} | {_fmt(delta)} |")
    return lines


def _gate_section(sides: _Sides) -> list[str]:
    gate_cfg = to_config({"gate": (sides.params_new or {}).get("gate", {})}).gate
    challenger = gate_metrics(sides.metrics_new, sides.policy_new)
    champion = gate_metrics(sides.metrics_old, sides.policy_old)
    lines = ["", "### Promotion gate (if this model were the challenger)", ""]
    if challenger is None:
        return [*lines, "No workspace metrics: the gate cannot judge."]
    verdict = gate.decide(challenger, champion, gate_cfg or GateConfig())
    lines += [f"**{'PASS' if verdict.passed else 'FAIL'}**", ""]
    lines += [f"- {'✅' if c.passed else '❌'} `{c.check}`: {c.detail}" for c in verdict.checks]
    lines.append("")
    lines.append(
        "Each side's own test split (different rows when the data changed); the `gate` "
        "stage judges both models on the same newest rows before a real promotion."
    )
    return lines


def _data_section(root: Path, baseline: str) -> list[str]:
    old_data = data_versions(load(root, baseline, "dvc.lock"))
    new_data = data_versions(load(root, None, "dvc.lock"))
    lines = ["", "### Data versions (DVC hashes)", ""]
    paths = [p for p in sorted(set(old_data) | set(new_data)) if not p.startswith("models/")]
    if not paths:
        return [*lines, "No dvc.lock to compare."]
    lines += ["| path | baseline | workspace | |", "|---|---|---|---|"]
    for path in paths:
        a, b = old_data.get(path, "")[:10], new_data.get(path, "")[:10]
        lines.append(f"| `{path}` | {a or '–'} | {b or '–'} | {'same' if a == b else 'changed'} |")
    return lines


def _plots_section(baseline: str, plots: Path | None) -> list[str]:
    lines = ["", "### Plots", ""]
    if plots is not None:
        lines.append(f"`dvc plots diff {baseline}`: [{plots.as_posix()}]({plots.as_posix()})")
    else:
        lines.append(f"Run `dvc plots diff {baseline}` to draw both revisions' plots together.")
    return lines


def review(root: Path, baseline: str, *, plots: Path | None = None) -> str:
    """Return the review of the workspace against `baseline` as Markdown."""
    root = root.resolve()
    sides = _Sides.load(root, baseline)
    lines = [f"## Loopline review: workspace vs `{baseline}`", ""]
    lines += _parameters_section(sides)
    lines += _metrics_section(sides)
    lines += _slices_section(sides)
    lines += _gate_section(sides)
    lines += _data_section(root, baseline)
    lines += _plots_section(baseline, plots)
    lines.append("")
    return "\n".join(lines)


def write_review(
    root: Path, baseline: str, out: Path, *, with_plots: bool = True
) -> tuple[Path, str]:
    """Write the review (and the plots beside it); return the path and the Markdown."""
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{baseline}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if known.returncode != 0:
        raise ValueError(f"{baseline!r} is not a commit of this repository")
    plots = None
    if with_plots:
        index = plots_diff(root, baseline, out.parent / "review_plots")
        plots = index.relative_to(out.parent) if index is not None else None
    text = review(root, baseline, plots=plots)
    write_text(text, out)
    return out, text


def exp_table(root: Path, metric: str | None = None) -> str:
    """`dvc exp show` with the columns that matter, sorted by the primary metric (text)."""
    metric = metric or f"{reports_dir(root, None)}/metrics.json:test.xgboost.roc_auc"
    keep = (
        r"Experiment|Created|model\.(max_depth|eta|min_child_weight|num_boost_round)|"
        r"features\.|test\.xgboost\.(roc_auc|pr_auc|log_loss|ece)|test\.profit_at_threshold"
    )
    result = subprocess.run(
        [
            tool("dvc"),
            "exp",
            "show",
            "--no-pager",
            "--drop",
            ".*",
            "--keep",
            keep,
            "--sort-by",
            metric,
            "--sort-order",
            "desc",
            "--md",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return result.stdout if result.returncode == 0 else result.stderr


def exp_records(root: Path) -> list[dict[str, Any]]:
    """`dvc exp show --json` flattened: one dict per experiment (name, params, metrics)."""
    result = subprocess.run(
        [tool("dvc"), "exp", "show", "--json"], cwd=root, capture_output=True, text=True, check=True
    )
    out = []
    for commit in json.loads(result.stdout):
        for run in [
            commit,
            *(e for x in commit.get("experiments") or [] for e in x.get("revs", [])),
        ]:
            data = run.get("data") or {}
            params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
            files = data.get("metrics") or {}
            found = [v for k, v in files.items() if k.endswith("metrics.json")]
            metrics = (found[0] if found else {}).get("data", {})
            out.append(
                {
                    "name": run.get("name") or run.get("rev"),
                    **{f"param.{k}": v for k, v in flatten(params).items()},
                    **{f"metric.{k}": v for k, v in flatten(metrics).items()},
                }
            )
    return out
