"""The model bundle: everything needed to turn a raw application into a decision.

A bundle is a folder of portable files (no pickle): the dataset's roles and schema
(bundle.json), the preprocessing state (preprocess.json), the feature spec (features.json),
per-customer history (history.parquet), the XGBoost model (model.ubj) and the decision policy
(policy.json). `Bundle` scores with the same state and rules the pipeline trains with, on two
paths:

- `score_frame`: a validated batch, vectorised (batch scoring, evaluation parity), through
  `preprocess.apply` and `policy.decide`;
- `score_record`: one request, validated by the schema's compiled `RowValidator`, in
  microseconds instead of milliseconds, through the record forms that sit beside those:
  `preprocess.apply_record` and `policy.decide_one`. Property tests hold each pair equal, and
  tests/unit/test_bundle.py holds the two paths to the same scores, decisions and reasons.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from loopline import features, policy, preprocess
from loopline.config import DatasetConfig, FeaturesConfig, PolicyConfig, to_config
from loopline.expressions import compile_expression
from loopline.io import file_sha256
from loopline.io.artifacts import ModelDir
from loopline.schemas import RowValidator, TableSchema, parse_table_schema


class InvalidRecordError(ValueError):
    """A request broke schema rules; `reasons` lists `column:rule` names."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def manifest(
    model_dir: ModelDir, *, dataset: DatasetConfig, features_cfg: FeaturesConfig, schema_spec: dict
) -> dict[str, Any]:
    """Return bundle.json: what the bundle needs besides its files, and its content id."""
    files = model_dir.bundle_digests()
    body = {
        "dataset": asdict(dataset),
        "features": asdict(features_cfg),
        "schema": schema_spec,
        "files": files,
    }
    digest = hashlib.sha256(repr(sorted(files.items())).encode() + repr(body).encode())
    return {"bundle_id": digest.hexdigest()[:16], **body}


def history_table(frame: pd.DataFrame, dataset: DatasetConfig, target: str, label_time: str):
    """Return the per-entity history rows materialised with the bundle (empty without entity)."""
    if not (dataset.entity_column and dataset.time_column):
        return pd.DataFrame({"entity": [], "time": [], "kind": [], "id": []}).astype(
            {"entity": "str", "time": "datetime64[s]", "kind": "str", "id": "str"}
        )
    return features.EntityHistory.table(
        frame[dataset.entity_column],
        frame[dataset.time_column],
        frame[dataset.id_column] if dataset.id_column else None,
        frame[target],
        frame[label_time],
    )


@dataclass
class Bundle:
    root: Path
    bundle_id: str
    dataset: DatasetConfig
    features_cfg: FeaturesConfig
    schema: TableSchema
    state: preprocess.PreprocessState
    spec: features.FeatureSpec
    booster: xgb.Booster
    threshold: float
    policy: PolicyConfig
    history_rows: pd.DataFrame
    history: features.EntityHistory | None

    @classmethod
    def load(cls, root: str | Path, *, online: bool = False) -> Bundle:
        """Return the bundle stored in a folder, checking its files against bundle.json.

        `online`: build the per-customer lists that answer one record at a time now (a
        service, before its first request); batch scoring, evaluation and the gate never use
        them, so by default they are built on first use."""
        folder = ModelDir.of_bundle(root)
        meta = folder.read_manifest()
        for name, digest in meta["files"].items():
            if file_sha256(folder.root / name) != digest:
                raise ValueError(f"bundle {folder.root}: {name} does not match bundle.json")
        cfg = to_config({"dataset": meta["dataset"], "features": meta["features"]})
        threshold, policy_cfg = policy.policy_from_document(folder.read_policy())
        rows = folder.read_history()
        fcfg = cfg.features
        history = None
        if cfg.dataset.entity_column and cfg.dataset.time_column:
            history = features.EntityHistory.from_table(
                rows,
                windows_days=fcfg.entity_windows_days,
                days_since_previous=fcfg.days_since_previous,
                labels=fcfg.prior_positive_labels and cfg.dataset.id_column is not None,
            )
            if online:
                history.load()
        return cls(
            root=folder.root,
            bundle_id=meta["bundle_id"],
            dataset=cfg.dataset,
            features_cfg=fcfg,
            schema=parse_table_schema(meta["schema"], name=cfg.dataset.name),
            state=folder.read_state(),
            spec=folder.read_spec(),
            booster=folder.load_booster(),
            threshold=threshold,
            policy=policy_cfg,
            history_rows=rows,
            history=history,
        )

    def __post_init__(self) -> None:
        self.validator = RowValidator(
            self.schema, self.dataset.na_values, time_column=self.dataset.time_column
        )
        # one row is too little work to share among OpenMP threads: on a busy machine the
        # hand-off alone costs milliseconds, so the record path predicts single-threaded
        self._row_booster = self.booster.copy()
        self._row_booster.set_param({"nthread": 1})
        self._feature_types = self.booster.feature_types  # a C call each time it is read
        self.feature_names: list[str] = list(self.spec.feature_names)
        self._derived = {n: compile_expression(e) for n, e in self.dataset.derived.items()}
        self._levels = {
            c: {v: i for i, v in enumerate(lv)} for c, lv in self.spec.categorical.items()
        }
        self._rules = policy.compile_rules(self.policy)

    # ---------------------------------------------------------------- batches (vectorised)

    def features_frame(
        self, frame: pd.DataFrame, history: features.HistoryIndex | None = None
    ) -> pd.DataFrame:
        """Return preprocessed inputs plus engineered features for validated canonical rows.

        `history`: an index the rows' applications are added to (a chunked file's history
        carried from chunk to chunk); None: the bundle's own history, left as it is."""
        pre = preprocess.apply(frame, self.state)
        parts = [pre, features.derived_features(pre, self.dataset.derived)]
        time_col, entity_col = self.dataset.time_column, self.dataset.entity_column
        if time_col:
            parts.append(features.time_features(pre[time_col], self.features_cfg.time_features))
        if time_col and entity_col:
            parts.append(self._entity_features(pre, history))
        return pd.concat(parts, axis=1)

    def history_index(self) -> features.HistoryIndex:
        """The bundle's history as the batch path's index (built once per `history_rows`);
        callers that add to it take a `copy()`."""
        cached = getattr(self, "_history_index", None)
        if cached is None or cached[0] is not self.history_rows:
            cfg = self.features_cfg
            index = features.HistoryIndex.from_rows(
                self.history_rows,
                windows_days=cfg.entity_windows_days,
                days_since_previous=cfg.days_since_previous,
                labels=bool(cfg.prior_positive_labels and self.dataset.id_column),
            )
            cached = (self.history_rows, index)
            self._history_index = cached
        return cached[1]

    def _entity_features(
        self, frame: pd.DataFrame, index: features.HistoryIndex | None
    ) -> pd.DataFrame:
        """Entity features of batch rows against the bundle's history plus the batch itself
        (plus what `index` already holds: a chunked file's earlier chunks). An application
        already in the history (by id) is answered as that history row; the others are added
        to the index first, so each row counts the batch's earlier applications."""
        d = self.dataset
        index = self.history_index().copy() if index is None else index
        keys = index.keys(frame[d.entity_column], frame[d.time_column])
        new = keys
        if d.id_column:
            position = index.known(frame[d.id_column])
            held = position >= 0
            if held.any():
                new = keys[~held]
                keys = keys.copy()
                keys[held] = index.id_keys[position[held]]
        index.add_applications(new)
        out = pd.DataFrame(index.features(keys), index=frame.index)
        if frame[d.entity_column].isna().any():
            out.loc[frame[d.entity_column].isna(), :] = np.nan
        return out

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        explain: bool = True,
        history: features.HistoryIndex | None = None,
    ) -> pd.DataFrame:
        """Return score, decision, decided_by and reasons for validated canonical rows
        (reasons left empty with explain=False, when only scores and decisions matter).
        `history` as in `features_frame`."""
        full = self.features_frame(frame, history)
        x = features.model_frame(full, self.spec)
        score = self.booster.inplace_predict(self._matrix(x))
        decisions = policy.decide(score, frame, self.threshold, self.policy)
        if explain:
            reasons = policy.explain(
                self.booster,
                x,
                decisions,
                k=self.policy.reason_codes,
                texts=self.dataset.reason_texts,
                approx=self.policy.contributions == "approx",
            )
        else:
            reasons = [[] for _ in range(len(frame))]
        return pd.DataFrame(
            {
                "score": score,
                "decision": decisions["decision"].to_numpy(),
                "decided_by": decisions["decided_by"].to_numpy(),
                "reasons": reasons,
            },
            index=frame.index,
        ).join(x.add_prefix("feature."))

    def _matrix(self, x: pd.DataFrame) -> np.ndarray:
        """Model inputs as floats, categories as their codes (what XGBoost sees)."""
        columns = [
            x[c].cat.codes.to_numpy(dtype="float64")
            if c in self.spec.categorical
            else x[c].to_numpy(dtype="float64", na_value=np.nan)
            for c in self.feature_names
        ]
        out = np.column_stack(columns)
        for j, c in enumerate(self.feature_names):
            if c in self.spec.categorical:
                out[out[:, j] < 0, j] = np.nan
        return out

    # ---------------------------------------------------------------- one record (fast path)

    def features_record(self, values: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """Return the model row and named features of one validated record."""
        pre = preprocess.apply_record(values, self.state)
        arrays = {c: np.array([v], dtype="float64") for c, v in pre.items() if column_is_number(v)}
        for name, expression in self._derived.items():
            pre[name] = float(expression.evaluate(arrays)[0])
        time_col = self.dataset.time_column
        stamp = values.get(time_col) if time_col else None
        if time_col:
            for name in self.features_cfg.time_features:
                pre[name] = math.nan if stamp is None else float(_calendar(stamp, name))
        if self.history is not None:
            entity = values.get(self.dataset.entity_column)
            pre |= self.history.query(entity, np.datetime64(stamp) if stamp else np.nan)
        row = np.array(
            [
                (math.nan if pre[c] is None else self._levels[c][pre[c]])
                if c in self._levels
                else pre[c]
                for c in self.feature_names
            ],
            dtype="float64",
        )
        return row, {c: pre[c] for c in self.feature_names}

    def check_record(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Return a raw record's canonical values and the `column:rule` names it breaks."""
        return self.validator.validate(record)  # in_future included (schemas.in_future)

    def score_record(self, record: dict[str, Any], *, remember: bool = True) -> dict[str, Any]:
        """Return score, decision and reasons for one raw record; raise InvalidRecordError."""
        values, broken = self.check_record(record)
        if broken:
            raise InvalidRecordError(broken)
        return self.score_checked(values, remember=remember)

    def score_checked(self, values: dict[str, Any], *, remember: bool = True) -> dict[str, Any]:
        """Return score, decision and reasons for values `check_record` found valid."""
        row, named = self.features_record(values)
        score = float(self._row_booster.inplace_predict(row[None, :])[0])
        decision, decided_by, rule_reasons = policy.decide_one(
            score, values, self.threshold, self.policy, self._rules
        )
        reasons = list(rule_reasons)
        if decision != policy.APPROVE:
            matrix = xgb.DMatrix(
                row[None, :],
                feature_types=self._feature_types,
                enable_categorical=True,
                nthread=1,
            )
            contributions = self._row_booster.predict(
                matrix,
                pred_contribs=True,
                approx_contribs=self.policy.contributions == "approx",
                validate_features=False,  # the row is built in feature_names order above
            )
            reasons += policy.reason_codes(
                contributions,
                self.feature_names,
                self.policy.reason_codes,
                self.dataset.reason_texts,
            )[0]
        if remember and self.history is not None:
            d = self.dataset
            self.history.add_application(
                values.get(d.entity_column),
                values.get(d.time_column),
                values.get(d.id_column) if d.id_column else None,
            )
        return {
            "score": score,
            "decision": decision,
            "decided_by": decided_by,
            "reasons": reasons,
            "features": named,
            "values": values,
        }

    def info(self) -> dict[str, Any]:
        """Return what the bundle is: id, dataset, features, threshold."""
        return {
            "bundle_id": self.bundle_id,
            "dataset": self.dataset.name,
            "features": self.feature_names,
            "threshold": self.threshold,
        }


def column_is_number(value: Any) -> bool:
    """Return True for values a formula can use (numbers, not category labels)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _calendar(stamp: Any, name: str) -> int:
    ts = pd.Timestamp(stamp)
    return {"hour": ts.hour, "weekday": ts.weekday(), "month": ts.month, "day": ts.day}[name]
