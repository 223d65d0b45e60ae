"""The model folder (`paths.model_dir`, and every bundle served from a copy of it).

The one place that names its files and reads and writes them: the names come from config
(`ArtifactsConfig`, `artifacts:` in params.yaml, the same keys dvc.yaml templates), and a folder
read without a config (a bundle fetched from the registry) uses the same defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopline.config import ArtifactsConfig
from loopline.features import FeatureSpec
from loopline.io.files import (
    file_sha256,
    read_json,
    read_table,
    write_bytes,
    write_json,
    write_table,
)
from loopline.preprocess import PreprocessState

if TYPE_CHECKING:  # XGBoost takes about a second to import: only the stages that score load it
    import xgboost as xgb

# the files a bundle is made of, in the order bundle.json lists their digests (the manifest
# itself and the training-only baseline are not among them)
BUNDLE_FILES = ("preprocess", "features", "model", "policy", "history", "reference")


@dataclass(frozen=True)
class ModelDir:
    """A model folder and the names of its files."""

    root: Path
    names: ArtifactsConfig = field(default_factory=ArtifactsConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_bundle(cls, root: str | Path) -> ModelDir:
        """Return a bundle folder named as its manifest records (bundle.json lists the files in
        BUNDLE_FILES order), so a bundle built with other `artifacts:` names still loads where
        no config is at hand (serving, `loopline score`)."""
        folder = cls(Path(root))
        recorded = dict(zip(BUNDLE_FILES, folder.read_manifest()["files"], strict=True))
        return cls(folder.root, dataclasses.replace(folder.names, **recorded))

    def path(self, key: str) -> Path:
        """Return the path of one artifact by its config key (`model`, `features`, ...)."""
        return self.root / getattr(self.names, key)

    def bundle_digests(self) -> dict[str, str]:
        """Return {file name: SHA-256} of the bundle's files, as bundle.json records them."""
        return {self.path(key).name: file_sha256(self.path(key)) for key in BUNDLE_FILES}

    def has_bundle(self) -> bool:
        """Return True when the folder holds a bundle manifest."""
        return self.path("bundle").is_file()

    def load_booster(self) -> xgb.Booster:
        """Return the XGBoost model."""
        import xgboost as xgb

        return xgb.Booster(model_file=str(self.path("model")))

    def save_booster(self, booster: xgb.Booster) -> Path:
        """Write the XGBoost model atomically, in the format its name says (.json, else UBJSON)."""
        path = self.path("model")
        raw_format = "json" if path.suffix.lower() == ".json" else "ubj"
        return write_bytes(bytes(booster.save_raw(raw_format)), path)

    def model_sha256(self) -> str:
        """Return the SHA-256 of the model file (what the policy and the registry record)."""
        return file_sha256(self.path("model"))

    def read_state(self) -> PreprocessState:
        """Return the fitted preprocessing state."""
        return PreprocessState.from_json(read_json(self.path("preprocess")))

    def write_state(self, state: PreprocessState) -> Path:
        """Write the preprocessing state."""
        return write_json(state.to_json(), self.path("preprocess"))

    def read_spec(self) -> FeatureSpec:
        """Return the feature spec (feature names, categorical levels)."""
        return FeatureSpec.from_json(read_json(self.path("features")))

    def write_spec(self, spec: FeatureSpec) -> Path:
        """Write the feature spec."""
        return write_json(spec.to_json(), self.path("features"))

    def read_baseline(self) -> dict[str, Any]:
        """Return the logistic-regression baseline."""
        return read_json(self.path("baseline"))

    def write_baseline(self, baseline: dict[str, Any]) -> Path:
        """Write the baseline."""
        return write_json(baseline, self.path("baseline"))

    def read_policy(self) -> dict[str, Any]:
        """Return the policy document (threshold, rules)."""
        return read_json(self.path("policy"))

    def write_policy(self, document: dict[str, Any]) -> Path:
        """Write the policy document."""
        return write_json(document, self.path("policy"))

    def read_history(self) -> pd.DataFrame:
        """Return the per-entity history rows."""
        return read_table(self.path("history"))

    def write_history(self, rows: pd.DataFrame) -> Path:
        """Write the per-entity history rows."""
        return write_table(rows, self.path("history"))

    def read_reference(self) -> dict[str, Any]:
        """Return the reference statistics monitoring compares traffic with."""
        return read_json(self.path("reference"))

    def write_reference(self, stats: dict[str, Any]) -> Path:
        """Write the reference statistics."""
        return write_json(stats, self.path("reference"))

    def read_manifest(self) -> dict[str, Any]:
        """Return the bundle manifest (bundle.json)."""
        return read_json(self.path("bundle"))

    def write_manifest(self, meta: dict[str, Any]) -> Path:
        """Write the bundle manifest."""
        return write_json(meta, self.path("bundle"))
