"""The model folder's names live once (config, shared with dvc.yaml) and every write is atomic."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
import yaml

from loopline.config import ArtifactsConfig
from loopline.features import FeatureSpec
from loopline.io import atomic_directory, atomic_path
from loopline.io.artifacts import BUNDLE_FILES, ModelDir

ROOT = Path(__file__).resolve().parents[2]


def _booster() -> xgb.Booster:
    rng = np.random.default_rng(0)
    x = rng.random((100, 3))
    data = xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(int))
    return xgb.train({"objective": "binary:logistic", "nthread": 1}, data, num_boost_round=3)


def test_conf_names_the_artifacts_as_the_dataclass_does() -> None:
    conf = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())
    assert conf["artifacts"] == asdict(ArtifactsConfig())


def test_dvc_yaml_names_model_files_only_through_params() -> None:
    text = (ROOT / "dvc.yaml").read_text()
    for name in asdict(ArtifactsConfig()).values():
        assert f"model_dir}}/{name}" not in text, f"dvc.yaml spells {name}: use ${{artifacts.*}}"


def test_saved_booster_is_byte_identical_to_save_model(tmp_path: Path) -> None:
    booster = _booster()
    folder = ModelDir(tmp_path / "m")
    path = folder.save_booster(booster)
    booster.save_model(tmp_path / "direct.ubj")
    assert path.read_bytes() == (tmp_path / "direct.ubj").read_bytes()
    assert folder.load_booster().save_raw("ubj") == booster.save_raw("ubj")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.ubj"]  # no temporary left


def test_names_come_from_config(tmp_path: Path) -> None:
    folder = ModelDir(tmp_path, ArtifactsConfig(features="spec.json", model="m.json"))
    spec = FeatureSpec(feature_names=("a",), categorical={}, engineered=())
    folder.write_spec(spec)
    folder.save_booster(_booster())
    assert (tmp_path / "spec.json").is_file() and (tmp_path / "m.json").read_text().startswith("{")
    assert folder.read_spec() == spec


def test_bundle_digests_list_the_bundle_files_in_manifest_order(tmp_path: Path) -> None:
    folder = ModelDir(tmp_path)
    for key in BUNDLE_FILES:
        folder.path(key).write_bytes(key.encode())
    assert list(folder.bundle_digests()) == [
        "preprocess.json",
        "features.json",
        "model.ubj",
        "policy.json",
        "history.parquet",
        "reference.json",
    ]


def test_a_bundle_with_other_file_names_is_read_by_the_names_its_manifest_records(
    tmp_path: Path,
) -> None:
    """Serving has no config at hand: the names come from bundle.json, as the bundle wrote them."""
    renamed = ModelDir(tmp_path, ArtifactsConfig(model="booster.json", policy="rules.json"))
    for key in BUNDLE_FILES:
        renamed.path(key).write_bytes(key.encode())
    renamed.write_manifest({"files": renamed.bundle_digests()})
    found = ModelDir.of_bundle(tmp_path)
    assert found.path("model").name == "booster.json"
    assert found.path("policy").name == "rules.json"
    assert found.bundle_digests() == renamed.bundle_digests()


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "part") as tmp:
        (tmp / "a.txt").write_text("a")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(tmp_path / "part") as tmp:
        (tmp / "a.txt").write_text("a")
    assert [p.name for p in (tmp_path / "part").iterdir()] == ["a.txt"]
