"""conf/ composition: the active dataset, group switches, and config errors that name the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loopline.params import (
    ConfigError,
    active_dataset,
    check_config,
    compose,
    set_group,
    split_overrides,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def conf_root(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    return tmp_path


def test_the_active_dataset_is_the_defaults_line_and_survives_recomposition(conf_root):
    assert active_dataset(conf_root) == "loans"
    set_group("dataset", "census", conf_root)
    assert active_dataset(conf_root) == "census"
    text = (conf_root / "conf/config.yaml").read_text()
    assert "  - dataset: census     # the active dataset" in text, "the comment is kept"
    # an unrelated edit later: composing still gives the chosen dataset
    (conf_root / "conf/config.yaml").write_text(
        text.replace("max_quarantine_rate: 0.25", "max_quarantine_rate: 0.3")
    )
    composed = compose(root=conf_root)
    assert composed["dataset"]["name"] == "census"
    assert composed["paths"]["reports"] == "reports/census"
    assert composed["policy"]["hard_declines"][0]["rule"] == "age < 18"  # census's own policy


def test_unknown_group_option_lists_what_exists(conf_root):
    with pytest.raises(ConfigError, match=r"conf/dataset/nope\.yaml does not exist.*census, loans"):
        set_group("dataset", "nope", conf_root)
    with pytest.raises(ConfigError, match="not a config group"):
        set_group("paths", "x", conf_root)


def test_split_overrides_separates_group_switches():
    assert split_overrides(["dataset=credit", "model.max_depth=3", "experiment=tiny"]) == (
        {"dataset": "credit", "experiment": "tiny"},
        ["model.max_depth=3"],
    )


def test_a_misspelt_key_names_the_file_and_the_key(conf_root):
    census = conf_root / "conf/dataset/census.yaml"
    census.write_text(
        census.read_text().replace('pattern: "*.csv"', 'pattern: "*.csv"\n    heder: false')
    )
    with pytest.raises(ConfigError) as caught:
        check_config(compose(["dataset=census"], root=conf_root), conf_root)
    message = str(caught.value)
    assert message.startswith(
        "conf/dataset/census.yaml: unknown key `dataset.sources.survey.heder`"
    )
    assert "\n" not in message


def test_a_rule_naming_a_column_the_dataset_lacks_stops_composition(conf_root):
    census = conf_root / "conf/dataset/census.yaml"
    census.write_text(
        census.read_text().replace(
            "override /policy@_global_.policy: census", "override /policy@_global_.policy: loans"
        )
    )
    with pytest.raises(ConfigError, match=r"'loan_amount'.*dataset 'census' does not have"):
        check_config(compose(["dataset=census"], root=conf_root), conf_root)


def test_a_dataset_without_a_policy_gets_the_generic_one(conf_root):
    census = conf_root / "conf/dataset/census.yaml"
    lines = [line for line in census.read_text().splitlines() if "override /policy" not in line]
    census.write_text("\n".join(lines).replace("defaults:\n", "") + "\n")
    cfg = check_config(compose(["dataset=census"], root=conf_root), conf_root)
    assert cfg.policy.hard_declines == [] and cfg.policy.referrals == []
    assert cfg.policy.profit_good == cfg.policy.loss_default == 1.0
    loans = check_config(compose([], root=conf_root), conf_root)
    assert [r.name for r in loans.policy.referrals] == ["large_amount"]


def test_a_switch_that_does_not_compose_leaves_conf_untouched(conf_root, monkeypatch):
    """`loopline use` checks the new choice first: a broken dataset never becomes active."""
    from typer.testing import CliRunner

    from loopline.cli import app

    census = conf_root / "conf/dataset/census.yaml"
    census.write_text(
        census.read_text().replace(
            "override /policy@_global_.policy: census", "override /policy@_global_.policy: loans"
        )
    )
    (conf_root / "dvc.yaml").write_text("stages: {}\n")
    before = (conf_root / "conf/config.yaml").read_text()
    monkeypatch.chdir(conf_root)
    result = CliRunner().invoke(app, ["use", "census"])
    assert result.exit_code == 2
    assert "loan_amount" in result.output
    assert (conf_root / "conf/config.yaml").read_text() == before
    assert not (conf_root / "params.yaml").exists()
