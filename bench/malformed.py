"""A malformed-traffic load run: does the service stay correct when some clients send garbage?

A real `loopline serve` on 127.0.0.1 (an API token set, logging into a temporary folder) is
loaded by `bench.loadgen`'s closed-loop clients for a fixed time; one request in 20 is
malformed (NaN / Infinity numbers, broken JSON, wrong JSON types, unknown fields, over-long
strings, missing fields, broken rules, a list with one bad item, bytes that are not UTF-8, no
token). Afterwards: the status histogram, 5xx and socket errors (must be 0), and the
prediction log read back, which must hold exactly one record per 200 answer (every scored
request is a single application). Results go to bench/results/malformed.json and to the
`malformed` section of BENCHMARKS.md.

    python -m bench.malformed [--seconds 60] [--clients 16] [--repo .]   # needs `make run`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.fuzz import HOST, service
from bench.loadgen import run_load
from bench.rest import json_record, write_markdown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "malformed.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
START, END = "<!-- malformed:start -->", "<!-- malformed:end -->"
EVERY = 20  # one request in EVERY is malformed (5%)


def valid_records(repo: Path, n: int) -> list[dict[str, Any]]:
    """Return n test-split applications as JSON records (the label left out)."""
    from loopline.bundle import Bundle

    bundle = Bundle.load(repo / "models" / "loans")
    columns = [rule.name for rule in bundle.schema.columns]
    frame = pd.read_parquet(repo / "data" / "processed" / "loans" / "split.parquet")
    test = frame.loc[frame["split"] == "test", columns].head(n)
    return [json_record(r) for r in test.to_dict(orient="records")]


def malformed_bodies(record: dict[str, Any]) -> list[tuple[str, bytes, bool]]:
    """Return (kind, body, with token) for each kind of bad request, built from a good record."""
    text = json.dumps(record)

    def swap(field: str, raw: str) -> str:
        return text.replace(f'"{field}": {json.dumps(record[field])}', f'"{field}": {raw}')

    kinds = [
        ("nan_number", swap("age", "NaN")),
        ("infinite_id", swap("application_id", "Infinity")),
        ("negative_infinity", swap("loan_amount", "-Infinity")),
        ("broken_json", text[:-7]),
        ("wrong_type", swap("age", '"forty"')),
        ("unknown_field", text[:-1] + ', "favourite_colour": "red"}'),
        ("too_long_string", swap("customer_id", json.dumps("C" * 5000))),
        ("missing_field", json.dumps({k: v for k, v in record.items() if k != "customer_id"})),
        ("broken_rule", swap("age", "-5")),
        ("list_with_bad_item", f"[{text}, {swap('region', json.dumps('atlantis'))}]"),
        ("top_level_nan", "NaN"),
    ]
    out = [(kind, body.encode(), True) for kind, body in kinds]
    out.append(("not_utf8", b'{"age": "\xff\xfe"}', True))
    out.append(("no_token", text.encode(), False))
    return out


def build(port: int, body: bytes, token: str | None) -> bytes:
    """Return one keep-alive POST /predict request, head and body together."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


def requests_for(port: int, records: list[dict[str, Any]], token: str) -> list[bytes]:
    """Return a cycle of requests: good single applications with every EVERY-th one malformed."""
    bad = malformed_bodies(records[0])
    out = []
    for i, record in enumerate(records):
        if i % EVERY == EVERY // 2:
            _, body, with_token = bad[(i // EVERY) % len(bad)]
            out.append(build(port, body, token if with_token else None))
        else:
            out.append(build(port, json.dumps(record).encode(), token))
    return out


def run(repo: Path, seconds: float, clients: int) -> dict[str, Any]:
    from loopline.io.predlog import read_log

    records = valid_records(repo, EVERY * 13 * 4)  # every malformed kind, four times a cycle
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="loopline-malformed-") as tmp:
        log_dir = Path(tmp) / "log"
        with service(repo, log_dir, token=token) as port:
            load = run_load(
                port,
                requests_for(port, records, token),
                clients=clients,
                seconds=seconds,
                warmup=0.0,
                max_requests=5_000_000,
            )
        logged = len(read_log(log_dir).frame) if log_dir.exists() else 0
    statuses = dict(sorted(load.statuses.items()))
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    socket_errors = statuses.get("-1", 0)
    counted = sum(statuses.values())
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "command": f"python -m bench.malformed --seconds {seconds:g} --clients {clients}"
        + ("" if repo == ROOT else f" --repo {repo}"),
        "repo": str(repo),
        "experiment": _experiment(repo),
        "seconds": seconds,
        "clients": clients,
        "malformed_share": 1 / EVERY,
        "requests": load.total_sent,
        "requests_in_window": counted,
        "statuses": statuses,
        "server_errors": server_errors,
        "socket_errors": socket_errors,
        "answers_200": load.total_ok,
        "log_records": logged,
        "log_matches_200s": logged == load.total_ok,
        "p50_ms": load.p50_ms,
        "p99_ms": load.p99_ms,
        "max_ms": load.max_ms,
        "first_error": load.first_error,
    }


def _experiment(repo: Path) -> str:
    """Return the `experiment:` choice of the repo's conf/config.yaml (what model is served)."""
    for line in (repo / "conf" / "config.yaml").read_text().splitlines():
        if line.strip().startswith("- experiment:"):
            return line.split(":", 1)[1].strip()
    return "?"


def markdown(result: dict[str, Any]) -> str:
    histogram = ", ".join(f"{s}: {n:,}" for s, n in result["statuses"].items())
    ok = result["server_errors"] == 0 and result["socket_errors"] == 0
    return (
        "\n".join(
            [
                START,
                "## Malformed traffic (REST)",
                "",
                f"`{result['command']}` on {result['machine']} ({result['when']}): "
                f"{result['clients']} closed-loop clients for {result['seconds']:g} s against "
                f"`loopline serve` on 127.0.0.1 (API token set; the `{result['experiment']}` "
                f"experiment's model), one request in {EVERY} malformed "
                "(NaN/Infinity, broken JSON, wrong types, unknown fields, long strings, missing "
                "fields, broken rules, a list with one bad item, non-UTF-8 bytes, no token).",
                "",
                "| requests | statuses | 5xx | socket errors | 200 answers | log records | "
                "p50 / p99 / max ms |",
                "|---|---|---|---|---|---|---|",
                f"| {result['requests']:,} | {histogram} | {result['server_errors']} | "
                f"{result['socket_errors']} | {result['answers_200']:,} | "
                f"{result['log_records']:,} | {result['p50_ms']:.1f} / {result['p99_ms']:.1f} / "
                f"{result['max_ms']:.1f} |",
                "",
                f"No server error and one log record per 200 answer: "
                f"**{'yes' if ok and result['log_matches_200s'] else 'NO'}**. "
                f"Raw numbers: `{RESULTS.relative_to(ROOT)}`.",
                END,
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repo", type=Path, default=ROOT, help="a repository after `make run`")
    parser.add_argument("--no-markdown", action="store_true")
    args = parser.parse_args()
    result = run(args.repo.resolve(), args.seconds, args.clients)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_markdown:
        write_markdown(markdown(result), MARKDOWN, start=START, end_marker=END)
    print(json.dumps(result, indent=2))  # noqa: T201
    failed = result["server_errors"] or result["socket_errors"] or not result["log_matches_200s"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
