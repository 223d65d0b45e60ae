"""Fuzz the REST contract: schemathesis against a real `loopline serve` on 127.0.0.1.

Every check (`--checks all`): no 5xx, every status and body as the OpenAPI document declares,
schema-violating requests refused, schema-valid ones accepted, 401 without the token. The
service runs with a random API token (so the auth checks run too) and logs into a temporary
folder. One failure class is tolerated and counted apart: a schema-valid application refused
only by a time rule JSON Schema cannot state for a date-time string: `in_future` (after the
server's clock) or `date_range` (outside the column's valid range, which the document gives in
the field's description and `x-minimum`/`x-maximum`). Results go to bench/results/fuzz.json.

    python -m bench.fuzz [--max-examples 1000] [--seed 1]     # needs `make run` first
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
RESULTS = ROOT / "bench" / "results" / "fuzz.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def service(
    repo: Path, log_dir: Path, *, token: str | None = None, timeout: float = 120
) -> Iterator[int]:
    """Run `loopline serve` in `repo` on a free loopback port until the block ends; yield it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    env.pop("LOOPLINE_API_TOKEN", None)
    if token:
        env["LOOPLINE_API_TOKEN"] = token
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PWD"] = str(repo)
    command = [str(BIN / "loopline"), "serve", "--port", str(port), "--poll-seconds", "0"]
    output_path = log_dir.parent / f"{log_dir.name}.serve.out"
    with output_path.open("wb") as output:
        server = subprocess.Popen(
            [*command, "--log-dir", str(log_dir)],
            cwd=repo,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"service exited:\n{output_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("service not ready")
            time.sleep(0.3)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def run_schemathesis(
    port: int,
    *,
    max_examples: int,
    seed: int = 1,
    token: str | None = None,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Run schemathesis on the service's own OpenAPI document; return counts and failures."""
    with tempfile.TemporaryDirectory() as reports:
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"http://{HOST}:{port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--continue-on-failure",
            "--seed",
            str(seed),
            "--workers",
            "1",
            "--report",
            "ndjson,json",
            "--report-dir",
            reports,
        ]
        if token:
            command += ["--header", f"Authorization: Bearer {token}"]
        started = time.monotonic()
        # in the report folder: schemathesis leaves a .schemathesis/ cache in its working folder
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=reports)
        elapsed = time.monotonic() - started
        summary = json.loads(next(Path(reports).glob("*.json")).read_text())
        events = next(Path(reports).glob("*.ndjson")).read_text().splitlines()
    failures, tolerated = classify(events)
    distinct = {(f["check"], f["operation"], f["status"], f["answer"]): f for f in failures}
    return {
        "command": "schemathesis " + " ".join(command[1 : command.index("--report")]),
        "token": bool(token),
        "seed": seed,
        "max_examples": max_examples,
        "seconds": round(elapsed, 1),
        "cases": summary["test_cases"]["generated"],
        "errored": summary["test_cases"]["errored"],
        "errors": summary["errors"],
        "checks_failed": len(failures),  # every failed check, shrinking steps included
        "distinct_failures": len(distinct),
        "failures": list(distinct.values())[:20],
        "tolerated_time_rules": tolerated,
        "schemathesis_exit_code": done.returncode,
        "output_tail": done.stdout[-3000:] if failures or summary["errors"] else "",
    }


def _decode(blob: Any) -> str:
    if isinstance(blob, dict) and "$base64" in blob:
        return base64.b64decode(blob["$base64"]).decode("utf-8", "replace")
    return "" if blob is None else str(blob)


def classify(events: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Return the failed checks (check, status, request, answer) and the tolerated count."""
    failures: list[dict[str, Any]] = []
    tolerated = 0
    for line in events:
        event = json.loads(line)
        recorder = event.get("ScenarioFinished", {}).get("recorder", {})
        for case_id, checks in recorder.get("checks", {}).items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                interaction = recorder.get("interactions", {}).get(case_id) or {}
                response = interaction.get("response") or {}
                request = interaction.get("request") or {}
                answer = _decode(response.get("content"))
                if _only_time_rules(check["name"], response.get("status_code"), answer):
                    tolerated += 1
                    continue
                info = (check.get("failure_info") or {}).get("failure") or {}
                failures.append(
                    {
                        "check": check["name"],
                        "code": info.get("code"),
                        "operation": recorder.get("label"),
                        "status": response.get("status_code"),
                        "request": {
                            "method": request.get("method"),
                            "uri": request.get("uri"),
                            "body": _decode(request.get("body"))[:2000],
                        },
                        "answer": answer[:1000],
                        "message": info.get("message"),
                    }
                )
    return failures, tolerated


TIME_RULES = frozenset({"in_future", "date_range"})  # what JSON Schema cannot say of a date-time


def _only_time_rules(check: str, status: int | None, answer: str) -> bool:
    if check != "positive_data_acceptance" or status != 422:
        return False
    try:
        errors = json.loads(answer)["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(errors) and all(e.get("rule") in TIME_RULES for e in errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=ROOT, help="a repository after `make run`")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    with (
        tempfile.TemporaryDirectory() as tmp,
        service(args.repo.resolve(), Path(tmp) / "log", token=token) as port,
    ):
        result = run_schemathesis(port, max_examples=args.max_examples, seed=args.seed, token=token)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(  # noqa: T201
        f"schemathesis: {result['cases']} cases in {result['seconds']} s, "
        f"{result['checks_failed']} failed checks, {len(result['errors'])} errors, "
        f"{result['tolerated_time_rules']} schema-valid cases refused only by a time rule "
        f"-> {RESULTS.relative_to(ROOT)}"
    )
    for failure in result["failures"]:
        print(json.dumps(failure, indent=2))  # noqa: T201
    sys.exit(1 if result["checks_failed"] or result["errors"] else 0)


if __name__ == "__main__":
    main()
