"""Stage 5, features: domain features on top of the preprocessed columns.

- derived: ratios and formulas from the dataset config (loan to income, payment to income)
- time: hour, weekday, month of the row's own time
- entity history, point-in-time correct: prior applications in the last N days, days since the
  previous application, prior positive labels *observed before* the row's time. A row's
  features only ever use rows with an earlier timestamp, and labels observed earlier.

The aggregates are computed with one sort and binary searches over (entity, time) keys, so
they cost O(n log n) at any size and never look at a later row.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DatasetConfig, FeaturesConfig
from loopline.expressions import compile_expression

DAY = 86_400
_SHIFT = np.int64(1) << np.int64(34)  # room for 500 years of seconds per entity code
MAX_EVENTS_PER_ENTITY = 10_000  # online history kept per entity (applications, labels each)


def derived_features(frame: pd.DataFrame, derived: dict[str, str]) -> pd.DataFrame:
    """Return one column per configured formula, evaluated over the frame's numeric columns."""
    columns = {}
    for name, source in derived.items():
        expression = compile_expression(source)
        data = {
            c: frame[c].to_numpy(dtype="float64", na_value=np.nan)
            for c in expression.columns
            if c in frame.columns
        }
        columns[name] = expression.evaluate(data).astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def time_features(times: pd.Series, which: list[str]) -> pd.DataFrame:
    """Return calendar features (hour, weekday, month, day) of each row's timestamp."""
    accessors = {"hour": "hour", "weekday": "day_of_week", "month": "month", "day": "day"}
    unknown = sorted(set(which) - set(accessors))
    if unknown:
        raise ValueError(f"unknown time feature(s) {unknown}; choose from {sorted(accessors)}")
    return pd.DataFrame(
        {f"{w}": getattr(times.dt, accessors[w]).astype("float64") for w in which},
        index=times.index,
    )


def _seconds(times: pd.Series | np.ndarray, origin: np.datetime64) -> np.ndarray:
    values = np.asarray(times, dtype="datetime64[s]")
    return (values - origin).astype("int64")


def label_events(
    entity: pd.Series, positive: pd.Series, observed_at: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Return (entity, time) of every positive label, at the time it was observed."""
    hit = (positive.to_numpy(dtype="float64", na_value=np.nan) == 1.0) & observed_at.notna()
    return entity[hit], observed_at[hit]


def entity_history(
    entity: pd.Series,
    times: pd.Series,
    *,
    windows_days: list[int],
    days_since_previous: bool,
    events: tuple[pd.Series, pd.Series] | None = None,
) -> pd.DataFrame:
    """Return per-row history of the row's entity, using only earlier rows and earlier events.

    events: (entity, time) of positive labels at the time they became known; an event counts
    for a row only if it was observed strictly before that row's time.
    """
    event_entity = events[0] if events is not None else entity.iloc[:0]
    codes_all, _ = pd.factorize(
        pd.concat([entity, event_entity], ignore_index=True), use_na_sentinel=True
    )
    codes = codes_all[: len(entity)].astype("int64")
    event_codes = codes_all[len(entity) :].astype("int64")
    origin = np.datetime64(times.min(), "s") - np.timedelta64(max(windows_days, default=0) + 1, "D")
    t = _seconds(times, origin)
    keys = codes * _SHIFT + t
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    before = np.searchsorted(sorted_keys, keys, side="left")  # rows of this entity strictly earlier
    entity_start = np.searchsorted(sorted_keys, codes * _SHIFT, side="left")
    out: dict[str, np.ndarray] = {}
    for days in windows_days:
        start = np.searchsorted(sorted_keys, codes * _SHIFT + np.maximum(t - days * DAY, 0))
        out[f"prior_apps_{days}d"] = (before - start).astype("float64")
    if days_since_previous:
        has_prev = before > entity_start
        prev_time = t[order[np.maximum(before - 1, 0)]]
        out["days_since_prev_app"] = np.where(has_prev, (t - prev_time) / DAY, np.nan)
    if events is not None:
        event_t = np.maximum(_seconds(events[1], origin), 0)
        event_keys = np.sort(event_codes * _SHIFT + event_t)
        out["prior_defaults_observed"] = (
            np.searchsorted(event_keys, keys, side="left")
            - np.searchsorted(event_keys, codes * _SHIFT, side="left")
        ).astype("float64")
    frame = pd.DataFrame(out, index=entity.index)
    missing_entity = codes < 0
    if missing_entity.any():
        frame.loc[missing_entity, :] = np.nan
    return frame


def build_features(
    frame: pd.DataFrame,
    *,
    dataset: DatasetConfig,
    cfg: FeaturesConfig,
    target: str | None = None,
    label_time: str | None = None,
) -> pd.DataFrame:
    """Return the engineered feature columns for every row of a preprocessed table."""
    parts = [derived_features(frame, dataset.derived)]
    if dataset.time_column:
        parts.append(time_features(frame[dataset.time_column], cfg.time_features))
    if dataset.time_column and dataset.entity_column:
        with_labels = cfg.prior_positive_labels and target is not None and label_time is not None
        parts.append(
            entity_history(
                frame[dataset.entity_column],
                frame[dataset.time_column],
                windows_days=cfg.entity_windows_days,
                days_since_previous=cfg.days_since_previous,
                events=label_events(frame[dataset.entity_column], frame[target], frame[label_time])
                if with_labels
                else None,
            )
        )
    return pd.concat(parts, axis=1)


@dataclass(frozen=True)
class FeatureSpec:
    """The model's inputs (`features.json`): their order, each categorical input's levels, and
    which inputs are engineered here (the rest are preprocessed columns).

    `to_json` gives the document the features stage always wrote, key for key (the bundle id
    hashes it).
    """

    feature_names: tuple[str, ...]  # the model's input columns, in the model's order
    categorical: Mapping[str, tuple[str, ...]]  # levels, __other__ last
    engineered: tuple[str, ...]

    @property
    def numeric(self) -> list[str]:
        """The inputs that are numbers (every input but the categorical ones), in order."""
        return [c for c in self.feature_names if c not in self.categorical]

    def levels(self) -> dict[str, list[str]]:
        """Each categorical input's levels as lists (for JSON documents and pandas)."""
        return {column: list(lv) for column, lv in self.categorical.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "categorical": self.levels(),
            "engineered": list(self.engineered),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            feature_names=tuple(doc["feature_names"]),
            categorical={c: tuple(lv) for c, lv in doc["categorical"].items()},
            engineered=tuple(doc["engineered"]),
        )


def feature_spec(
    *, numeric: list[str], categorical: Mapping[str, Sequence[str]], engineered: list[str]
) -> FeatureSpec:
    """Return the ordered list of model inputs and the categorical levels (features.json)."""
    return FeatureSpec(
        feature_names=(*numeric, *categorical, *engineered),
        categorical={c: tuple(lv) for c, lv in categorical.items()},
        engineered=tuple(engineered),
    )


def model_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Return exactly the model's input columns, categories with the levels it was trained on."""
    out = frame[list(spec.feature_names)].copy()
    for column, levels in spec.categorical.items():
        if not isinstance(out[column].dtype, pd.CategoricalDtype) or list(
            out[column].cat.categories
        ) != list(levels):
            out[column] = pd.Categorical(
                out[column].astype("str").where(out[column].notna()), categories=list(levels)
            )
    return out


class EntityHistory:
    """Per-entity history (application times, positive-label times) for online features.

    Materialised with the model bundle from every validated row, then updated by what is served
    and by labels fed back later (`add_label`, at the time each became known), so an application
    replayed online gets the same features as offline: queries are always "as of" the
    application's own time, and an id already in the history is not added twice.
    Times are whole seconds, as in `entity_history`. Memory per entity is bounded: past
    `max_per_entity` events the oldest are forgotten (a real customer never comes near; a client
    sending one customer id in a loop cannot grow the service without limit).
    """

    def __init__(
        self,
        windows_days: list[int],
        days_since_previous: bool,
        labels: bool,
        max_per_entity: int = MAX_EVENTS_PER_ENTITY,
    ) -> None:
        self.windows_days = list(windows_days)
        self.days_since_previous = days_since_previous
        self.labels = labels
        self.max_per_entity = max_per_entity
        self._apps: dict[str, list[int]] = {}
        self._events: dict[str, list[int]] = {}
        self._ids: dict[str, str] = {}  # application id -> entity
        self._labelled: set[str] = set()  # application ids whose positive label is held
        self._lock = threading.Lock()

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        *,
        windows_days: list[int],
        days_since_previous: bool,
        labels: bool,
    ) -> EntityHistory:
        """Return the history stored as rows (entity, time, kind, id)."""
        history = cls(windows_days, days_since_previous, labels)
        seconds = _epoch_seconds(table["time"])
        entities = table["entity"].to_numpy(dtype=object)
        kinds = table["kind"].to_numpy(dtype=object)
        ids = table["id"].to_numpy(dtype=object)
        order = np.argsort(seconds, kind="stable")
        for i in order:
            target = history._apps if kinds[i] == "application" else history._events
            target.setdefault(entities[i], []).append(int(seconds[i]))
        for entity, identifier, kind in zip(entities, ids, kinds, strict=True):
            if identifier is None or identifier is pd.NA or identifier != identifier:
                continue
            if kind == "application":
                history._ids[identifier] = entity
            else:
                history._labelled.add(identifier)
        return history

    @staticmethod
    def table(
        entity: pd.Series,
        times: pd.Series,
        ids: pd.Series | None,
        positive: pd.Series | None,
        positive_observed_at: pd.Series | None,
    ) -> pd.DataFrame:
        """Return history rows from a table of applications and their labels (a label row
        carries its application's id, so a label fed back again is not counted twice)."""
        keep = entity.notna() & times.notna()
        no_ids = pd.Series(None, index=entity.index, dtype="str")
        ids = ids.astype("str").where(ids.notna(), None) if ids is not None else no_ids
        apps = pd.DataFrame(
            {
                "entity": entity[keep].astype("str"),
                "time": times[keep].astype("datetime64[s]"),
                "kind": "application",
                "id": ids[keep].astype("str"),
            }
        )
        parts = [apps]
        if positive is not None and positive_observed_at is not None:
            hit = keep & (positive == 1.0) & positive_observed_at.notna()
            parts.append(
                pd.DataFrame(
                    {
                        "entity": entity[hit].astype("str"),
                        "time": positive_observed_at[hit].astype("datetime64[s]"),
                        "kind": "positive_label",
                        "id": ids[hit].astype("str"),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def query(self, entity: str | None, time: np.datetime64 | pd.Timestamp) -> dict[str, float]:
        """Return the entity features of one application at `time`, from earlier history only."""
        names = [f"prior_apps_{d}d" for d in self.windows_days]
        names += ["days_since_prev_app"] if self.days_since_previous else []
        names += ["prior_defaults_observed"] if self.labels else []
        if entity is None or pd.isna(time):
            return dict.fromkeys(names, np.nan)
        t = int(np.datetime64(time, "s").astype("int64"))
        with self._lock:
            apps = self._apps.get(entity, [])
            events = self._events.get(entity, [])
            before = bisect.bisect_left(apps, t)
            out = {
                f"prior_apps_{d}d": float(before - bisect.bisect_left(apps, t - d * DAY))
                for d in self.windows_days
            }
            if self.days_since_previous:
                out["days_since_prev_app"] = (t - apps[before - 1]) / DAY if before else np.nan
            if self.labels:
                out["prior_defaults_observed"] = float(bisect.bisect_left(events, t))
        return out

    def add_application(self, entity: str | None, time: Any, application_id: str | None) -> bool:
        """Record a served application, once per id, so later applications see it."""
        if entity is None or pd.isna(time) or (application_id and application_id in self._ids):
            return False
        t = int(np.datetime64(time, "s").astype("int64"))
        with self._lock:
            if application_id:
                if application_id in self._ids:
                    return False
                self._ids[application_id] = entity
            self._insert(self._apps, entity, t)
        return True

    def add_label(self, application_id: str, known_at: Any) -> bool:
        """Record the positive label of a known application at the time it became known, once;
        False when the application is unknown, the label already held, or labels are unused."""
        if not self.labels or pd.isna(known_at):
            return False
        t = int(np.datetime64(known_at, "s").astype("int64"))
        with self._lock:
            entity = self._ids.get(application_id)
            if entity is None or application_id in self._labelled:
                return False
            self._labelled.add(application_id)
            self._insert(self._events, entity, t)
        return True

    def _insert(self, where: dict[str, list[int]], entity: str, t: int) -> None:
        times = where.setdefault(entity, [])
        bisect.insort(times, t)
        if len(times) > self.max_per_entity:
            del times[: len(times) - self.max_per_entity]

    def __contains__(self, application_id: str) -> bool:
        return application_id in self._ids

    def entity_of(self, application_id: str) -> str | None:
        return self._ids.get(application_id)


def _epoch_seconds(times: pd.Series) -> np.ndarray:
    return np.asarray(times, dtype="datetime64[s]").astype("int64")
