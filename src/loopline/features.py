"""Stage 5, features: domain features on top of the preprocessed columns.

- derived: ratios and formulas from the dataset config (loan to income, payment to income)
- time: hour, weekday, month of the row's own time
- entity history, point-in-time correct: prior applications in the last N days, days since the
  previous application, prior positive labels *observed before* the row's time. A row's
  features only ever use rows with an earlier timestamp, and labels observed earlier.

The aggregates are computed with one sort and binary searches over (entity, time) keys
(`HistoryIndex`), so they cost O(n log n) at any size and never look at a later row.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopline.config import DatasetConfig, FeaturesConfig
from loopline.expressions import compile_expression

DAY = 86_400
_SHIFT = np.int64(1) << np.int64(35)  # room for 1,000 years of seconds per entity code
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
    index = HistoryIndex(windows_days, days_since_previous, labels=events is not None)
    keys = index.keys(entity, times)
    index.add_applications(keys)
    if events is not None:
        index.add_events(index.keys(*events))
    return pd.DataFrame(index.features(keys), index=entity.index)


class HistoryIndex:
    """Per-entity history as sorted integer keys: the one computation of the entity features
    for tables (`entity_history`, the features stage) and batches (`Bundle.score_frame`).

    A key is `entity code * 2**35 + seconds since 1677` (pandas' whole range of timestamps), so
    one binary search answers "how many applications of this entity strictly before this
    time": rows are answered "as of" their own time (point-in-time correct) with a few
    `searchsorted` calls over the sorted keys, O(log n) per row. Entity codes come from one
    index of entity names that grows as new entities arrive; applications of a scored batch
    are merged in (`add_applications`, a linear merge of two sorted runs), so a file scored in
    chunks keeps its earlier chunks as history without re-reading them.

    Rows with no entity or no time get key -1: they are never history and their features are
    missing. The online path (`EntityHistory`, one record at a time) answers the same
    questions per entity; the parity tests hold the two equal.
    """

    def __init__(self, windows_days: list[int], days_since_previous: bool, labels: bool) -> None:
        self.windows_days = list(windows_days)
        self.days_since_previous = days_since_previous
        self.labels = labels
        self.entities = pd.Index([], dtype="str")
        self.apps = np.empty(0, dtype="int64")  # sorted application keys
        self.events = np.empty(0, dtype="int64")  # sorted positive-label keys (observed time)
        self.ids = pd.Index([], dtype="str")  # application ids held, unique
        self.id_keys = np.empty(0, dtype="int64")  # the key of each of those applications

    @classmethod
    def from_rows(
        cls,
        rows: pd.DataFrame,
        *,
        windows_days: list[int],
        days_since_previous: bool,
        labels: bool,
    ) -> HistoryIndex:
        """Return the index of history rows (entity, time, kind, id), as bundles store them."""
        index = cls(windows_days, days_since_previous, labels)
        apps = rows[rows["kind"] == "application"]
        keys = index.keys(apps["entity"], apps["time"])
        index.add_applications(keys)
        if labels:
            events = rows[rows["kind"] == "positive_label"]
            index.add_events(index.keys(events["entity"], events["time"]))
        ids = apps["id"]
        held = (ids.notna() & ~ids.duplicated(keep="first")).to_numpy()
        index.ids = pd.Index(ids[held].astype("str"))
        index.id_keys = keys[held]
        return index

    def copy(self) -> HistoryIndex:
        """Return an index whose additions leave this one as it is."""
        out = copy.copy(self)
        out.apps, out.events = self.apps.copy(), self.events.copy()
        return out

    def keys(self, entity: pd.Series, times: pd.Series) -> np.ndarray:
        """Return each row's key (-1 without entity or time), adding unseen entities."""
        names = entity.astype("str")
        codes = self.entities.get_indexer(names) if len(self.entities) else np.full(len(names), -1)
        unseen = (codes < 0) & names.notna().to_numpy()
        if unseen.any():
            new_codes, new_names = pd.factorize(names[unseen])
            codes[unseen] = len(self.entities) + new_codes
            self.entities = self.entities.append(pd.Index(new_names, dtype="str"))
        stamps = np.asarray(times, dtype="datetime64[s]")
        seconds = (stamps - _ORIGIN).astype("int64")
        valid = (codes >= 0) & ~np.isnat(stamps)
        return np.where(valid, codes.astype("int64") * _SHIFT + seconds, -1)

    def known(self, ids: pd.Series) -> np.ndarray:
        """Return the position of each id among the applications held (-1: not held)."""
        if not len(self.ids):
            return np.full(len(ids), -1)
        return self.ids.get_indexer(ids.astype("str"))

    def add_applications(self, keys: np.ndarray) -> None:
        """Hold these applications (keys -1 are skipped) as history from now on."""
        self.apps = _merge(self.apps, keys)

    def add_events(self, keys: np.ndarray) -> None:
        """Hold these positive labels (keys at the time each became known) from now on."""
        self.events = _merge(self.events, keys)

    def features(self, keys: np.ndarray) -> dict[str, np.ndarray]:
        """Return each row's entity features as of its key's time, from strictly earlier
        applications and labels observed strictly earlier (missing where the key is -1)."""
        valid = keys >= 0
        k = np.where(valid, keys, 0)
        base = (k // _SHIFT) * _SHIFT  # the entity's first possible key
        t = k - base
        apps = self.apps
        before = np.searchsorted(apps, k, side="left")  # this entity's rows strictly earlier
        out: dict[str, np.ndarray] = {}
        for days in self.windows_days:
            start = np.searchsorted(apps, base + np.maximum(t - days * DAY, 0), side="left")
            out[f"prior_apps_{days}d"] = (before - start).astype("float64")
        if self.days_since_previous:
            has_prev = before > np.searchsorted(apps, base, side="left")
            previous = apps[np.maximum(before - 1, 0)] - base if len(apps) else t
            out["days_since_prev_app"] = np.where(has_prev, (t - previous) / DAY, np.nan)
        if self.labels:
            out["prior_defaults_observed"] = (
                np.searchsorted(self.events, k, side="left")
                - np.searchsorted(self.events, base, side="left")
            ).astype("float64")
        for values in out.values():
            values[~valid] = np.nan
        return out


_ORIGIN = np.datetime64("1677-01-01", "s")  # before pandas' first timestamp


def _merge(held: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Return the sorted union (with repeats) of sorted `held` and `keys` that are not -1."""
    new = np.sort(keys[keys >= 0])
    if not len(new):
        return held
    merged = np.concatenate([held, new])
    # two sorted runs: numpy's stable sort (timsort for int64) merges them in linear time, in
    # place (no third copy of a history that can hold millions of keys)
    merged.sort(kind="stable")
    return merged


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
        self._pending: pd.DataFrame | None = None  # stored rows not yet in the lists (`load`)
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
        """Return the history stored as rows (entity, time, kind, id).

        The per-entity lists are built on first use (`load`), not here: a bundle loaded to
        score files, evaluate or gate never asks one record at a time, and at a million rows
        the lists cost seconds and hundreds of MB. A service loads them before it answers
        (`Bundle.load(..., online=True)`).
        """
        history = cls(windows_days, days_since_previous, labels)
        history._pending = table
        return history

    def load(self) -> EntityHistory:
        """Build the per-entity lists from the stored rows, once; return self."""
        if self._pending is None:
            return self
        with self._lock:
            if self._pending is not None:
                self._fill(self._pending)
                self._pending = None
        return self

    def _fill(self, table: pd.DataFrame) -> None:
        seconds = _epoch_seconds(table["time"])
        entities = table["entity"].to_numpy(dtype=object)
        kinds = table["kind"].to_numpy(dtype=object)
        ids = table["id"].to_numpy(dtype=object)
        order = np.argsort(seconds, kind="stable")
        for i in order:
            target = self._apps if kinds[i] == "application" else self._events
            target.setdefault(entities[i], []).append(int(seconds[i]))
        for entity, identifier, kind in zip(entities, ids, kinds, strict=True):
            if identifier is None or identifier is pd.NA or identifier != identifier:
                continue
            if kind == "application":
                self._ids[identifier] = entity
            else:
                self._labelled.add(identifier)

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
        self.load()
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
        self.load()
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
        self.load()
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
        self.load()
        return application_id in self._ids

    def entity_of(self, application_id: str) -> str | None:
        self.load()
        return self._ids.get(application_id)


def _epoch_seconds(times: pd.Series) -> np.ndarray:
    return np.asarray(times, dtype="datetime64[s]").astype("int64")
