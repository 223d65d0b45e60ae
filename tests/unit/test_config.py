"""Tests for conf/ and loopline.config: every group composes into the typed Config."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
import yaml
from omegaconf.errors import OmegaConfBaseException

from loopline.config import Config, load_config, to_config
from loopline.expressions import compile_expression
from loopline.params import compose, params_drift
from loopline.schemas import table_schema

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
GROUPS = ["dataset", "model", "features", "policy", "simulate", "experiment"]
GROUP_FILES = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
DATASETS = sorted(p.stem for p in (CONF / "dataset").glob("*.yaml"))


@cache
def _composed(*overrides: str) -> dict[str, Any]:
    """Return conf/ composed with overrides (cached: tests must not change the result)."""
    return compose(list(overrides), root=ROOT)


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return _composed()


@pytest.fixture(scope="module")
def datasets() -> dict[str, Config]:
    return {name: to_config(_composed(f"dataset={name}")) for name in DATASETS}


def _leaves(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict) and node:
        out: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            out |= _leaves(value, (*prefix, key))
        return out
    return {prefix: node}


def _get(tree: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        tree = tree[key]
    return tree


def test_every_group_has_files() -> None:
    assert {g for g, _ in GROUP_FILES} == set(GROUPS)
    assert "loans" in DATASETS and "census" in DATASETS


@pytest.mark.parametrize(("group", "name"), GROUP_FILES)
def test_every_group_file_composes_into_the_typed_config(group: str, name: str) -> None:
    raw = _composed(f"{group}={name}")
    cfg = to_config(raw)
    assert isinstance(cfg, Config)
    path = CONF / group / f"{name}.yaml"
    text = path.read_text()
    prefix: tuple[str, ...] = () if "@package _global_" in text else (group,)
    spec = yaml.safe_load(text) or {}
    spec.pop("defaults", None)  # a group's own defaults list is not part of its values
    # every value the file sets is in the composition (unless it is an interpolation)
    for keys, value in _leaves(spec).items():
        if isinstance(value, str) and "${" in value:
            continue
        assert _get(raw, prefix + keys) == value, ".".join(prefix + keys)


def test_group_choice_changes_the_config(datasets: dict[str, Config]) -> None:
    census, loans = datasets["census"], datasets["loans"]
    assert census.dataset.name == "census"
    assert census.dataset.labels is None
    assert census.paths.ingested == "data/interim/census/ingested"  # paths follow the dataset
    assert loans.dataset.labels is not None
    assert loans.dataset.labels.observed_at == "observed_at"
    assert loans.dataset.sources["branch"].thousands == ","
    tiny = to_config(_composed("experiment=tiny"))
    assert (tiny.simulate.rows, tiny.model.num_boost_round) == (4000, 60)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("+train.early_stoping_rounds=3", "early_stoping_rounds"),
        ("+model.max_dept=3", "max_dept"),
        ("+dataset.sources.branch.thousand=','", "thousand"),
        ("+validat.max_quarantine_rate=0.1", "validat"),
    ],
)
def test_unknown_key_is_rejected(override: str, named: str) -> None:
    raw = compose([override], root=ROOT)  # Hydra itself accepts an added key
    with pytest.raises(OmegaConfBaseException, match=f"Key '{named}' not in"):
        to_config(raw)


@pytest.mark.parametrize(
    "override",
    [
        "train.early_stopping_rounds=many",
        "split.valid_fraction=[0.1]",
    ],
)
def test_wrong_type_is_rejected(override: str) -> None:
    with pytest.raises(OmegaConfBaseException):
        to_config(compose([override], root=ROOT))


def test_committed_params_yaml_equals_the_composition_of_conf() -> None:
    assert params_drift(ROOT) == []


def test_params_yaml_loads_as_the_default_config(default: dict[str, Any]) -> None:
    assert load_config(ROOT / "params.yaml") == to_config(default)


def test_params_drift_names_the_changed_key(tmp_path: Path) -> None:
    (tmp_path / "conf").symlink_to(CONF)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["split"]["test_fraction"] = 0.5
    params["extra"] = {"x": 1}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert params_drift(tmp_path) == ["extra", "split.test_fraction"]


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_schema_parses_and_fits_the_dataset(
    datasets: dict[str, Config], name: str
) -> None:
    dataset = datasets[name].dataset
    schema = table_schema(ROOT / dataset.schema_path)
    assert schema.name == name
    columns = set(schema.names)
    named = [dataset.id_column, dataset.entity_column, dataset.time_column, dataset.amount_column]
    assert {c for c in named if c} <= columns
    if dataset.time_column:
        assert schema[dataset.time_column].dtype == "datetime"
    if dataset.labels is None:  # the target is a column of the rows
        assert dataset.target in columns
        assert {str(v) for v in dataset.target_values} == set(schema[dataset.target].allowed)
    for formula in dataset.derived.values():
        assert set(compile_expression(formula).columns) <= columns, formula
    assert {s.column for s in dataset.slices} <= columns
    assert set(dataset.exclude_from_model) <= columns
    assert dataset.sources, "a dataset needs at least one source"


@pytest.mark.parametrize("name", DATASETS)
def test_policy_rules_use_columns_of_every_dataset(datasets: dict[str, Config], name: str) -> None:
    cfg = datasets[name]
    columns = set(table_schema(ROOT / cfg.dataset.schema_path).names)
    for rule in [*cfg.policy.hard_declines, *cfg.policy.referrals]:
        needed = set(compile_expression(rule.rule).columns)
        assert needed <= columns, f"rule {rule.name!r} needs {sorted(needed - columns)}"


# --- XGBoost parameters -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_params(default: dict[str, Any]) -> dict[str, Any]:
    return to_config(default).model.xgb_params()


def test_xgboost_config_uses_xgboost_parameter_names(model_params: dict[str, Any]) -> None:
    assert {"max_depth", "eta", "subsample", "objective"} <= set(model_params)
    assert model_params["objective"] == "binary:logistic"
    # reg_lambda/reg_alpha are the core library's own aliases of lambda/alpha (a Python keyword)
    sklearn_spellings = {"n_estimators", "learning_rate", "random_state", "n_jobs"}
    assert not sklearn_spellings & set(model_params)


def test_xgboost_accepts_every_configured_parameter(model_params: dict[str, Any]) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((64, 3))
    y = (x[:, 0] + 0.2 * rng.random(64) > 0.6).astype(float)
    data = xgb.DMatrix(x, label=y)
    with warnings.catch_warnings(record=True) as caught, xgb.config_context(verbosity=1):
        warnings.simplefilter("always")
        booster = xgb.train(
            model_params, data, num_boost_round=2, evals=[(data, "train")], verbose_eval=False
        )
    unused = [str(w.message) for w in caught if "not used" in str(w.message)]
    assert unused == []
    config = yaml.safe_load(booster.save_config())  # JSON is YAML
    learner = config["learner"]
    train_param = learner["gradient_booster"]["tree_train_param"]
    assert int(train_param["max_depth"]) == model_params["max_depth"]
    assert float(train_param["eta"]) == pytest.approx(model_params["eta"])
    assert float(train_param["subsample"]) == pytest.approx(model_params["subsample"])
    assert learner["objective"]["name"] == model_params["objective"]
    assert [m["name"] for m in learner["metrics"]] == list(model_params["eval_metric"])


def test_xgboost_would_report_a_misspelt_parameter(model_params: dict[str, Any]) -> None:
    data = xgb.DMatrix(np.eye(4), label=np.array([0.0, 1.0, 0.0, 1.0]))
    with warnings.catch_warnings(record=True) as caught, xgb.config_context(verbosity=1):
        warnings.simplefilter("always")
        xgb.train(model_params | {"max_dept": 3}, data, num_boost_round=1)
    assert any('"max_dept"' in str(w.message) for w in caught)
