"""A seeded simulator of a lender's consumer loan applications that behaves like production.

Everything here is a pure function: no file I/O, no global state, and every random number comes
from `np.random.default_rng(seed)` (or a generator the caller passes in). `simulate` chains the
three steps the `simulate` stage needs: clean applications with a hidden ground truth, defects
injected into a small share of them, and the per-source batch files (plus delayed label files)
keyed by their path under the raw directory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopline.config import DriftKnob, SimulateConfig

CANONICAL_COLUMNS: tuple[str, ...] = (
    "application_id",
    "customer_id",
    "applied_at",
    "age",
    "annual_income",
    "employment_years",
    "employment_type",
    "home_ownership",
    "loan_amount",
    "loan_term_months",
    "purpose",
    "region",
    "channel",
    "credit_utilization",
    "num_open_accounts",
    "past_delinquencies",
    "debt_to_income",
)
META_COLUMNS: tuple[str, ...] = ("period", "source", "defect", "defaulted", "observed_at")

EMPLOYMENT_TYPES: tuple[str, ...] = (
    "salaried",
    "self_employed",
    "contract",
    "unemployed",
    "retired",
)
HOME_OWNERSHIP: tuple[str, ...] = ("rent", "own", "mortgage", "other")
PURPOSES: tuple[str, ...] = (
    "debt_consolidation",
    "home_improvement",
    "car",
    "education",
    "medical",
    "business",
    "other",
)
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
CHANNELS: tuple[str, ...] = ("online", "branch", "broker", "partner")
SOURCES: tuple[str, ...] = ("api", "branch", "broker")
LOAN_TERMS: tuple[int, ...] = (12, 24, 36, 48, 60)

# P(channel | source), columns in CHANNELS order.
CHANNEL_GIVEN_SOURCE: dict[str, tuple[float, ...]] = {
    "api": (0.75, 0.0, 0.0, 0.25),
    "branch": (0.04, 0.93, 0.0, 0.03),
    "broker": (0.0, 0.0, 0.9, 0.1),
}
# Relative application volume per hour of day, per channel (branches keep opening hours).
_ONLINE_HOURS = (
    1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3.5, 4.5, 5, 5.5,
    6.5, 6.5, 5.5, 5, 5, 5.5, 6, 6.5, 7, 6.5, 4.5, 2.5,
)  # fmt: skip
_OFFICE_HOURS = (
    0, 0, 0, 0, 0, 0, 0, 0, 0.5, 4, 6, 6.5,
    5, 5.5, 6.5, 6, 5, 3, 0.5, 0, 0, 0, 0, 0,
)  # fmt: skip
_PARTNER_HOURS = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 3.5, 5, 5.5, 5.5,
    5, 5.5, 5.5, 5, 4.5, 4, 3, 2.5, 2, 1.5, 1, 0.5,
)  # fmt: skip
HOUR_PROFILE: dict[str, tuple[float, ...]] = {
    "online": _ONLINE_HOURS,
    "branch": _OFFICE_HOURS,
    "broker": _OFFICE_HOURS,
    "partner": _PARTNER_HOURS,
}

DEFECT_KINDS: tuple[str, ...] = (
    "negative_age",
    "absurd_age",
    "negative_income",
    "absurd_income",
    "missing_application_id",
    "missing_customer_id",
    "missing_applied_at",
    "missing_loan_amount",
    "missing_region",
    "string_in_numeric",
    "unknown_category",
    "duplicate_id",
    "unparseable_timestamp",
    "future_timestamp",
)
# Only required numeric columns carry string defects, so "n/a" can't pass as a legitimate NA.
STRING_DEFECT_COLUMNS: tuple[str, ...] = ("age", "annual_income", "loan_amount", "loan_term_months")
STRING_DEFECT_VALUES: tuple[str, ...] = ("n/a", "twelve", "45k")
UNKNOWN_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("region", "Atlantis"),
    ("employment_type", "astronaut"),
    ("channel", "fax"),
)
UNPARSEABLE_TIMESTAMPS: tuple[str, ...] = ("2024-13-45 99:99", "yesterday")

# The branch system's column spellings (branch -> canonical), as in conf/dataset/loans.yaml;
# used when a caller passes no `branch_rename` of its own.
DEFAULT_BRANCH_RENAME: dict[str, str] = {
    "App ID": "application_id",
    "Customer No": "customer_id",
    "Application Date": "applied_at",
    "Applicant Age": "age",
    "Annual Salary": "annual_income",
    "Years Employed": "employment_years",
    "Employment Type": "employment_type",
    "Home Ownership": "home_ownership",
    "Loan Amount": "loan_amount",
    "Term (months)": "loan_term_months",
    "Purpose": "purpose",
    "Region": "region",
    "Channel": "channel",
    "Credit Utilisation": "credit_utilization",
    "Open Accounts": "num_open_accounts",
    "Past Delinquencies": "past_delinquencies",
    "DTI": "debt_to_income",
}

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"
BRANCH_DATE_FORMAT = "%d/%m/%Y %H:%M"
SOURCE_EXTENSIONS: dict[str, str] = {"api": "jsonl", "branch": "csv", "broker": "parquet"}
TIME_UNIT = "datetime64[us]"


# ----------------------------------------------------------------------------- small helpers


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Return the logistic function of x."""
    return 1.0 / (1.0 + np.exp(-x))


def _draw(u: np.ndarray, probs: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Return category indices for uniforms u under fixed probabilities."""
    p = np.asarray(probs, dtype=float)
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(p) - 1)


def _draw_logits(u: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Return category indices for uniforms u under per-row logits (rows x categories)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    return np.minimum((u[:, None] > cdf).sum(axis=1), logits.shape[1] - 1)


def _labels(index: np.ndarray, categories: tuple[str, ...]) -> np.ndarray:
    """Return the category names for an index array as an object array."""
    return np.asarray(categories, dtype=object)[index]


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Return ids like "A0000001" for an integer array."""
    digits = np.strings.zfill(numbers.astype(np.int64).astype(str), width)
    return np.strings.add(prefix, digits).astype(object)


def _month_starts(start: str, periods: int) -> pd.DatetimeIndex:
    """Return the first instant of each simulated month plus the horizon end."""
    first = pd.Timestamp(start).normalize().replace(day=1)
    return pd.date_range(first, periods=periods + 1, freq="MS")


def _active(knob: DriftKnob, period: np.ndarray) -> np.ndarray:
    """Return the rows a drift knob applies to (none while its start period is null)."""
    if knob.start_period is None:
        return np.zeros(len(period), dtype=bool)
    return period >= knob.start_period


def _bisect_intercept(logit: np.ndarray, target: float, iterations: int = 60) -> float:
    """Return the intercept b with mean(sigmoid(logit + b)) == target, by bisection."""
    lo, hi = -30.0, 30.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if _sigmoid(logit + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ----------------------------------------------------------------------------- applications


def _channels(
    cfg: SimulateConfig,
    period: np.ndarray,
    u_source: np.ndarray,
    u_channel: np.ndarray,
    u_switch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return source and channel indices, with the channel_mix drift applied."""
    mix = np.array([float(cfg.source_mix.get(s, 0.0)) for s in SOURCES])
    if mix.sum() <= 0:
        raise ValueError("simulate.source_mix needs a positive share for api, branch or broker")
    mix = mix / mix.sum()
    source = _draw(u_source, mix)
    cond = np.array([CHANNEL_GIVEN_SOURCE[s] for s in SOURCES])
    cdf = np.cumsum(cond, axis=1)
    channel = np.minimum((u_channel[:, None] > cdf[source]).sum(axis=1), len(CHANNELS) - 1)

    knob = cfg.drift.channel_mix
    drifted = _active(knob, period)
    if drifted.any():
        online = CHANNELS.index("online")
        base = float(mix @ cond[:, online])
        target = float(np.clip(knob.online_share, 0.0, 1.0))
        if target >= base:
            # Switch a share of the other applications to online/api so the total hits target.
            p_switch = (target - base) / max(1.0 - base, 1e-9)
            switch = drifted & (channel != online) & (u_switch < p_switch)
            source[switch] = SOURCES.index("api")
            channel[switch] = online
        else:
            # Send a share of the online applications through the other channels instead.
            p_switch = 1.0 - target / max(base, 1e-9)
            switch = drifted & (channel == online) & (u_switch < p_switch)
            others = np.array([SOURCES.index("branch"), SOURCES.index("broker")])
            weights = mix[others] if mix[others].sum() > 0 else np.ones(2)
            picked = others[_draw(u_channel[switch], weights)]
            source[switch] = picked
            channel[switch] = np.where(
                picked == SOURCES.index("branch"),
                CHANNELS.index("branch"),
                CHANNELS.index("broker"),
            )
    return source, channel


def _times(
    cfg: SimulateConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return period, source, channel and applied_at (seconds) per row, unsorted."""
    n, periods = cfg.rows, cfg.periods
    counts = np.full(periods, n // periods)
    counts[: n % periods] += 1
    period = np.repeat(np.arange(periods), counts)

    u = rng.random((6, n))
    source, channel = _channels(cfg, period, u[0], u[1], u[2])

    starts = _month_starts(cfg.start, periods)
    start_s = starts.values.astype("datetime64[s]").astype(np.int64)
    days = np.diff(start_s) // 86400
    day = np.floor(u[3] * days[period]).astype(np.int64)
    hour = np.zeros(n, dtype=np.int64)
    for c, name in enumerate(CHANNELS):
        rows = channel == c
        hour[rows] = _draw(u[4][rows], HOUR_PROFILE[name])
    minute = np.floor(u[5] * 60).astype(np.int64)
    seconds = start_s[period] + day * 86400 + hour * 3600 + minute * 60
    return period, source, channel, seconds


def _customers(
    seconds: np.ndarray, repeat_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return (first application row, customer number) per chronologically sorted row."""
    n = len(seconds)
    u = rng.random((2, n))
    # A returning customer first applied at least a day earlier; the pool is every customer
    # seen by then, with recent customers somewhat more likely to come back.
    cutoff = np.searchsorted(seconds, seconds - 86400, side="right")
    repeat = (u[0] < repeat_rate) & (cutoff > 0)
    first_rows = np.flatnonzero(~repeat)
    pool = np.searchsorted(first_rows, cutoff, side="left")  # customers seen a day before
    pick = np.minimum((pool * np.sqrt(u[1])).astype(np.int64), np.maximum(pool - 1, 0))
    root = np.where(repeat, first_rows[pick], np.arange(n))
    number = np.cumsum(~repeat) - 1
    return root, number[root]


def _ground_truth_logit(f: dict[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
    """Return the hidden default logit (without intercept) of the clean applications."""
    age, income, util = f["age"], f["annual_income"], f["credit_utilization"]
    util = np.where(np.isnan(util), 0.55, util)
    years = f["employment_years"]
    years_missing = np.isnan(years)
    years = np.where(years_missing, 3.0, years)
    delinq = np.minimum(f["past_delinquencies"], 6).astype(float)
    etype, purpose, channel, home = f["employment_type"], f["purpose"], f["channel"], f["home"]
    term = f["loan_term_months"].astype(float)
    pti = f["loan_amount"] * 0.01 / (1 - 1.01 ** (-term)) * 12 / income

    logit = (
        0.9 * f["latent"]
        + 1.5 * util
        + 1.6 * np.maximum(util - 0.85, 0.0)
        + 0.55 * np.log1p(delinq)
        + 0.35 * util * np.minimum(delinq, 4)
        + 1.1 * np.sqrt(f["debt_to_income"])
        + 2.0 * np.minimum(pti, 1.2)
        + 1.4 * ((age < 25) & (pti > 0.15))
        + 0.35 * (age < 23)
        + 0.02 * np.maximum(age - 60, 0)
        - 0.5 * np.clip(np.log(income / 50000), -2.5, 2.5)
        + 1.3 * ((etype == 1) & (years < 2))
        + np.array([0.0, 0.15, 0.35, 0.9, 0.1])[etype]
        - 0.06 * np.minimum(years, 10)
        + 0.35 * years_missing
        + np.array([0.2, -0.15, -0.2, 0.1, 0.3, 0.45, 0.0])[purpose]
        + np.array([0.1, 0.0, 0.3, 0.2])[channel]
        + np.array([0.25, -0.25, -0.1, 0.15, 0.1])[home]
        + 0.008 * (term - 36)
        + 0.6 * f["new_category"]
        + noise
    )
    return logit


# after a concept shift, risk differs by region (logit shift per region in REGIONS order)
_REGION_SHIFT = np.array([1.8, -1.35, 0.75, -1.05, 0.0])


def _concept_shift(f: dict[str, np.ndarray], strength: float) -> np.ndarray:
    """Return the change of the logit after a concept shift of the given strength.

    The world changes under the model: at strength 1 credit utilisation stops mattering (its
    linear effect is cancelled), risk starts to differ strongly by region, and the online
    channel becomes risky. Outcomes are as predictable as before (a model trained after the
    shift reaches the same AUC) and the default rate barely moves, but a model trained before
    it ranks on a signal that is gone and misses the new ones.
    """
    util = np.where(np.isnan(f["credit_utilization"]), 0.55, f["credit_utilization"])
    online = (f["channel"] == CHANNELS.index("online")).astype(float)
    return strength * (_REGION_SHIFT[f["region"]] + 1.0 * online - 1.5 * util)


@dataclass(frozen=True)
class _Streams:
    """One child stream per family of draws.

    A drift knob that changes the parameters of one family (e.g. Poisson means) never shifts
    the random numbers of another, so the months before a knob's start period stay identical
    to a run without it.
    """

    times: np.random.Generator
    customers: np.random.Generator
    main: np.random.Generator
    accounts: np.random.Generator
    delinquencies: np.random.Generator
    labels: np.random.Generator
    delays: np.random.Generator

    @classmethod
    def spawn(cls, seed: int) -> _Streams:
        return cls(*np.random.default_rng(seed).spawn(7))


@dataclass(frozen=True)
class _Timeline:
    """When each application arrived (chronological rows), where from, and whose it is."""

    period: np.ndarray
    source: np.ndarray
    channel: np.ndarray
    seconds: np.ndarray
    root: np.ndarray  # the row of the customer's first application
    customer: np.ndarray


def _timeline(cfg: SimulateConfig, streams: _Streams) -> _Timeline:
    """Return the applications' arrival times and customers, sorted chronologically."""
    period, source, channel, seconds = _times(cfg, streams.times)
    order = np.argsort(seconds, kind="stable")
    period, source, channel, seconds = period[order], source[order], channel[order], seconds[order]
    root, customer = _customers(seconds, float(cfg.repeat_customer_rate), streams.customers)
    return _Timeline(period, source, channel, seconds, root, customer)


def _ages(t: _Timeline, g: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Return each applicant's age in whole years (the customer ages between applications)."""
    age_shape = np.array([0.55, 0.45, 0.45, 0.5])[t.channel]
    age_span = np.array([16.0, 28.0, 24.0, 20.0])[t.channel]
    first_age = np.minimum(18 + age_span * np.exp(age_shape * g[1]), 85.99)
    minors = 16 + (u[1] < 0.5) + 0.999 * u[2]  # ~1% genuine applicants aged 16-17
    first_age = np.where(u[0] < 0.01, minors, first_age)[t.root]
    elapsed_years = (t.seconds - t.seconds[t.root]) / (365.25 * 86400)
    return np.floor(first_age + elapsed_years).astype(np.int64)


def _employment(
    agef: np.ndarray, u: np.ndarray, root: np.ndarray, share: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the employment type and years employed (share: a Beta draw per row)."""
    n = len(agef)
    etype_logits = np.stack(
        [
            np.full(n, 1.8),
            0.1 + 0.02 * (agef - 30) - 2.0 * (agef < 18),
            0.4 - 0.02 * (agef - 30),
            np.full(n, -0.7),
            -9.0 + 0.7 * np.maximum(agef - 50, 0),
        ],
        axis=1,
    )
    etype = _draw_logits(u[3], etype_logits)[root]
    employed = etype <= 2
    span = np.maximum(agef - np.where(agef < 18, 16, 18), 0.2)
    years = span * share[root] * np.where(etype == 2, 0.5, 1.0)
    return etype, np.where(employed, np.round(np.minimum(years, 70), 1), 0.0)


def _income(knob: DriftKnob, t: _Timeline, f: dict[str, np.ndarray], g: np.ndarray) -> np.ndarray:
    """Return the annual income, with the income_shift drift applied."""
    agef, years, etype = f["age"], f["employment_years"], f["employment_type"]
    log_income = (
        10.1
        + 0.045 * (agef - 18)
        - 0.00055 * (agef - 18) ** 2
        + 0.012 * np.minimum(years, 30)
        + np.array([0.0, 0.05, -0.1, -1.1, -0.35])[etype]
        + np.array([-0.05, -0.1, 0.0, 0.1, 0.15])[f["region"]]
        + np.array([0.45, 0.7, 0.45, 0.35, 0.4])[etype] * g[2][t.root]
        + 0.05 * g[3]
    )
    income_shift = _active(knob, t.period)
    income = np.clip(np.exp(log_income), 2000, 2_000_000)
    income = np.round(np.where(income_shift, income * knob.factor, income), 2)
    return np.clip(income, 2000, 4_000_000)


def _home_and_purpose(
    f: dict[str, np.ndarray], u: np.ndarray, root: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the home ownership and the loan purpose indices."""
    agef, log_inc, n = f["age"], np.log(f["annual_income"]), len(root)
    home_logits = np.stack(
        [
            1.0 - 0.04 * (agef - 30),
            -2.2 + 0.07 * (agef - 30) + 0.3 * (log_inc - 10.8),
            -0.3 + 0.9 * (log_inc - 10.8) - 0.002 * (agef - 42) ** 2 - 3.0 * (agef < 21),
            -2.5 + 1.5 * (agef < 23),
        ],
        axis=1,
    )
    home = _draw_logits(u[5], home_logits)[root]
    owner = (home == 1) | (home == 2)
    purpose_logits = np.stack(
        [
            np.full(n, 1.2),
            0.2 + 0.03 * (agef - 40) + 0.8 * owner,
            np.full(n, 0.6),
            0.3 - 0.12 * np.maximum(agef - 22, 0),
            -0.8 + 0.02 * (agef - 40),
            -1.4 + 2.2 * (f["employment_type"] == 1),
            np.full(n, -0.3),
        ],
        axis=1,
    )
    return home, _draw_logits(u[6], purpose_logits)


def _loan(income: np.ndarray, purpose: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the loan amount and term (longer terms for larger loans)."""
    ratio = np.array([0.22, 0.25, 0.3, 0.18, 0.08, 0.35, 0.12])[purpose]
    amount = income * ratio * np.exp(0.55 * g[4])
    amount = np.clip(np.round(amount / 100) * 100, 500, 100_000)
    score = np.log(amount / 500) / np.log(200)
    term_index = np.clip(np.round(4 * score - 0.6 + 0.8 * g[5]), 0, 4).astype(np.int64)
    return amount, np.asarray(LOAN_TERMS)[term_index]


def _credit(
    f: dict[str, np.ndarray], u: np.ndarray, g2: np.ndarray, streams: _Streams
) -> dict[str, np.ndarray]:
    """Return the credit bureau columns; draws a Gamma from the main stream after g2."""
    agef, latent, n = f["age"], f["latent"], len(f["age"])
    log_inc = np.log(f["annual_income"])
    util_raw = 1.15 * _sigmoid(
        -0.5 + 0.8 * latent + 0.015 * (40 - agef) - 0.4 * (log_inc - 10.9) + 0.9 * g2[0]
    )
    util = np.round(np.clip(np.where(u[7] < 0.04, 0.0, util_raw), 0.0, 1.2), 3)
    accounts_lam = np.clip(2.0 + 0.12 * (agef - 18) + 1.2 * (log_inc - 10.5) + 0.5 * g2[1], 0.3, 40)
    accounts = np.minimum(streams.accounts.poisson(accounts_lam), 60)
    gamma = streams.main.gamma(2.0, 0.5, n)
    delinq_lam = np.exp(-1.7 + 0.75 * latent + 0.9 * (util > 0.9)) * gamma
    delinquencies = np.minimum(streams.delinquencies.poisson(delinq_lam), 50)
    dti = np.exp(
        np.log(0.28)
        + 0.25 * latent
        + 0.35 * (util - 0.5)
        - 0.1 * (log_inc - 10.9)
        + 0.6 * (f["employment_type"] == 3)
        + 0.5 * g2[2]
    )
    return {
        "credit_utilization": util,
        "num_open_accounts": accounts,
        "past_delinquencies": delinquencies,
        "debt_to_income": np.round(np.clip(dti, 0.0, 2.2), 3),
    }


def _applicants(
    cfg: SimulateConfig, t: _Timeline, streams: _Streams
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return the applicants' features (keyed as `_ground_truth_logit` reads them) and noise.

    Every draw of the main stream happens here or in a step called from here, in the order
    the stream yields them: runs stay bit-identical only while that order never changes.
    """
    rng, n, root = streams.main, cfg.rows, t.root
    g = rng.standard_normal((6, n))
    u = rng.random((12, n))
    age = _ages(t, g, u)
    f: dict[str, np.ndarray] = {"age_years": age, "age": age.astype(float), "channel": t.channel}
    f["latent"] = g[0][root]
    f["employment_type"], f["employment_years"] = _employment(
        f["age"], u, root, rng.beta(1.3, 2.2, n)
    )
    f["region"] = _draw(u[4], (0.2, 0.22, 0.18, 0.2, 0.2))[root]
    f["annual_income"] = _income(cfg.drift.income_shift, t, f, g)
    f["home"], f["purpose"] = _home_and_purpose(f, u, root)
    f["loan_amount"], f["loan_term_months"] = _loan(f["annual_income"], f["purpose"], g)
    g2 = rng.standard_normal((4, n))
    f.update(_credit(f, u, g2, streams))
    # Genuine missing values in nullable columns.
    f["employment_years"] = np.where(u[8] < 0.02, np.nan, f["employment_years"])
    f["credit_utilization"] = np.where(u[9] < 0.02, np.nan, f["credit_utilization"])
    f["home"] = np.where(u[10] < 0.02, len(HOME_OWNERSHIP), f["home"])  # index 4 = missing
    new_rows = _active(cfg.drift.new_category, t.period) & (u[11] < 0.15)
    f["new_category"] = new_rows.astype(float)
    return f, 1.5 * g2[3]


def _defaults(
    cfg: SimulateConfig,
    period: np.ndarray,
    f: dict[str, np.ndarray],
    noise: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the hidden outcome: 1 where the applicant defaults, calibrated on month one."""
    logit = _ground_truth_logit(f, noise)
    target = float(cfg.base_default_rate)
    if not 0.0 < target < 1.0:
        raise ValueError("simulate.base_default_rate must lie strictly between 0 and 1")
    # Calibrated on the first month, so a drift knob starting later leaves it unchanged.
    logit = logit + _bisect_intercept(logit[period == period[0]], target)
    concept = _active(cfg.drift.concept_shift, period)
    if concept.any():
        shift = _concept_shift(f, float(cfg.drift.concept_shift.strength))
        logit = np.where(concept, logit + shift, logit)
    label_u = rng.random(len(logit))
    return (label_u < _sigmoid(logit)).astype(np.int64)


def _observed_at(cfg: SimulateConfig, seconds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return when each outcome becomes known: a uniform delay of label_delay_days."""
    if len(cfg.label_delay_days) != 2:
        raise ValueError("simulate.label_delay_days must be [min_days, max_days]")
    low, high = cfg.label_delay_days
    n = len(seconds)
    delay_minutes = np.floor(rng.uniform(float(low), float(high), n) * 1440).astype(np.int64)
    return (seconds + delay_minutes * 60).astype("datetime64[s]").astype(TIME_UNIT)


_TEXT_COLUMNS: tuple[str, ...] = (
    "application_id",
    "customer_id",
    "employment_type",
    "home_ownership",
    "purpose",
    "region",
    "channel",
    "source",
)


def _frame(
    t: _Timeline, f: dict[str, np.ndarray], defaulted: np.ndarray, observed_at: np.ndarray
) -> pd.DataFrame:
    """Return the applications as the canonical columns plus the meta columns."""
    n = len(t.seconds)
    width = max(7, len(str(n)))
    frame = pd.DataFrame(
        {
            "application_id": _ids("A", np.arange(1, n + 1), width),
            "customer_id": _ids("C", t.customer + 1, width),
            "applied_at": t.seconds.astype("datetime64[s]").astype(TIME_UNIT),
            "age": f["age_years"],
            "annual_income": f["annual_income"],
            "employment_years": f["employment_years"],
            "employment_type": _labels(f["employment_type"], EMPLOYMENT_TYPES),
            "home_ownership": _labels(f["home"], (*HOME_OWNERSHIP, None)),
            "loan_amount": f["loan_amount"].astype(float),
            "loan_term_months": f["loan_term_months"].astype(np.int64),
            "purpose": _labels(f["purpose"], PURPOSES),
            "region": _labels(f["region"], REGIONS),
            "channel": _labels(t.channel, CHANNELS),
            "credit_utilization": f["credit_utilization"],
            "num_open_accounts": f["num_open_accounts"].astype(np.int64),
            "past_delinquencies": f["past_delinquencies"].astype(np.int64),
            "debt_to_income": f["debt_to_income"],
            "period": t.period.astype(np.int64),
            "source": _labels(t.source, SOURCES),
            "defaulted": defaulted,
            "observed_at": observed_at,
        }
    )
    for column in _TEXT_COLUMNS:
        frame[column] = frame[column].astype("str")
    return frame


def _with_new_category(frame: pd.DataFrame, knob: DriftKnob, rows: np.ndarray) -> pd.DataFrame:
    """Return the frame with the new_category drift's value written into its rows."""
    if rows.any():
        if knob.column not in frame.columns or knob.column in META_COLUMNS:
            raise ValueError(f"drift.new_category.column {knob.column!r} is not a column")
        if frame[knob.column].dtype != "str":
            frame[knob.column] = frame[knob.column].astype(object)
        frame.loc[rows, knob.column] = knob.value
    return frame


def simulate_applications(cfg: SimulateConfig) -> pd.DataFrame:
    """Return cfg.rows clean, realistic, labelled applications over cfg.periods months."""
    if cfg.rows <= 0 or cfg.periods <= 0:
        raise ValueError("simulate.rows and simulate.periods must be positive")
    streams = _Streams.spawn(cfg.seed)
    t = _timeline(cfg, streams)
    f, noise = _applicants(cfg, t, streams)
    defaulted = _defaults(cfg, t.period, f, noise, streams.labels)
    frame = _frame(t, f, defaulted, _observed_at(cfg, t.seconds, streams.delays))
    return _with_new_category(frame, cfg.drift.new_category, f["new_category"] == 1.0)


# ----------------------------------------------------------------------------- defects


def _future(value: object) -> pd.Timestamp:
    """Return the same moment moved to the year 2099 (a timestamp from the future)."""
    if not isinstance(value, dt.datetime) or pd.isna(value):
        return pd.Timestamp("2099-06-15 12:00")
    ts = pd.Timestamp(value)
    return ts.replace(year=2099, day=min(ts.day, 28))


def _fits(series: pd.Series, value: object) -> bool:
    """Return whether a column's dtype can hold the value without changing type."""
    kind = series.dtype.kind
    if series.dtype == object:
        return True
    if value is None:
        return kind in "fM" or series.dtype == "str"
    if isinstance(value, str):
        return series.dtype == "str"
    if kind == "M":
        return isinstance(value, dt.datetime)
    if kind == "i":
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if kind == "f":
        return isinstance(value, (int, float, np.integer, np.floating))
    return False


def _set_values(series: pd.Series, rows: list[int], values: list[object]) -> pd.Series:
    """Return a copy of a column with values set at positions, as object dtype if needed."""
    if all(_fits(series, v) for v in values):
        out = series.copy()
        if series.dtype.kind == "f":
            values = [np.nan if v is None else v for v in values]
        elif series.dtype.kind == "M":
            values = [pd.NaT if v is None else v for v in values]
    else:
        out = series.astype(object)
    out.iloc[rows] = pd.Series(values, dtype=object).to_numpy() if out.dtype == object else values
    return out


def inject_defects(df: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    """Return a copy where about `rate` of the rows carry one defect each, named in `defect`."""
    out = df.copy()
    n = len(out)
    defect = np.full(n, None, dtype=object)
    k = min(round(float(rate) * n), n)
    if k > 0:
        rows = np.sort(rng.choice(n, size=k, replace=False))
        kinds = np.resize(np.asarray(DEFECT_KINDS, dtype=object), k)[rng.permutation(k)]
        if n < 2:
            kinds[kinds == "duplicate_id"] = "missing_region"
        picks = rng.random(k)
        incomes = pd.to_numeric(out["annual_income"].iloc[rows], errors="coerce").to_numpy()
        stamps = out["applied_at"].iloc[rows].to_numpy(dtype=object)
        ids = out["application_id"].to_numpy(dtype=object)
        clean = np.setdiff1d(np.arange(n), rows)
        edits: dict[str, tuple[list[int], list[object]]] = {}
        for i, (row, kind, p) in enumerate(zip(rows, kinds, picks, strict=True)):
            column, value = _defect_value(kind, float(p), incomes[i], stamps[i])
            if kind == "duplicate_id":
                earlier = int(np.searchsorted(clean, row))  # clean rows before this one
                pool = clean[:earlier] if earlier else clean
                if len(pool):
                    value = ids[pool[int(p * len(pool))]]
                else:  # every row is defective: copy any other row's id
                    value = ids[(row + 1 + int(p * (n - 1))) % n]
            edits.setdefault(column, ([], []))
            edits[column][0].append(int(row))
            edits[column][1].append(value)
        for column, (positions, values) in edits.items():
            out[column] = _set_values(out[column], positions, values)
        defect[rows] = kinds
    out["defect"] = pd.Series(defect, index=out.index, dtype="str")
    return out


def _defect_value(kind: str, p: float, income: float, stamp: object) -> tuple[str, object]:
    """Return the column a defect of this kind hits and the bad value it writes there."""
    if kind in ("negative_age", "absurd_age"):
        return "age", -3 if kind == "negative_age" else 250
    if kind == "negative_income":
        return "annual_income", -abs(income) if np.isfinite(income) and income else -52000.0
    if kind == "absurd_income":
        return "annual_income", 1e12
    if kind.startswith("missing_"):
        return kind.removeprefix("missing_"), None
    if kind == "string_in_numeric":
        column = STRING_DEFECT_COLUMNS[int(p * len(STRING_DEFECT_COLUMNS))]
        return column, STRING_DEFECT_VALUES[int(p * 997) % len(STRING_DEFECT_VALUES)]
    if kind == "unknown_category":
        return UNKNOWN_CATEGORIES[int(p * len(UNKNOWN_CATEGORIES))]
    if kind == "duplicate_id":
        return "application_id", None  # the caller copies another row's id
    if kind == "unparseable_timestamp":
        return "applied_at", UNPARSEABLE_TIMESTAMPS[int(p * len(UNPARSEABLE_TIMESTAMPS))]
    if kind == "future_timestamp":
        return "applied_at", _future(stamp)
    raise ValueError(f"unknown defect kind {kind!r}")


# ----------------------------------------------------------------------------- batches


def _is_number(value: object) -> bool:
    """Return whether a value is a real number (not a bool, not missing)."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and not pd.isna(value)
    )


def _mask(values: np.ndarray, kind: type | tuple[type, ...]) -> np.ndarray:
    """Return which elements of an object array are instances of kind."""
    return np.fromiter((isinstance(v, kind) for v in values), dtype=bool, count=len(values))


def _stamp_text(stamps: np.ndarray, fmt: str) -> np.ndarray:
    """Return datetime64[s] values as text in fmt (vectorised; NaT becomes None)."""
    iso = np.datetime_as_string(stamps, unit="s")
    if fmt == ISO_FORMAT:
        text = iso.astype(object)
    elif fmt == BRANCH_DATE_FORMAT:
        parts = [np.strings.slice(iso, a, b) for a, b in ((8, 10), (5, 7), (0, 4), (11, 16))]
        day_month = np.strings.add(np.strings.add(parts[0], "/"), np.strings.add(parts[1], "/"))
        text = np.strings.add(np.strings.add(day_month, parts[2]), np.strings.add(" ", parts[3]))
        text = text.astype(object)
    else:
        text = pd.Series(stamps).dt.strftime(fmt).to_numpy(dtype=object)
    text[np.isnat(stamps)] = None
    return text


def _format_times(series: pd.Series, fmt: str) -> pd.Series:
    """Return timestamps written with fmt; strings (defects) pass through, missing stays None."""
    if series.dtype.kind == "M":
        text = _stamp_text(series.to_numpy(dtype="datetime64[s]"), fmt)
        return pd.Series(text, index=series.index, dtype="str")
    stamps = pd.to_datetime(series, format="ISO8601", errors="coerce")
    text = _stamp_text(stamps.to_numpy(dtype="datetime64[s]"), fmt)
    keep = (stamps.isna() & series.notna()).to_numpy()
    text[keep] = series.to_numpy(dtype=object)[keep]
    return pd.Series(text, index=series.index, dtype="str")


def _number_text(x: np.ndarray, thousands: bool) -> np.ndarray:
    """Return finite numbers as text, whole ones without ".0", optionally with separators."""
    a = np.abs(x)
    whole = (a == np.floor(a)) & (a < 1e15)
    head, dot, tail = np.strings.partition(a.astype(str), ".")
    head = np.where(whole, np.where(whole, a, 0).astype(np.int64).astype(str), head)
    tail = np.where(whole | (dot == ""), "", np.strings.add(".", tail))
    if thousands:
        ok = np.strings.isdigit(head) & (np.strings.str_len(head) <= 18)
        padded = np.strings.rjust(np.where(ok, head, ""), 18)
        grouped = np.strings.slice(padded, 0, 3)
        for k in range(1, 6):
            digit_before = np.strings.slice(padded, 3 * k - 1, 3 * k) != " "
            sep = np.where(digit_before, ",", "")
            grouped = np.strings.add(
                np.strings.add(grouped, sep), np.strings.slice(padded, 3 * k, 3 * k + 3)
            )
        head = np.where(ok, np.strings.lstrip(grouped), head)
    sign = np.where(x < 0, "-", "")
    return np.strings.add(np.strings.add(sign, head), tail).astype(object)


def _numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (float values, non-number mask) of a possibly defect-carrying numeric column."""
    if series.dtype.kind in "iuf":
        return series.to_numpy(dtype=float), np.zeros(len(series), dtype=bool)
    numbers = pd.to_numeric(series, errors="coerce")
    return numbers.to_numpy(dtype=float), (numbers.isna() & series.notna()).to_numpy()


def _as_text(series: pd.Series, thousands: bool) -> pd.Series:
    """Return a numeric (or defect-carrying) column as text; strings kept, missing stays None."""
    x, is_text = _numbers(series)
    valid = np.isfinite(x)
    text = np.full(len(x), None, dtype=object)
    text[valid] = _number_text(x[valid], thousands)
    text[is_text] = series.to_numpy(dtype=object)[is_text]
    return pd.Series(text, index=series.index, dtype="str")


def _with_thousands(series: pd.Series) -> pd.Series:
    """Return a numeric column as text with separators when any of its numbers reaches 1000."""
    x, _ = _numbers(series)
    if not (np.abs(x[np.isfinite(x)]) >= 1000).any():
        return series
    return _as_text(series, thousands=True)


def _arrow_column(series: pd.Series) -> pd.Series:
    """Return a column with one pyarrow-writable type: typed if possible, else strings."""
    if series.dtype != object:
        return series
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "integer" and series.notna().all():
        return series.astype(np.int64)
    if kind in ("integer", "floating", "mixed-integer-float", "empty"):
        return pd.to_numeric(series, errors="coerce").astype(float)
    if kind in ("datetime", "datetime64"):
        return pd.to_datetime(series).astype(TIME_UNIT)
    if kind == "string":
        return series.astype("str")
    if _mask(series.to_numpy(dtype=object), dt.datetime).any():
        return _format_times(series, ISO_FORMAT)
    return _as_text(series, thousands=False)


def _in_thousands(series: pd.Series, rows: np.ndarray) -> pd.Series:
    """Return an income column where the given rows are divided by 1000 (numbers only)."""
    x, _ = _numbers(series)
    hit = rows & np.isfinite(x)
    if series.dtype.kind == "f":
        return pd.Series(np.where(hit, np.round(x / 1000, 4), x), index=series.index)
    values = series.to_numpy(dtype=object).copy()
    values[hit] = np.round(x[hit] / 1000, 4)
    return pd.Series(values, index=series.index, dtype=object)


def _format_api(batch: pd.DataFrame) -> pd.DataFrame:
    """Return an api batch: canonical names, ISO timestamp strings (JSON lines)."""
    out = batch.copy()
    out["applied_at"] = _format_times(out["applied_at"], ISO_FORMAT)
    return out


def _format_branch(batch: pd.DataFrame, spelling: dict[str, str]) -> pd.DataFrame:
    """Return a branch batch: branch spellings, day-first dates, thousands separators (CSV)."""
    out = batch.copy()
    out["applied_at"] = _format_times(out["applied_at"], BRANCH_DATE_FORMAT)
    for column in out.columns:
        if out[column].dtype.kind in "iuf" or out[column].dtype == object:
            out[column] = _with_thousands(out[column])
    return out.rename(columns=spelling)


def _format_broker(batch: pd.DataFrame) -> pd.DataFrame:
    """Return a broker batch: canonical names, typed columns where the values allow (parquet)."""
    out = batch.copy()
    for column in out.columns:
        out[column] = _arrow_column(out[column])
    return out


def _labels_frames(df: pd.DataFrame, horizon_end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Return the delayed label batches keyed by the month in which they were observed."""
    defect = df["defect"] if "defect" in df.columns else pd.Series(None, index=df.index)
    ids = df["application_id"]
    observed = pd.to_datetime(df["observed_at"]).astype(TIME_UNIT)
    keep = defect.isna().to_numpy() & ids.notna().to_numpy()
    keep &= (observed < horizon_end).to_numpy() & observed.notna().to_numpy()
    labels = pd.DataFrame(
        {
            "application_id": ids[keep].astype("str").to_numpy(),
            "defaulted": df["defaulted"][keep].astype(np.int64).to_numpy(),
            "observed_at": observed[keep].to_numpy(),
        }
    ).sort_values("observed_at", kind="stable")
    stamps = labels["observed_at"].to_numpy().astype("datetime64[s]")
    months, first = np.unique(stamps.astype("datetime64[M]"), return_index=True)
    labels["observed_at"] = pd.array(np.datetime_as_string(stamps, unit="s"), dtype="str")
    bounds = [*first.tolist(), len(labels)]
    return {
        f"labels/{month}.csv": labels.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True)
        for i, month in enumerate(np.datetime_as_string(months))
    }


def format_batches(
    df: pd.DataFrame, cfg: SimulateConfig, branch_rename: dict[str, str] | None = None
) -> dict[str, pd.DataFrame]:
    """Return the raw batch files (application batches per month and source, label batches)."""
    rename = DEFAULT_BRANCH_RENAME if branch_rename is None else branch_rename
    spelling = {canonical: branch for branch, canonical in rename.items()}
    starts = _month_starts(cfg.start, cfg.periods)
    period = df["period"].to_numpy().astype(np.int64)
    source_code = pd.Categorical(df["source"], categories=list(SOURCES)).codes.astype(np.int64)
    source = np.asarray((*SOURCES, ""), dtype=object)[source_code]

    apps = df.drop(columns=[c for c in META_COLUMNS if c in df.columns])
    knob = cfg.drift.income_in_thousands
    incident = _active(knob, period) & (source == knob.source)
    if incident.any():
        apps = apps.copy()
        apps["annual_income"] = _in_thousands(apps["annual_income"], incident)

    valid = (period >= 0) & (period < cfg.periods) & (source_code >= 0)
    key = np.where(valid, period * len(SOURCES) + source_code, -1)
    order = np.argsort(key, kind="stable")
    keys, first = np.unique(key[order], return_index=True)
    bounds = [*first.tolist(), len(order)]
    out: dict[str, pd.DataFrame] = {}
    for i, group in enumerate(keys.tolist()):
        if group < 0:
            continue  # rows outside the horizon or from an unknown source are not written
        p, code = divmod(group, len(SOURCES))
        name = SOURCES[code]
        batch = apps.iloc[order[bounds[i] : bounds[i + 1]]].reset_index(drop=True)
        path = f"applications/{starts[p].strftime('%Y-%m')}_{name}.{SOURCE_EXTENSIONS[name]}"
        if name == "api":
            out[path] = _format_api(batch)
        elif name == "branch":
            out[path] = _format_branch(batch, spelling)
        else:
            out[path] = _format_broker(batch)
    out.update(_labels_frames(df, starts[-1]))
    return out


def simulate(
    cfg: SimulateConfig, branch_rename: dict[str, str] | None = None
) -> dict[str, pd.DataFrame]:
    """Return the raw batch files of one seeded simulation (applications, defects, labels)."""
    clean = simulate_applications(cfg)
    defective = inject_defects(clean, cfg.defect_rate, np.random.default_rng([cfg.seed, 1]))
    return format_batches(defective, cfg, branch_rename)


def batch_period(relative: str, cfg: SimulateConfig) -> int:
    """Return the period index of a batch file name (`applications/2024-03_api.jsonl` -> 2)."""
    month = pd.Period(relative.split("/")[-1][:7], freq="M")
    return int((month - pd.Period(cfg.start, freq="M")).n)


def release(
    batches: dict[str, pd.DataFrame], cfg: SimulateConfig
) -> tuple[dict[str, pd.DataFrame], dict[int, dict[str, pd.DataFrame]]]:
    """Split batches into the released history and the future, by period.

    Application batches of periods >= `cfg.release_until`, and label batches observed in those
    months, are the future (keyed by period): `loopline loop` serves them one period at a time.
    """
    if cfg.release_until is None:
        return dict(batches), {}
    past: dict[str, pd.DataFrame] = {}
    future: dict[int, dict[str, pd.DataFrame]] = {}
    for relative, frame in batches.items():
        period = batch_period(relative, cfg)
        if period < cfg.release_until:
            past[relative] = frame
        else:
            future.setdefault(period, {})[relative] = frame
    return past, future


# ----------------------------------------------------------------------------- census


_EDUCATIONS = ("HS-grad", "Some-college", "Assoc", "Bachelors", "Masters", "Doctorate")
_WORKCLASSES = ("Private", "Self-emp", "Government", "Without-pay")
_MARITALS = ("Married", "Never-married", "Divorced", "Widowed")
_OCCUPATIONS = ("Tech", "Sales", "Craft", "Admin", "Service", "Professional", "Manual")
_CENSUS_REGIONS = ("US", "Europe", "Asia", "LatAm", "Other")


def _census_people(g: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Return age, sex, education, work class and marital status (category indices)."""
    age = np.clip(np.round(17 + 21 * np.exp(0.45 * g[0])), 17, 90).astype(np.int64)
    agef = age.astype(float)
    sex = np.where(u[0] < 0.67, "Male", "Female")
    edu = _draw(u[1], (0.33, 0.24, 0.08, 0.22, 0.09, 0.04))
    edu = np.where((age < 21) & (edu >= 3), 1, edu)
    edu_num = np.array([9, 10, 11, 13, 14, 16])[edu] + ((edu == 2) & (u[2] < 0.5))
    work = _draw(u[3], (0.74, 0.12, 0.135, 0.005))
    marital_logits = np.stack(
        [
            -1.0 + 0.07 * np.minimum(agef - 17, 25),
            1.2 - 0.1 * (agef - 17),
            -1.8 + 0.03 * np.minimum(agef - 17, 40),
            -5.5 + 0.07 * (agef - 17),
        ],
        axis=1,
    )
    marital = _draw_logits(u[4], marital_logits)
    return {
        "age": age,
        "sex": sex,
        "male": sex == "Male",
        "edu": edu,
        "edu_num": edu_num,
        "work": work,
        "marital": marital,
    }


def _census_jobs(c: dict[str, np.ndarray], g: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Return occupation, hours, capital gain and loss, and native region."""
    age, edu, male, n = c["age"], c["edu"], c["male"], len(c["age"])
    occ_logits = np.stack(
        [
            -0.5 + 0.4 * (edu >= 3),
            np.zeros(n),
            -0.2 + 0.8 * male - 0.8 * (edu >= 3),
            0.1 - 0.6 * male,
            0.2 - 1.0 * (edu >= 3),
            -1.2 + 2.2 * (edu >= 3),
            -0.3 + 0.9 * male - 1.2 * (edu >= 3),
        ],
        axis=1,
    )
    occ = _draw_logits(u[5], occ_logits)
    hours = np.round(
        40 + 4 * (c["work"] == 1) + 3 * male - 8 * (age < 22) - 10 * (age > 64) + 11 * g[1]
    )
    hours = np.clip(hours, 1, 99).astype(np.int64)
    gain = np.where(u[6] < 0.085, np.round(np.exp(8.3 + 1.0 * g[2]), 0), 0.0)
    loss = np.where((u[7] < 0.045) & (gain == 0), np.round(np.exp(7.4 + 0.3 * g[3]), 0), 0.0)
    region = _draw(u[8], (0.89, 0.03, 0.03, 0.03, 0.02))
    return {"occ": occ, "hours": hours, "gain": gain, "loss": loss, "region": region}


def _census_logit(c: dict[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
    """Return the hidden log-odds of an income above 50K (without intercept)."""
    agef = c["age"].astype(float)
    return (
        0.09 * np.minimum(agef - 17, 35)
        - 0.0012 * np.maximum(agef - 55, 0) ** 2
        + 0.38 * (c["edu_num"] - 9)
        + np.array([2.0, -0.5, -0.2, -0.4])[c["marital"]]
        + 0.3 * c["male"]
        + 0.035 * (c["hours"] - 40)
        + np.array([0.0, 0.3, 0.1, -2.0])[c["work"]]
        + np.array([0.4, 0.2, -0.3, 0.0, -0.8, 0.6, -0.6])[c["occ"]]
        + 1.5 * (c["gain"] > 5000)
        + 0.6 * (c["loss"] > 1500)
        + np.array([0.0, 0.1, 0.1, -0.4, -0.2])[c["region"]]
        + noise
    )


def _with_missing(values: np.ndarray, uniforms: np.ndarray) -> pd.Series:
    """Return a string column where about 3% of the values are the "?" sentinel."""
    return pd.Series(np.where(uniforms < 0.03, "?", values), dtype="str")


def _census_frame(c: dict[str, np.ndarray], income: np.ndarray, u: np.ndarray) -> pd.DataFrame:
    """Return the census table, with "?" for some work classes, occupations and regions."""
    return pd.DataFrame(
        {
            "age": c["age"],
            "workclass": _with_missing(_labels(c["work"], _WORKCLASSES), u[9]),
            "education": pd.Series(_labels(c["edu"], _EDUCATIONS), dtype="str"),
            "education_num": c["edu_num"].astype(np.int64),
            "marital_status": pd.Series(_labels(c["marital"], _MARITALS), dtype="str"),
            "occupation": _with_missing(_labels(c["occ"], _OCCUPATIONS), u[10]),
            "hours_per_week": c["hours"],
            "capital_gain": c["gain"].astype(float),
            "capital_loss": c["loss"].astype(float),
            "sex": pd.Series(c["sex"], dtype="str"),
            "native_region": _with_missing(_labels(c["region"], _CENSUS_REGIONS), u[11]),
            "income": pd.Series(income, dtype="str"),
        }
    )


def simulate_census(rows: int, seed: int) -> pd.DataFrame:
    """Return an adult-census-like table (no time or id column) with a string income label."""
    rng = np.random.default_rng(seed)
    n = int(rows)
    g = rng.standard_normal((4, n))
    u = rng.random((12, n))
    census = _census_people(g, u)
    census.update(_census_jobs(census, g, u))
    logit = _census_logit(census, 0.6 * rng.standard_normal(n))
    logit = logit + _bisect_intercept(logit, 0.235)
    income = np.where(rng.random(n) < _sigmoid(logit), ">50K", "<=50K")
    return _census_frame(census, income, u)


__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_BRANCH_RENAME",
    "DEFECT_KINDS",
    "META_COLUMNS",
    "format_batches",
    "inject_defects",
    "simulate",
    "simulate_applications",
    "simulate_census",
]
