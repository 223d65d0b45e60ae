"""DVC stage `features`: add domain and point-in-time entity features; write features.json (the
feature engineering service, `loopline.services.featurising`)."""

from __future__ import annotations

import logging

from loopline.config import Config
from loopline.services.featurising import engineer_features
from loopline.stages import run_stage

log = logging.getLogger(__name__)


def task(cfg: Config) -> None:
    spec = engineer_features(cfg)
    log.info("%d features in %s", len(spec.feature_names), cfg.paths.features)


if __name__ == "__main__":
    run_stage("features", task)
