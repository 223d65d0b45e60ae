"""A self-contained HTML page of a monitoring report (``reports/monitoring.json``).

`render_html` turns the report dict written by monitoring into one HTML page that a person can
open from disk or attach to a ticket: one CSS block, no JavaScript, no network, no external
files. The plots are inline SVG drawn by matplotlib's object API (no pyplot state, no display).

The page, top to bottom:

* a title with the model name and version and the monitoring window;
* a verdict banner (green healthy, red retrain recommended, grey insufficient data) with its
  reasons;
* drift: a summary, a per-feature table (drifted first, then by PSI) and a bar chart of
  per-feature PSI in the window;
* data quality and performance (realised against reference) tables, each with its breaches;
* plots over time from ``periods`` (one entry per month of application time): score PSI and
  max feature PSI against the PSI threshold, data-quality rates, realised AUC against the
  reference AUC, expected against realised profit;
* the thresholds used, and a closing "Verdict" section with the reasons again.

Every key may be absent or ``None`` (strict JSON has no NaN): the page still renders and says
"not available" (or "n/a" in a table cell). Every piece of text taken from the report goes
through `html.escape`, column names included.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend
from matplotlib.ticker import FuncFormatter

from loopline.config import DriftThresholds
from loopline.io import write_text

log = logging.getLogger(__name__)

NA = '<span class="na">n/a</span>'
NOT_AVAILABLE = '<p class="na">not available</p>'

VERDICTS = {  # status -> (css class, headline)
    "healthy": ("healthy", "Healthy"),
    "retrain": ("retrain", "Retrain recommended"),
    "insufficient_data": ("insufficient", "Insufficient data"),
}

QUALITY_RATES = {  # key in a period -> legend label
    "missing_rate": "missing",
    "unknown_category_rate": "unknown category",
    "out_of_range_rate": "out of range",
    "quarantine_rate": "quarantined",
}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1f2328; background: #fff; margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: #57606a; margin: 0 0 16px; }
.meta span { margin-right: 16px; white-space: nowrap; }
.verdict { border-radius: 6px; padding: 12px 16px; margin: 16px 0; border-left: 8px solid; }
.verdict h2, .verdict strong { margin: 0; border: 0; padding: 0; font-size: 20px; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.verdict p.warnings { margin: 8px 0 0; font-weight: 600; }
.verdict.healthy { background: #dafbe1; border-color: #1a7f37; color: #0f5323; }
.verdict.retrain { background: #ffebe9; border-color: #cf222e; color: #82071e; }
.verdict.insufficient { background: #eaeef2; border-color: #6e7781; color: #424a53; }
table { border-collapse: collapse; margin: 8px 0 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #d8dee4; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
tr.drifted td { background: #fff1f0; }
td.bad { color: #cf222e; font-weight: 600; }
.na { color: #8c959f; font-style: italic; }
.breaches { color: #82071e; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid #d8dee4; border-radius: 6px; padding: 8px; }
figure svg { width: 100%; height: auto; display: block; }
.plots.single { grid-template-columns: minmax(0, 760px); }
figcaption { color: #57606a; font-size: 13px; margin-top: 4px; }
code { font-size: 12px; }
"""


# ----------------------------------------------------------------------------- values


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: Any) -> float | None:
    """A finite number, or None (booleans, strings, NaN and infinities are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A readable, escaped cell: thousands separators for counts and money, 4 significant digits."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return NA
        if value.is_integer() or abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return _esc(json.dumps(value, default=str))
    return _esc(value)


def _pct(value: Any) -> str:
    """A rate in [0, 1] as a percentage with 3 significant digits."""
    number = _num(value)
    if number is None:
        return NA
    if number == 0:
        return "0%"
    return f"{number * 100:.3g}%"


def _signed(value: float | None, fmt: Callable[[Any], str] = _fmt) -> str:
    if value is None:
        return NA
    return ("+" if value > 0 else "") + fmt(value)


def _points(value: float | None) -> str:
    """A difference of two rates, in percentage points."""
    return NA if value is None else f"{value * 100:+.3g} pp"


def _table(headers: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of (label, already formatted value) without a header row."""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="pairs"><tbody>{rows}</tbody></table>'


def _reasons(items: Any, css: str = "") -> str:
    items = [str(x) for x in _list(items) if x is not None]
    if not items:
        return ""
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{_esc(x)}</li>" for x in items) + "</ul>"


# ----------------------------------------------------------------------------- plots


def _svg(fig: Figure, prefix: str) -> str:
    """The figure as inline SVG text: no XML prolog or DOCTYPE, ids unique within the page."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "loopline-report"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drops <?xml ...?>, <!DOCTYPE ...> and comments before it
    # Several SVGs share one HTML document, so their ids (clip paths, glyphs) get a prefix.
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    if ids:
        pattern = re.compile(
            r'(\bid="|xlink:href="#|href="#|url\(#)('
            + "|".join(map(re.escape, ids))
            + r')(?=["\)])'
        )
        text = pattern.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    # Let CSS size the picture (the viewBox keeps its aspect ratio).
    text = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)
    return text.strip()


def _axes(title: str, ylabel: str, size: tuple[float, float] = (6.4, 3.4)) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, dpi=100)
    ax = fig.subplots()
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _series(periods: list[dict], key: str) -> list[float]:
    return [math.nan if (v := _num(p.get(key))) is None else v for p in periods]


def _has_data(*series: list[float]) -> bool:
    return any(math.isfinite(v) for s in series for v in s)


def _period_axis(ax: Axes, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(
        labels, rotation=45 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center"
    )
    ax.set_xlim(-0.5, len(labels) - 0.5)


def _figure_html(fig: Figure | None, prefix: str, caption: str, missing: str) -> str:
    caption_html = f"<figcaption>{_esc(caption)}</figcaption>"
    if fig is None:
        return f'<figure>{caption_html}<p class="na">{_esc(missing)}</p></figure>'
    try:
        svg = _svg(fig, prefix)
    except Exception:  # a plot must never take the whole page down
        log.exception("cannot draw plot %s", prefix)
        return f'<figure>{caption_html}<p class="na">plot not available</p></figure>'
    return f"<figure>{svg}{caption_html}</figure>"


def _plot_psi(
    periods: list[dict], labels: list[str], psi_threshold: float, score_threshold: float | None
) -> Figure | None:
    score, feature = _series(periods, "score_psi"), _series(periods, "max_feature_psi")
    if not _has_data(score, feature):
        return None
    fig, ax = _axes("Drift per period (PSI)", "PSI")
    x = range(len(labels))
    ax.plot(x, score, marker="o", label="score PSI")
    ax.plot(x, feature, marker="s", label="max feature PSI")
    if score_threshold is None or score_threshold == psi_threshold:
        ax.axhline(
            psi_threshold, color="#cf222e", linestyle="--", label=f"threshold {psi_threshold:g}"
        )
    else:
        ax.axhline(
            psi_threshold,
            color="#cf222e",
            linestyle="--",
            label=f"feature threshold {psi_threshold:g}",
        )
        ax.axhline(
            score_threshold,
            color="#bc4c00",
            linestyle=":",
            label=f"score threshold {score_threshold:g}",
        )
    ax.set_ylim(bottom=0)
    _period_axis(ax, labels)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _plot_quality(periods: list[dict], labels: list[str]) -> Figure | None:
    series = {label: _series(periods, key) for key, label in QUALITY_RATES.items()}
    if not _has_data(*series.values()):
        return None
    fig, ax = _axes("Data quality per period", "share of rows (%)")
    x = range(len(labels))
    for (label, values), marker in zip(series.items(), "os^D", strict=True):
        if _has_data(values):
            ax.plot(x, [v * 100 for v in values], marker=marker, label=label)
    ax.set_ylim(bottom=0)
    _period_axis(ax, labels)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _plot_auc(
    periods: list[dict], labels: list[str], reference: float | None, drop: float | None
) -> Figure | None:
    auc = _series(periods, "auc")
    if not _has_data(auc):
        return None
    fig, ax = _axes("Realised AUC per period (labelled rows)", "AUC")
    ax.plot(range(len(labels)), auc, marker="o", label="realised AUC")
    if reference is not None:
        ax.axhline(reference, color="#57606a", linestyle="--", label=f"reference {reference:.3f}")
        if drop is not None:
            floor = reference - drop
            ax.axhline(floor, color="#cf222e", linestyle=":", label=f"retrain below {floor:.3f}")
    _period_axis(ax, labels)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _plot_profit(periods: list[dict], labels: list[str]) -> Figure | None:
    expected, realised = _series(periods, "expected_profit"), _series(periods, "realised_profit")
    if not _has_data(expected, realised):
        return None
    fig, ax = _axes("Profit per period", "profit")
    x = range(len(labels))
    ax.plot(x, expected, marker="o", linestyle="--", label="expected")
    ax.plot(x, realised, marker="s", label="realised")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _period_axis(ax, labels)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _plot_feature_psi(columns: list[dict], psi_threshold: float) -> Figure | None:
    rows = [
        (str(c.get("column", "?")), _num(c.get("psi")), c.get("drifted") is True) for c in columns
    ]
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: r[1], reverse=True)[:30][::-1]  # largest at the top
    fig, ax = _axes(
        "Per-feature PSI in the window", "", size=(6.4, max(2.4, 0.6 + 0.22 * len(rows)))
    )
    colours = ["#cf222e" if drifted else "#0969da" for _, _, drifted in rows]
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=colours)
    ax.axvline(psi_threshold, color="#cf222e", linestyle="--", label=f"threshold {psi_threshold:g}")
    ax.set_xlabel("PSI (red: drifted)")
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- sections


def _verdict(report: dict, tag: str) -> str:
    verdict = _dict(report.get("verdict"))
    status = verdict.get("status")
    css, headline = VERDICTS.get(status, ("insufficient", "Verdict not available"))
    if status is not None and status not in VERDICTS:
        headline = f"Verdict: {status}"
    reasons = _reasons(verdict.get("reasons")) or (
        '<p class="na">no reasons given</p>' if status in ("retrain", "insufficient_data") else ""
    )
    warnings = _reasons(verdict.get("warnings"))
    if warnings:
        warnings = f'<p class="warnings">Warnings</p>{warnings}'
    title = f"<{tag}>{_esc(headline)}</{tag}>"
    return (
        f'<div class="verdict {css}" data-status="{_esc(status)}">{title}{reasons}{warnings}</div>'
    )


def _header(report: dict) -> tuple[str, str]:
    model, window = _dict(report.get("model")), _dict(report.get("window"))
    name = model.get("name") or "model"
    version = model.get("version")
    title = f"Monitoring report: {name}" + (f" v{version}" if version not in (None, "") else "")
    span = f"{window.get('from') or '?'} → {window.get('to') or '?'}"
    if window.get("from") is None and window.get("to") is None:
        span = "not available"
    meta = [
        ("window", span),
        ("days", window.get("days")),
        ("rows", window.get("rows")),
        ("rows of this bundle", window.get("rows_of_this_bundle")),
        ("reference rows", _dict(report.get("reference")).get("rows")),
        ("dataset", model.get("dataset")),
        ("bundle", model.get("bundle_id")),
        ("prediction log", window.get("log")),
        ("corrupt log lines", window.get("corrupt_lines")),
        ("generated", report.get("generated_at")),
    ]
    meta_html = " ".join(  # the window and its rows always, the rest where known
        f"<span>{label}: {_fmt(value)}</span>"
        for label, value in meta
        if value is not None or label in ("window", "rows")
    )
    page_title = f"{title} ({span})" if window else title
    body = f'<h1>{_esc(title)}</h1><p class="meta">{meta_html}</p>'
    return _esc(page_title), body


def _drift(report: dict, psi_threshold: float) -> str:
    drift = report.get("drift")
    if not isinstance(drift, dict):
        return "<h2>Drift</h2>" + NOT_AVAILABLE
    score = _dict(drift.get("score"))
    drifted_columns = [str(c) for c in _list(drift.get("drifted_columns"))]
    summary = [
        ("rows in window", _fmt(drift.get("rows"))),
        ("dataset drift", _fmt(drift.get("dataset_drift"))),
        ("share of drifted features", _pct(drift.get("share_drifted"))),
        ("drifted features", _esc(", ".join(drifted_columns)) if drifted_columns else "none"),
        ("score PSI", _fmt(score.get("psi"))),
        ("score distance", _fmt(score.get("distance"))),
        ("score drifted", _fmt(score.get("drifted"))),
    ]
    out = [
        "<h2>Drift</h2>",
        _pairs(summary),
    ]
    columns = [c for c in _list(drift.get("columns")) if isinstance(c, dict)]
    if not columns:
        return "".join([*out, "<h3>Per feature</h3>", NOT_AVAILABLE])

    def order(c: dict) -> tuple[bool, float]:
        psi = _num(c.get("psi"))
        return (c.get("drifted") is not True, -psi if psi is not None else math.inf)

    rows = []
    for c in sorted(columns, key=order):
        psi = _num(c.get("psi"))
        levels = _dict(c.get("new_levels"))
        shown = ", ".join(f"{_esc(k)} ({_fmt(v)})" for k, v in list(levels.items())[:5])
        if len(levels) > 5:
            shown += f", +{len(levels) - 5} more"
        drifted = c.get("drifted")
        why = ", ".join(str(r) for r in _list(c.get("reasons")))
        drifted_cell = _fmt(drifted) if drifted is not None else NA
        if drifted is True and why:
            drifted_cell += f" ({_esc(why)})"
        rows.append(
            f'<tr class="{"drifted" if drifted is True else ""}">'
            f"<td>{_esc(c.get('column', '?'))}</td><td>{_fmt(c.get('kind'))}</td>"
            f'<td class="num{" bad" if psi is not None and psi >= psi_threshold else ""}">'
            f"{_fmt(psi)}</td>"
            f'<td class="num">{_fmt(_num(c.get("distance")))}</td>'
            f'<td class="num">{_pct(c.get("missing_rate_ref"))} → '
            f"{_pct(c.get('missing_rate_win'))}</td>"
            f"<td>{shown or '—'}</td>"
            f'<td class="{"bad" if drifted is True else ""}">{drifted_cell}</td></tr>'
        )
    headers = ["column", "kind", "PSI", "distance", "missing ref → window", "new levels", "drifted"]
    out += ["<h3>Per feature</h3>", _table(headers, rows)]
    fig = _plot_feature_psi(columns, psi_threshold)
    out.append(
        '<div class="plots single">'
        + _figure_html(fig, "fig-feature-psi", "Per-feature PSI in the window", "no PSI values")
        + "</div>"
    )
    return "".join(out)


def _quality(report: dict) -> str:
    quality = report.get("quality")
    if not isinstance(quality, dict):
        return "<h2>Data quality</h2>" + NOT_AVAILABLE
    summary = [
        ("rows", _fmt(quality.get("rows"))),
        ("quarantined rows", _fmt(quality.get("quarantined"))),
        ("quarantine rate", _pct(quality.get("quarantine_rate"))),
    ]
    out = [
        "<h2>Data quality</h2>",
        _pairs(summary),
    ]
    breaches = _reasons(quality.get("breaches"), "breaches")
    out.append("<h3>Breaches</h3>" + (breaches or "<p>none</p>"))
    rates = {
        key: _dict(quality.get(key))
        for key in ("missing_rate", "out_of_range_rate", "unknown_category_rate")
    }
    names = list(dict.fromkeys(name for r in rates.values() for name in r))
    if names:
        rows = []
        for name in names:
            cells = []
            for r in rates.values():
                value = _num(r.get(name))
                cls = "num bad" if value else "num"
                cells.append(f'<td class="{cls}">{_pct(value) if name in r else "—"}</td>')
            rows.append(f"<tr><td>{_esc(name)}</td>{''.join(cells)}</tr>")
        headers = ["column", "missing", "out of range", "unknown category"]
        out += ["<h3>Per column</h3>", _table(headers, rows)]
    return "".join(out)


def _performance(report: dict) -> str:
    perf = report.get("performance")
    if not isinstance(perf, dict):
        return "<h2>Performance</h2>" + NOT_AVAILABLE

    def diff(a: Any, b: Any) -> float | None:
        a, b = _num(a), _num(b)
        return None if a is None or b is None else a - b

    auc, ref_auc = perf.get("auc"), perf.get("reference_auc")
    rows = [
        ("labelled rows", _fmt(perf.get("labelled")), "", ""),
        ("AUC (vs reference)", _fmt(_num(auc)), _fmt(_num(ref_auc)), _signed(diff(auc, ref_auc))),
        (
            "default rate (vs mean score)",
            _pct(perf.get("default_rate")),
            _pct(perf.get("mean_score")),
            _points(diff(perf.get("default_rate"), perf.get("mean_score"))),
        ),
        ("ECE (calibration error)", _fmt(_num(perf.get("ece"))), "", ""),
        (
            "profit (vs expected)",
            _fmt(_num(perf.get("realised_profit"))),
            _fmt(_num(perf.get("expected_profit"))),
            _signed(diff(perf.get("realised_profit"), perf.get("expected_profit"))),
        ),
    ]
    body = [
        f"<tr><th>{m}</th>" + "".join(f'<td class="num">{v}</td>' for v in (a, b, d)) + "</tr>"
        for m, a, b, d in rows
    ]
    breaches = _reasons(perf.get("breaches"), "breaches")
    return "".join(
        [
            "<h2>Performance</h2>",
            _table(["metric", "realised (window)", "reference / expected", "difference"], body),
            "<h3>Breaches</h3>" + (breaches or "<p>none</p>"),
        ]
    )


def _over_time(report: dict, psi_threshold: float) -> str:
    periods = [p for p in _list(report.get("periods")) if isinstance(p, dict)]
    head = "<h2>Over time</h2>"
    if "periods" not in report or report.get("periods") is None:
        return head + NOT_AVAILABLE
    if not periods:
        return head + '<p class="na">no traffic yet</p>'
    labels = [str(p.get("period", "?")) for p in periods]
    thresholds = _dict(report.get("thresholds"))
    reference = _num(_dict(report.get("performance")).get("reference_auc"))
    plots = [
        (
            _plot_psi(periods, labels, psi_threshold, _num(thresholds.get("score_psi"))),
            "fig-psi",
            "Score PSI and max feature PSI per period",
            "no PSI values",
        ),
        (
            _plot_quality(periods, labels),
            "fig-quality",
            "Data-quality rates per period",
            "no data-quality rates",
        ),
        (
            _plot_auc(periods, labels, reference, _num(thresholds.get("auc_drop"))),
            "fig-auc",
            "Realised AUC per period and the reference AUC",
            "no labelled outcomes yet",
        ),
        (
            _plot_profit(periods, labels),
            "fig-profit",
            "Expected and realised profit per period",
            "no profit figures yet",
        ),
    ]
    figures = "".join(
        _figure_html(fig, prefix, caption, missing) for fig, prefix, caption, missing in plots
    )
    counts = [
        f"<tr><td>{_esc(label)}</td><td class='num'>{_fmt(p.get('rows'))}</td>"
        f"<td class='num'>{_fmt(p.get('labelled'))}</td>"
        f"<td class='num'>{_fmt(p.get('drifted_features'))}</td></tr>"
        for label, p in zip(labels, periods, strict=True)
    ]
    table = _table(["period", "rows", "labelled", "drifted features"], counts)
    return f'{head}<div class="plots">{figures}</div><h3>Rows per period</h3>{table}'


def _thresholds(report: dict) -> str:
    thresholds = _dict(report.get("thresholds"))
    if not thresholds:
        return "<h2>Thresholds</h2>" + NOT_AVAILABLE
    rows = [
        f"<tr><td>{_esc(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in thresholds.items()
    ]
    return "<h2>Thresholds</h2>" + _table(["threshold", "value"], rows)


# ----------------------------------------------------------------------------- public API


def render_html(report: dict) -> str:
    """Return the whole monitoring page for a report dict (any key may be absent or None)."""
    report = _dict(report)
    # the document states the thresholds it was judged by; one that lacks them gets the defaults
    psi_threshold = _num(_dict(report.get("thresholds")).get("psi")) or DriftThresholds().psi
    page_title, header = _header(report)
    sections = [
        header,
        _verdict(report, "strong"),
        _drift(report, psi_threshold),
        _quality(report),
        _performance(report),
        _over_time(report, psi_threshold),
        _thresholds(report),
        '<h2 id="verdict">Verdict</h2>',
        _verdict(report, "strong"),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{page_title}</title><style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(sections) + "\n</main></body></html>\n"
    )


def write_html(report: dict, path: str | Path) -> Path:
    """Render the report and write it atomically (`io.files.write_text`)."""
    return write_text(render_html(report), path)
