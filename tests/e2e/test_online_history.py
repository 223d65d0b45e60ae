"""Online equals offline after the bundle: the service's per-customer history follows what it
served, what batch scoring logged and the labels fed back (at the time each became known), and
a restart loses none of it (issue 10, items 8 and 9).

Months 7 and 8 of the tiny simulation are held back from the pipeline. Month 7 is scored in
batch and its labels fed back while the service runs; month 8 is replayed over REST. After
month 8's labels are fed back, `dvc repro` computes the pipeline's features for the same rows,
and every history feature the service logged must equal the pipeline's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopline import simulate
from loopline.config import load_config
from loopline.io.predlog import read_log

from .conftest import make_repo
from .service import serving

pytestmark = pytest.mark.slow

HISTORY = ("prior_apps_30d", "prior_apps_90d", "days_since_prev_app", "prior_defaults_observed")


def _held_back_repo(tmp_path: Path):
    repo = make_repo(tmp_path / "repo", experiment="tiny")
    tiny = (repo.path / "conf/experiment/tiny.yaml").read_text()
    assert "\nsimulate:\n" in tiny
    held = tiny.replace("\nsimulate:\n", "\nsimulate:\n  release_until: 6  # months 7-8 later\n")
    (repo.path / "conf/experiment/held.yaml").write_text(held)
    repo.set_defaults(experiment="held")
    repo.run("loopline", "params")
    repo.commit("hold months 7 and 8 back")
    repo.repro()
    return repo


def _future(repo) -> dict[int, dict[str, pd.DataFrame]]:
    cfg = load_config(repo.path / "params.yaml")
    assert cfg.simulate.release_until == 6
    return simulate.release(simulate.simulate(cfg.simulate), cfg.simulate)[1]


def _one(batches: dict[str, pd.DataFrame], pattern: str) -> tuple[str, pd.DataFrame]:
    [(name, frame)] = [(n, f) for n, f in batches.items() if pattern in n]
    return name, frame


def _unlabelled_of_returning_customers(repo, month: dict[str, pd.DataFrame]) -> list[str]:
    """Ids of earlier, still unlabelled applications of customers who apply again in the given
    month over REST: a default for them fed back the month before counts in that month."""
    split = pd.read_parquet(repo.path / "data/processed/loans/split.parquet")
    _, apps = _one(month, "_api.jsonl")
    returning = set(apps["customer_id"].dropna().astype("str"))
    open_ = split[split["_target"].isna() & split["customer_id"].astype("str").isin(returning)]
    ids = open_["application_id"].astype("str").drop_duplicates().head(8).tolist()
    assert ids, "no returning customer with an unlabelled application"
    return ids


def _defaults(ids: list[str], observed_at: str) -> pd.DataFrame:
    return pd.DataFrame({"application_id": ids, "defaulted": 1, "observed_at": observed_at})


def _write_jsonl(frame: pd.DataFrame, path: Path) -> list[dict]:
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _history_features(log_dir: Path, source: str) -> pd.DataFrame:
    frame = read_log(log_dir).frame
    frame = frame[frame["source"] == source]
    columns = {f"feature.{c}": c for c in HISTORY}
    out = frame[["input.application_id", "input.customer_id", *columns]].rename(columns=columns)
    out = out.rename(columns={"input.application_id": "application_id"})
    return out.rename(columns={"input.customer_id": "customer"}).astype(
        {"application_id": "str", "customer": "str"}
    )


def test_online_history_follows_serving_and_feedback_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    repo = _held_back_repo(tmp_path)
    future = _future(repo)
    months = sorted(future)[:2]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log_dir = repo.path / "data/predictions/loans"

    defaulted = _unlabelled_of_returning_customers(repo, future[months[1]])

    with serving(repo, "--poll-seconds", "0.5") as client:
        # month 7: batch scoring logs it, then its labels are fed back while the service runs
        _, apps = _one(future[months[0]], "_api.jsonl")
        _write_jsonl(apps, inbox / "month7.jsonl")
        repo.run(
            "loopline", "score", str(inbox / "month7.jsonl"), str(inbox / "s7.parquet"), check=False
        )
        name, labels = _one(future[months[0]], "labels/")
        labels = labels[~labels["application_id"].isin(defaulted)]
        labels = pd.concat([labels, _defaults(defaulted, "2024-07-15T00:00:00")])
        labels.to_csv(inbox / Path(name).name, index=False)
        fed = repo.run("loopline", "feedback", str(inbox / Path(name).name), check=False)
        assert fed.returncode in (0, 1), fed.stdout + fed.stderr
        time.sleep(2)  # the watcher learns the new partition
        # month 8 over REST, in time order, one application per request
        _, apps = _one(future[months[1]], "_api.jsonl")
        records = json.loads(apps.to_json(orient="records", date_format="iso"))
        records.sort(key=lambda r: str(r.get("applied_at")))
        answered = 0
        for record in records:
            status, _ = client.predict(record)
            assert status in (200, 422), status
            answered += status == 200
        assert answered > 50

        # a probe after the last application of a returning customer
        served = _history_features(log_dir, "rest")
        logged = read_log(log_dir).frame
        rest = logged[logged["source"] == "rest"]
        counts = rest["input.customer_id"].value_counts()
        customer = counts.index[0]
        last = rest[rest["input.customer_id"] == customer].iloc[-1]
        probe = {k[len("input.") :]: v for k, v in last.items() if k.startswith("input.")}
        probe = {k: (None if v is None or v != v else v) for k, v in probe.items()}
        at = pd.Timestamp(str(probe["applied_at"])).tz_localize(None) + pd.Timedelta(days=1)
        probe |= {"application_id": "PROBE-1", "applied_at": at.isoformat()}
        status, body = client.predict(probe)
        assert status == 200, body
    before_restart = _history_features(log_dir, "rest").set_index("application_id")

    with serving(repo) as client:  # a restart: the history is rebuilt from the log and feedback
        status, body = client.predict(probe | {"application_id": "PROBE-2"})
        assert status == 200, body
    after = _history_features(log_dir, "rest").set_index("application_id")
    first = before_restart.loc["PROBE-1", list(HISTORY)]
    second = after.loc["PROBE-2", list(HISTORY)]
    assert first["prior_apps_90d"] >= 1, "the probe's customer has earlier applications"
    pd.testing.assert_series_equal(first, second, check_names=False)

    # the pipeline's features for the same rows, once month 8's labels are fed back
    name, labels = _one(future[months[1]], "labels/")
    labels = labels[~labels["application_id"].isin(defaulted)]
    labels.to_csv(inbox / Path(name).name, index=False)
    repo.run("loopline", "feedback", str(inbox / Path(name).name), check=False)
    repo.repro()
    pipeline = pd.read_parquet(repo.path / "data/processed/loans/features.parquet")
    pipeline = pipeline.astype({"application_id": "str"}).set_index("application_id")
    served = served.set_index("application_id")
    common = served.index.intersection(pipeline.index)
    # the same application: a request reusing an earlier application's id was scored, but the
    # pipeline keeps the earlier row (the earliest arrival wins) and quarantines this one
    same = pipeline.loc[common, "customer_id"].astype("str") == served.loc[common, "customer"]
    common = common[same.to_numpy()]
    assert len(common) >= 0.9 * len(served), (len(common), len(served))
    online = served.loc[common, list(HISTORY)].astype("float64")
    offline = pipeline.loc[common, list(HISTORY)].astype("float64")
    differs = ~np.isclose(online.to_numpy(), offline.to_numpy(), equal_nan=True)
    assert not differs.any(), pd.concat(
        {"online": online[differs.any(axis=1)], "pipeline": offline[differs.any(axis=1)]}, axis=1
    )
    assert offline["prior_defaults_observed"].sum() > 0, "labels count in these rows"
