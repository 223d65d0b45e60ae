"""Two public-dataset shapes Loopline has never seen, generated with a learnable signal.

- `credit_file`: like the German credit data: no header, gzip-compressed, comma-separated,
  coded categories (`A11`, `A34`), an integer label 1/2 where 2 (bad) is the positive class.
- `income_file`: like the adult census data: a header, `", "` separators, `?` for missing
  values, a string label (`>50K` / `<=50K`).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

CREDIT_NAMES = [
    "status",
    "duration",
    "history",
    "purpose",
    "amount",
    "savings",
    "employment",
    "rate",
    "age",
    "housing",
    "credits",
    "risk",
]


def credit_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """Return credit applications with a risk label of 1 (good) or 2 (bad)."""
    rng = np.random.default_rng(seed)
    status = rng.choice(["A11", "A12", "A13", "A14"], rows, p=[0.27, 0.27, 0.06, 0.4])
    history = rng.choice(
        ["A30", "A31", "A32", "A33", "A34"], rows, p=[0.04, 0.05, 0.53, 0.09, 0.29]
    )
    duration = rng.integers(4, 72, rows)
    amount = np.round(rng.lognormal(7.8, 0.7, rows)).astype(int)
    age = rng.integers(19, 75, rows)
    logit = (
        -1.2
        + np.select([status == "A11", status == "A12", status == "A14"], [1.1, 0.5, -1.0], 0.0)
        + np.where(history == "A34", -0.7, np.where(history == "A30", 0.9, 0.0))
        + 0.03 * (duration - 20)
        + 0.00006 * (amount - 3000)
        - 0.015 * (age - 35)
    )
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "status": status,
            "duration": duration,
            "history": history,
            "purpose": rng.choice(["A40", "A41", "A42", "A43", "A46", "A49"], rows),
            "amount": amount,
            "savings": rng.choice(["A61", "A62", "A63", "A64", "A65"], rows),
            "employment": rng.choice(["A71", "A72", "A73", "A74", "A75"], rows),
            "rate": rng.integers(1, 5, rows),
            "age": age,
            "housing": rng.choice(["A151", "A152", "A153"], rows),
            "credits": rng.integers(1, 5, rows),
            "risk": np.where(bad, 2, 1),
        }
    )


def credit_file(folder: Path, rows: int = 4000) -> Path:
    """Write the credit data headerless, gzip-compressed and comma-separated; return its path."""
    path = folder / "german.data.gz"
    text = credit_frame(rows).to_csv(index=False, header=False)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def income_frame(rows: int, seed: int = 11) -> pd.DataFrame:
    """Return census-like records with an income label (">50K" / "<=50K") and `?` gaps."""
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 90, rows)
    education_num = rng.integers(1, 17, rows)
    hours = rng.integers(5, 80, rows)
    sex = rng.choice(["Male", "Female"], rows, p=[0.67, 0.33])
    workclass = rng.choice(["Private", "Self-emp-not-inc", "Local-gov", "State-gov"], rows)
    gain = np.where(rng.random(rows) < 0.08, rng.integers(1000, 20000, rows), 0)
    logit = (
        -7.0
        + 0.04 * np.minimum(age, 60)
        + 0.33 * education_num
        + 0.03 * hours
        + np.where(sex == "Male", 0.8, 0.0)
        + np.where(gain > 0, 1.5, 0.0)
    )
    rich = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "age": age,
            "workclass": workclass,
            "education-num": education_num,
            "occupation": rng.choice(
                ["Tech-support", "Sales", "Craft-repair", "Exec-managerial"], rows
            ),
            "sex": sex,
            "capital-gain": gain,
            "hours-per-week": hours,
            "native-country": rng.choice(["United-States", "Mexico", "India", "Germany"], rows),
            "income": np.where(rich, ">50K", "<=50K"),
        }
    ).astype({"workclass": object, "occupation": object, "native-country": object})
    for column in ("workclass", "occupation", "native-country"):
        frame.loc[rng.random(rows) < 0.05, column] = "?"
    return frame


def income_file(folder: Path, rows: int = 4000) -> Path:
    """Write the census-like data as `adult.csv` with a header and ", " separators."""
    path = folder / "adult.csv"
    frame = income_frame(rows)
    lines = [", ".join(frame.columns)] + [", ".join(map(str, r)) for r in frame.itertuples(False)]
    path.write_text("\n".join(lines) + "\n")
    return path
