"""The HTML monitoring report: content and escaping (fast), and a real render in headless Chromium.

The browser test fails, never skips, when Chromium is missing (CI and `.ci/run` install it); a
developer without a browser may set LOOPLINE_ALLOW_NO_BROWSER=1 (outside CI) to skip it.
"""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from loopline.report import render_html, write_html

NUMERIC = [
    "age",
    "annual_income",
    "employment_years",
    "loan_amount",
    "loan_term_months",
    "credit_utilization",
    "num_open_accounts",
    "past_delinquencies",
    "debt_to_income",
    "interest_rate",
    "installment",
    "months_since_last_delinquency",
]
CATEGORICAL = ["employment_type", "home_ownership", "purpose", "region", "channel"]
DRIFTED = ["annual_income", "purpose"]
REASONS = [
    "2 of 17 features drifted: annual_income, purpose",
    "auc 0.74 < reference 0.81 - 0.05",
]
WARNING = "180 labelled applications in the window (< 200): realised performance not judged"
N_PLOTS = 5  # PSI, quality, AUC, profit over time; per-feature PSI in the window


def realistic_report() -> dict:
    """A report like monitoring writes: 6 periods, 17 columns, two drifted, verdict retrain."""
    columns = []
    for i, name in enumerate(NUMERIC + CATEGORICAL):
        drifted = name in DRIFTED
        psi = 0.31 if name == "annual_income" else 0.24 if name == "purpose" else 0.01 + 0.006 * i
        columns.append(
            {
                "column": name,
                "kind": "numeric" if name in NUMERIC else "categorical",
                "psi": psi,
                "distance": 0.22 if drifted else 0.01 + 0.002 * i,
                "drifted": drifted,
                "missing_rate_ref": 0.02 if name == "employment_years" else 0.0,
                "missing_rate_win": 0.035 if name == "employment_years" else 0.0,
                "new_levels": {"crypto": 41, "solar": 7} if name == "purpose" else {},
                "reasons": ["distance", "psi"] if drifted else [],
            }
        )
    months = ["2024-10", "2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
    periods = [
        {
            "period": month,
            "rows": 3300 + 50 * i,
            "score_psi": 0.01 + 0.02 * i,
            "max_feature_psi": 0.04 + 0.055 * i,
            "drifted_features": 0 if i < 4 else 2,
            "missing_rate": 0.01 + 0.001 * i,
            "unknown_category_rate": 0.002 * i,
            "out_of_range_rate": 0.002,
            "quarantine_rate": 0.01 + 0.0005 * i,
            "labelled": 1100 - 150 * i if i < 5 else 0,
            "auc": 0.81 - 0.014 * i if i < 5 else None,  # the newest month has no outcomes yet
            "default_rate": 0.09 + 0.004 * i,
            "mean_score": 0.09,
            "expected_profit": 1.0e6 + 2e4 * i,
            "realised_profit": 0.95e6 - 3e4 * i if i < 5 else None,
        }
        for i, month in enumerate(months)
    ]
    return {
        "generated_at": "2026-11-26T10:00:00Z",
        "model": {
            "name": "loopline-loans",
            "version": "3",
            "bundle_id": "ab12cd34ef56",
            "dataset": "loans",
        },
        "window": {
            "from": "2025-03-01T00:00:00",
            "to": "2025-04-01T00:00:00",
            "days": 31,
            "rows": 3550,
            "rows_of_this_bundle": 3500,
            "log": "data/predictions",
            "corrupt_lines": 0,
        },
        "reference": {"rows": 28000},
        "drift": {
            "rows": 3550,
            "dataset_drift": False,
            "share_drifted": 2 / 17,
            "drifted_columns": list(DRIFTED),
            "columns": columns,
            "score": {"psi": 0.11, "distance": 0.05, "drifted": False},
        },
        "quality": {
            "rows": 3550,
            "quarantined": 43,
            "quarantine_rate": 0.012,
            "missing_rate": {
                name: 0.035 if name == "employment_years" else 0.0 for name in NUMERIC
            },
            "out_of_range_rate": {"annual_income": 0.002, "age": 0.0},
            "unknown_category_rate": {
                name: 0.01 if name == "purpose" else 0.0 for name in CATEGORICAL
            },
            "breaches": [],
        },
        "performance": {
            "labelled": 1200,
            "auc": 0.74,
            "reference_auc": 0.81,
            "ece": 0.021,
            "default_rate": 0.11,
            "mean_score": 0.09,
            "expected_profit": 1.2e6,
            "realised_profit": 1.1e6,
            "breaches": [REASONS[1]],
        },
        "periods": periods,
        "thresholds": {
            "window_days": 30,
            "min_rows": 200,
            "psi": 0.2,
            "wasserstein": 0.1,
            "score_psi": 0.2,
            "max_quarantine_rate": 0.05,
            "auc_drop": 0.05,
        },
        "verdict": {"status": "retrain", "reasons": list(REASONS), "warnings": [WARNING]},
    }


# ----------------------------------------------------------------------------- unit tests


def test_page_has_the_verdict_with_reasons_at_the_top_and_at_the_end():
    page = render_html(realistic_report())
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("Retrain recommended") == 2  # the banner and the closing section
    for reason in REASONS:
        assert page.count(html.escape(reason)) >= 2
    assert page.index("Retrain recommended") < page.index("<h2>Drift</h2>")
    assert page.rindex("Retrain recommended") > page.index("<h2>Over time</h2>")
    assert page.index('<h2 id="verdict">Verdict</h2>') > page.index("<h2>Thresholds</h2>")
    assert "loopline-loans v3" in page
    assert "2025-03-01T00:00:00 → 2025-04-01T00:00:00" in page


@pytest.mark.parametrize(
    ("status", "css", "text"),
    [
        ("healthy", "healthy", "Healthy"),
        ("retrain", "retrain", "Retrain recommended"),
        ("insufficient_data", "insufficient", "Insufficient data"),
    ],
)
def test_verdict_colour_follows_the_status(status, css, text):
    page = render_html({"verdict": {"status": status, "reasons": ["because"]}})
    assert page.count(f'<div class="verdict {css}"') == 2
    assert text in page
    assert "because" in page


def test_drift_table_lists_drifted_columns_first_then_by_psi():
    page = render_html(realistic_report())
    table = page[page.index("<h3>Per feature</h3>") :]
    names = re.findall(r"<tr class=\"[a-z]*\"><td>([^<]+)</td>", table)
    assert names[:2] == ["annual_income", "purpose"]
    assert len(names) == 17
    psi = {c["column"]: c["psi"] for c in realistic_report()["drift"]["columns"]}
    rest = [psi[n] for n in names[2:]]
    assert rest == sorted(rest, reverse=True)
    assert "crypto (41)" in table  # new levels
    assert "yes (distance, psi)" in table
    assert "2% → 3.5%" in table  # missing ref -> window, as percentages


def test_numbers_are_readable():
    page = render_html(realistic_report())
    assert "1,200,000" in page  # expected profit
    assert "-100,000" in page  # realised - expected
    assert "1.2%" in page  # quarantine rate
    assert "11.8%" in page  # share of drifted features, 2/17
    assert "0.1176" not in page


def test_one_inline_svg_per_plot_with_unique_ids():
    page = render_html(realistic_report())
    assert page.count("<svg") == N_PLOTS
    assert "<?xml" not in page
    assert "<!DOCTYPE svg" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    # self-contained: nothing is fetched from elsewhere
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page


def test_report_text_is_escaped():
    evil = "<script>alert(1)</script>"
    report = realistic_report()
    report["model"]["name"] = evil
    report["drift"]["columns"][0]["column"] = evil
    report["drift"]["columns"][0]["drifted"] = True
    report["drift"]["columns"][0]["new_levels"] = {evil: 3}
    report["drift"]["drifted_columns"].append(evil)
    report["quality"]["missing_rate"][evil] = 0.5
    report["quality"]["breaches"] = [evil]
    report["periods"][0]["period"] = evil
    report["thresholds"][evil] = evil
    report["verdict"]["reasons"].append(evil)
    page = render_html(report)
    assert "<script" not in page.lower()
    assert html.escape(evil) in page


@pytest.mark.parametrize(
    "report",
    [
        {},
        None,
        {"verdict": {"status": "insufficient_data", "reasons": ["only 12 rows in the window"]}},
        {"verdict": None, "model": None, "drift": None, "periods": None, "performance": None},
        {"drift": {"columns": [{}], "score": None}, "quality": {"missing_rate": None}},
    ],
)
def test_minimal_reports_render(report):
    page = render_html(report)
    assert page.rstrip().endswith("</html>")
    assert "not available" in page
    assert '<h2 id="verdict">Verdict</h2>' in page


def test_every_number_missing_still_renders():
    def blank(value):
        if isinstance(value, dict):
            return {k: blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        return None if isinstance(value, int | float) and not isinstance(value, bool) else value

    page = render_html(blank(realistic_report()))
    assert "n/a" in page
    assert "no PSI values" in page
    assert "no labelled outcomes yet" in page
    assert "<svg" not in page


def test_no_periods_says_no_traffic_yet():
    report = realistic_report()
    report["periods"] = []
    page = render_html(report)
    assert "no traffic yet" in page
    assert page.count("<svg") == 1  # only the per-feature PSI of the window


def test_verdict_warnings_are_listed():
    page = render_html(realistic_report())
    assert page.count(html.escape(WARNING)) == 2


def test_threshold_lines_come_from_the_thresholds():
    report = realistic_report()
    page = render_html(report)
    # legends (text drawn as paths keeps each string as an SVG comment)
    assert "<!-- threshold 0.2 -->" in page
    assert "retrain below 0.760" in page  # reference AUC 0.81 - auc_drop 0.05
    report["thresholds"]["psi"] = 0.25
    page = render_html(report)
    assert "feature threshold 0.25" in page
    assert "score threshold 0.2" in page
    assert "<!-- threshold 0.2 -->" not in page


def test_write_html_is_atomic(tmp_path):
    target = tmp_path / "reports" / "monitoring.html"
    assert write_html(realistic_report(), target) == target
    assert target.read_text(encoding="utf-8").count("<svg") == N_PLOTS
    assert [p.name for p in target.parent.iterdir()] == ["monitoring.html"]
    report = copy.deepcopy(realistic_report())
    report["verdict"] = {"status": "healthy", "reasons": []}
    write_html(report, target)
    assert "Healthy" in target.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- browser


def chromium() -> str:
    """The Chromium binary; fail when it is missing unless a developer opted out (outside CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("LOOPLINE_ALLOW_NO_BROWSER") == "1" and not os.environ.get("CI"):
        pytest.skip("chromium not installed and LOOPLINE_ALLOW_NO_BROWSER=1")
    pytest.fail(
        "chromium not found: install it (`apt-get install -y chromium`; .ci/run does) "
        "or, locally only, set LOOPLINE_ALLOW_NO_BROWSER=1 to skip this test"
    )


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=60, check=False)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path):
    binary = chromium()
    page = write_html(realistic_report(), tmp_path / "report.html")
    url = page.resolve().as_uri()
    started = time.perf_counter()

    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    text = dom.stdout.decode()
    assert "Retrain recommended" in text
    assert html.escape(REASONS[1]) in text
    assert text.count("<svg") == N_PLOTS
    assert "annual_income" in text

    png = tmp_path / "report.png"
    shot = run_chromium(
        binary, tmp_path / "profile-shot", f"--screenshot={png}", "--window-size=1280,2000", url
    )
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    assert png.is_file()
    assert png.stat().st_size > 10_000
    pixels = imread(png)[..., :3]  # floats in [0, 1]
    assert pixels.shape[:2] == (2000, 1280)
    assert float(np.std(pixels)) > 0.05  # not a blank page
    # the retrain banner's red border (#cf222e) is painted
    red = np.all(np.abs(pixels - np.array([0xCF, 0x22, 0x2E]) / 255) < 0.03, axis=-1)
    assert red.sum() > 200
    keep = os.environ.get("LOOPLINE_REPORT_SCREENSHOT")  # to look at the page yourself
    if keep:
        shutil.copy(png, keep)
    print(f"chromium render: {time.perf_counter() - started:.1f}s")
