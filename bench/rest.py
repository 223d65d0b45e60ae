"""The REST benchmark: our service vs a bare FastAPI+XGBoost endpoint vs `mlflow models serve`.

Each target is started in turn as a subprocess on 127.0.0.1 (never two at once), checked for
correct answers against the bundle scored in-process, loaded by `bench.loadgen` at 1, 8 and 32
closed-loop clients, and stopped. For our service the prediction log is read back afterwards
and must hold exactly one record per successful request. Results go to bench/results/rest.json
and to the `rest` section of BENCHMARKS.md.

    python -m bench.rest [--seconds 10] [--clients 1,8,32] [--targets ours,bare,mlflow]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from bench.loadgen import HOST, HttpConnection, build_request, run_load

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
BUNDLE = ROOT / "models" / "loans"
SPLIT = ROOT / "data" / "processed" / "loans" / "split.parquet"
MLFLOW_URI = f"sqlite:///{ROOT / 'mlflow.db'}"
MLFLOW_MODEL = "models:/loopline-loans@champion"
RESULTS = ROOT / "bench" / "results" / "rest.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
START, END = "<!-- rest:start -->", "<!-- rest:end -->"
ALL_TARGETS = ("ours", "bare", "mlflow")
GOAL_VS_BARE, GOAL_VS_MLFLOW, GOAL_P99_MS = 0.5, 5.0, 5.0
SCORE_TOLERANCE = 1e-6


@dataclass
class Target:
    """How to start one server, ask it whether it is ready, and talk to it."""

    name: str
    label: str
    command: list[str]
    ready_path: str
    predict_path: str
    body: Callable[[int], bytes]  # record index -> request body
    score: Callable[[Any], float]  # parsed response of one record -> score
    startup_timeout: float


# ------------------------------------------------------------------------------ inputs


def json_record(row: dict[str, Any]) -> dict[str, Any]:
    """Return a frame row as a JSON request record: ISO timestamps, NaN -> null."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            out[key] = value.isoformat()
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
        elif hasattr(value, "item"):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def load_records(n: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return n complete test records (no nulls) and probes: a record with a null per kind."""
    from loopline.bundle import Bundle

    columns = [rule.name for rule in Bundle.load(BUNDLE).schema.columns]
    frame = pd.read_parquet(SPLIT)
    test = frame.loc[frame["split"] == "test", columns]
    complete = test.loc[test.notna().all(axis=1)].head(n)
    records = [json_record(r) for r in complete.to_dict(orient="records")]
    numeric = [c for c in columns if pd.api.types.is_float_dtype(test[c])]
    probes = {}
    for kind, names in (
        ("numeric_null", numeric),
        ("string_null", [c for c in columns if c not in numeric]),
    ):
        hit = test.loc[test[names].isna().any(axis=1)].head(1)
        if len(hit):
            probes[kind] = json_record(hit.to_dict(orient="records")[0])
    return records, probes


def references(records: list[dict[str, Any]]) -> tuple[list[float], list[list[float | None]]]:
    """Return the in-process score and the model input row of each record (fresh bundle)."""
    from loopline.bundle import Bundle

    bundle = Bundle.load(BUNDLE)
    scores, rows = [], []
    for record in records:
        scores.append(float(bundle.score_record(record, remember=False)["score"]))
        values, broken = bundle.validator.validate(record)
        if broken:
            raise ValueError(f"test record breaks rules: {broken}")
        row, _ = bundle.features_record(values)
        rows.append([None if math.isnan(v) else float(v) for v in row.tolist()])
    return scores, rows


# ------------------------------------------------------------------------------ servers


def free_port() -> int:
    """Return a TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_env() -> dict[str, str]:
    """Return the environment of the servers: the venv first on PATH, the repo's MLflow store."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = MLFLOW_URI
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(target: Target, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own process group, its output going to log_path."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            target.command,
            cwd=ROOT,
            env=server_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, timeout: float) -> float:
    """Poll GET path until it answers 200; return the seconds it took, raise if it never does."""
    started = time.perf_counter()
    url = f"http://{HOST}:{port}{path}"
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def post(port: int, path: str, body: bytes) -> tuple[int, Any]:
    """Send one request on a fresh connection; return status and parsed JSON (or text)."""
    conn = HttpConnection(port, timeout=60)
    try:
        status, raw, _ = conn.request(build_request(port, path, body))
    finally:
        conn.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


# ------------------------------------------------------------------------------ one target


def check(target: Target, port: int, expected: list[float], count: int) -> dict[str, Any]:
    """Score the first records one by one and compare with the in-process scores."""
    worst, failures = 0.0, []
    for i in range(count):
        status, payload = post(port, target.predict_path, target.body(i))
        if status != 200:
            failures.append(f"record {i}: status {status}: {str(payload)[:300]}")
            continue
        got = target.score(payload)
        worst = max(worst, abs(got - expected[i]))
        if abs(got - expected[i]) > SCORE_TOLERANCE:
            failures.append(f"record {i}: score {got} != {expected[i]}")
    return {"records": count, "ok": not failures, "max_abs_diff": worst, "failures": failures}


def machine_load() -> float:
    """Return the 1-minute load average."""
    return os.getloadavg()[0]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_busy_ticks() -> int:
    """Return the machine's busy CPU time so far (all cores, clock ticks)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def group_ticks(pgid: int) -> int:
    """Return the CPU time (user + system, clock ticks) of the live processes of a group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total


@dataclass
class CpuSample:
    """CPU time of the machine, the server's process group and this process, at one moment."""

    wall: float
    busy: int
    server: int
    own: int

    @classmethod
    def take(cls, pgid: int) -> CpuSample:
        """Sample now."""
        return cls(time.perf_counter(), cpu_busy_ticks(), group_ticks(pgid), own_ticks())

    def cores_since(self, before: CpuSample) -> dict[str, float]:
        """Return the cores used between two samples: server, load generator, everything else."""
        span = (self.wall - before.wall) * CLOCK_TICKS
        server = (self.server - before.server) / span
        own = (self.own - before.own) / span
        busy = (self.busy - before.busy) / span
        return {"server": server, "loadgen": own, "others": max(busy - server - own, 0.0)}


def own_ticks() -> int:
    """Return this process's CPU time (all threads, clock ticks)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_idle_cpu(limit_cores: float, max_wait: float) -> float:
    """Wait (at most max_wait s) until other processes use under limit_cores; return the last."""
    deadline = time.monotonic() + max_wait
    while True:
        before, busy = time.perf_counter(), cpu_busy_ticks()
        time.sleep(2.0)
        cores = (cpu_busy_ticks() - busy) / ((time.perf_counter() - before) * CLOCK_TICKS)
        if cores < limit_cores or time.monotonic() >= deadline:
            return cores
        print(f"other processes are using {cores:.2f} cores: waiting")  # noqa: T201
        time.sleep(5.0)


def run_target(
    target: Target,
    port: int,
    requests: list[bytes],
    expected: list[float],
    args: argparse.Namespace,
    workdir: Path,
    probes: dict[str, bytes],
) -> dict[str, Any]:
    """Start, check, load at each client count, stop; return what was measured."""
    result: dict[str, Any] = {"target": target.name, "label": target.label}
    result["command"] = shlex.join(str(c) for c in target.command)
    result["load_before"] = machine_load()
    proc = start(target, workdir / f"{target.name}.log")
    successes = 0
    try:
        result["startup_s"] = wait_ready(proc, port, target.ready_path, target.startup_timeout)
        result["check"] = check(target, port, expected, args.check)
        successes += args.check - len(result["check"]["failures"])
        result["null_probes"] = {}
        for kind, body in probes.items():
            status, payload = post(port, target.predict_path, body)
            result["null_probes"][kind] = {"status": status, "response": str(payload)[:300]}
            successes += status == 200
        if not result["check"]["ok"]:
            print(f"{target.name}: wrong answers, not timed: {result['check']}")  # noqa: T201
            return result
        result["loads"] = []
        for clients in args.clients:
            wait_idle_cpu(args.quiet_cores, args.max_wait)
            before = CpuSample.take(proc.pid)
            load = run_load(
                port,
                requests,
                clients=clients,
                seconds=args.seconds,
                warmup=args.warmup,
                max_requests=args.max_requests,
            )
            after = CpuSample.take(proc.pid)
            cores = after.cores_since(before)
            cpu_ms = (after.server - before.server) / CLOCK_TICKS * 1000 / max(load.total_sent, 1)
            successes += load.total_ok
            result["loads"].append(
                asdict(load) | {"cpu_cores": cores, "server_cpu_ms_per_request": cpu_ms}
            )
            print(  # noqa: T201
                f"{target.name:>6} x{clients:<3} {load.rps:8.1f} req/s  p50 {load.p50_ms:7.2f}"
                f"  p99 {load.p99_ms:7.2f}  max {load.max_ms:7.2f} ms  errors {load.errors}"
                f"  server CPU {cpu_ms:.2f} ms/req"
                f"  cores: server {cores['server']:.2f} loadgen {cores['loadgen']:.2f}"
                f" others {cores['others']:.2f}"
            )
            if load.first_error:
                print(f"        first error: {load.first_error}")  # noqa: T201
    finally:
        stop(proc)
        result["exit_code"] = proc.returncode
        result["load_after"] = machine_load()
        result["successful_requests"] = successes
    return result


def verify_log(log_dir: Path, successes: int) -> dict[str, Any]:
    """Read our prediction log back: one valid record per successful request, ids unique."""
    from loopline.io.predlog import read_log

    read = read_log(log_dir)
    frame = read.frame
    out = {
        "records": len(frame),
        "successful_requests": successes,
        "unique_request_ids": int(frame["request_id"].nunique()) if len(frame) else 0,
        "corrupt_lines": read.corrupt_lines,
        "segments": read.segments,
    }
    out["ok"] = (
        out["records"] == successes
        and out["unique_request_ids"] == successes
        and read.corrupt_lines == 0
    )
    return out


# ------------------------------------------------------------------------------ report


def machine() -> dict[str, Any]:
    """Return what the numbers were measured on."""
    cpu = "unknown"
    mem_gib = math.nan
    with Path("/proc/cpuinfo").open() as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with Path("/proc/meminfo").open() as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                mem_gib = int(line.split()[1]) / 2**20
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "ram_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "versions": {
            p: version(p) for p in ("fastapi", "uvicorn", "pydantic", "xgboost", "mlflow")
        },
    }


def model_identity() -> dict[str, Any]:
    """Return the bundle id served from models/loans and the registry's champion version."""
    out: dict[str, Any] = {
        "bundle_id": json.loads((BUNDLE / "bundle.json").read_text())["bundle_id"]
    }
    try:
        from mlflow import MlflowClient

        champion = MlflowClient(MLFLOW_URI).get_model_version_by_alias("loopline-loans", "champion")
        out["mlflow_champion_version"] = champion.version
    except Exception as exc:  # the report still says which bundle was served
        out["mlflow_champion_version"] = f"unknown ({exc})"
    return out


def load_at(result: dict[str, Any] | None, clients: int) -> dict[str, Any] | None:
    """Return a target's load result at a client count, if measured."""
    if not result:
        return None
    return next((x for x in result.get("loads", []) if x["clients"] == clients), None)


def goals(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the goals with their measured values and met / missed."""
    ours8 = load_at(results.get("ours"), 8)
    bare8 = load_at(results.get("bare"), 8)
    mlflow8 = load_at(results.get("mlflow"), 8)
    ours1 = load_at(results.get("ours"), 1)
    out = []
    ratio = ours8["rps"] / bare8["rps"] if ours8 and bare8 and bare8["rps"] else None
    out.append(
        {"goal": "ours / bare req/s at 8 clients", "target": f">= {GOAL_VS_BARE}", "value": ratio}
        | {"met": None if ratio is None else ratio >= GOAL_VS_BARE}
    )
    ratio = ours8["rps"] / mlflow8["rps"] if ours8 and mlflow8 and mlflow8["rps"] else None
    out.append(
        {"goal": "ours / mlflow serve req/s at 8 clients", "target": f">= {GOAL_VS_MLFLOW}"}
        | {"value": ratio, "met": None if ratio is None else ratio >= GOAL_VS_MLFLOW}
    )
    p99 = ours1["p99_ms"] if ours1 else None
    out.append(
        {"goal": "ours p99 at 1 client (ms)", "target": f"< {GOAL_P99_MS}", "value": p99}
        | {"met": None if p99 is None else p99 < GOAL_P99_MS}
    )
    return out


def markdown(report: dict[str, Any]) -> str:
    """Return the rest section of BENCHMARKS.md, markers included."""
    m = report["machine"]
    lines = [
        START,
        "## REST serving",
        "",
        f"Run {report['date']} with `{report['command']}` "
        "(a `make bench` target, where the Makefile has one, runs the same module).",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}; "
        f"load average {report['load_start']:.2f} at the start, {report['load_end']:.2f} at the "
        "end. Servers and load generator share the machine; one server runs at a time.",
        "",
        f"Model: bundle `{report['model']['bundle_id']}` (models/loans), MLflow "
        f"`{MLFLOW_MODEL}` = version {report['model']['mlflow_champion_version']}.",
        "",
        f"Closed loop: N clients, each one keep-alive connection, {report['warmup']:g} s warm-up "
        f"then {report['seconds']:g} s measured; one application per request, cycling over "
        f"{report['records']} complete test records (no nulls, the same for all targets). "
        "Latency is send to last byte at the client. Compare targets within one run only: on a "
        "small shared VM, req/s moves by about 15% from one run to the next.",
        "",
        "| target | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| server CPU ms/req | CPU cores: server / loadgen / others |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, result in report["targets"].items():
        if "loads" not in result:
            lines.append(f"| {result['label']} | - | not measured | | | | | | | |")
            continue
        for x in result["loads"]:
            cores = x["cpu_cores"]
            lines.append(
                f"| {result['label']} | {x['clients']} | {x['rps']:.0f} | {x['p50_ms']:.2f} "
                f"| {x['p90_ms']:.2f} | {x['p99_ms']:.2f} | {x['max_ms']:.2f} | {x['errors']} "
                f"| {x['server_cpu_ms_per_request']:.2f} | {cores['server']:.2f} / "
                f"{cores['loadgen']:.2f} / {cores['others']:.2f} |"
            )
        del name
    lines += ["", "| goal | target | measured | status |", "|---|---|---:|---|"]
    for g in report["goals"]:
        value = "not measured" if g["value"] is None else f"{g['value']:.2f}"
        status = "n/a" if g["met"] is None else ("met" if g["met"] else "**missed**")
        lines.append(f"| {g['goal']} | {g['target']} | {value} | {status} |")
    log = report.get("prediction_log")
    if log:
        verdict = "ok" if log["ok"] else "**MISMATCH**"
        lines += [
            "",
            f"Prediction log of our service: {log['records']} records for "
            f"{log['successful_requests']} successful requests "
            f"({log['unique_request_ids']} distinct request ids, "
            f"{log['corrupt_lines']} corrupt lines): {verdict}.",
        ]
    checks = [
        f"{r['label']} {'ok' if r.get('check', {}).get('ok') else 'FAILED'}"
        for r in report["targets"].values()
    ]
    for result in report["targets"].values():
        probes = result.get("null_probes") or {}
        if probes:
            said = ", ".join(f"{k.replace('_', ' ')} -> {v['status']}" for k, v in probes.items())
            lines += ["", f"{result['label']}, a record with a null: {said}."]
    lines += [
        "",
        f"Answers checked against in-process `Bundle.score_record` before timing "
        f"(first {report['check']} records, |diff| <= {SCORE_TOLERANCE:g}): {', '.join(checks)}.",
        f"Raw numbers: `{RESULTS.relative_to(ROOT)}`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_markdown(
    section: str, path: Path = MARKDOWN, *, start: str = START, end_marker: str = END
) -> None:
    """Replace one marked section of BENCHMARKS.md (or add it), leaving other sections alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = text.find(start), text.find(end_marker)
    if begin >= 0 and end > begin:
        after = text[end + len(end_marker) :]
        text = text[:begin] + section.rstrip("\n") + after
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# ------------------------------------------------------------------------------ main


def targets(
    ports: dict[str, int],
    records: list[dict[str, Any]],
    rows: list[list[float | None]],
    log_dir: Path,
) -> dict[str, Target]:
    """Return the three targets; request bodies are built once, here."""
    ours_bodies = [json.dumps(r).encode() for r in records]
    bare_bodies = [json.dumps({"features": r}).encode() for r in rows]
    mlflow_bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
    return {
        "ours": Target(
            name="ours",
            label="ours (loopline serve)",
            command=[
                str(BIN / "loopline"),
                "serve",
                "--model",
                str(BUNDLE.relative_to(ROOT)),
                "--port",
                str(ports["ours"]),
                "--poll-seconds",
                "0",
                "--log-dir",
                str(log_dir),
            ],
            ready_path="/ready",
            predict_path="/predict",
            body=ours_bodies.__getitem__,
            score=lambda payload: float(payload[0]["score"]),
            startup_timeout=120,
        ),
        "bare": Target(
            name="bare",
            label="bare FastAPI+XGBoost",
            command=[str(BIN / "python"), "-m", "bench.bare_app", "--port", str(ports["bare"])],
            ready_path="/ready",
            predict_path="/predict",
            body=bare_bodies.__getitem__,
            score=lambda payload: float(payload["score"]),
            startup_timeout=60,
        ),
        "mlflow": Target(
            name="mlflow",
            label="mlflow models serve",
            command=[
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                MLFLOW_MODEL,
                "--env-manager",
                "local",
                "-p",
                str(ports["mlflow"]),
                "-h",
                HOST,
            ],
            ready_path="/ping",
            predict_path="/invocations",
            body=mlflow_bodies.__getitem__,
            score=lambda payload: float(payload["predictions"][0]["score"]),
            startup_timeout=180,
        ),
    }


def wait_quiet(limit: float, max_wait: float) -> float:
    """Wait (at most max_wait s) for the 1-minute load average to drop below limit; return it."""
    deadline = time.monotonic() + max_wait
    while (load := machine_load()) > limit and time.monotonic() < deadline:
        print(f"load average {load:.2f} > {limit}: waiting")  # noqa: T201
        time.sleep(10)
    return load


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up per level (s)")
    parser.add_argument("--clients", default="1,8,32", help="client counts, comma-separated")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS))
    parser.add_argument("--records", type=int, default=500, help="distinct records cycled")
    parser.add_argument("--check", type=int, default=5, help="records checked before timing")
    parser.add_argument("--max-requests", type=int, default=500_000, help="per load level")
    parser.add_argument("--quiet-load", type=float, default=1.5, help="wait for load avg below")
    parser.add_argument(
        "--quiet-cores", type=float, default=0.5, help="wait until others use fewer cores"
    )
    parser.add_argument("--max-wait", type=float, default=30.0, help="longest wait for quiet (s)")
    parser.add_argument("--no-markdown", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",") if c]
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.targets) - set(ALL_TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {ALL_TARGETS}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write bench/results/rest.json and the BENCHMARKS.md section."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "bench.rest", *(sys.argv[1:] if argv is None else argv)])
    records, null_records = load_records(args.records)
    expected, rows = references(records)
    load_start = wait_quiet(args.quiet_load, args.max_wait)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        "model": model_identity(),
        "load_start": load_start,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "records": len(records),
        "check": args.check,
        "targets": {},
    }
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as tmp:
        workdir = Path(tmp)
        log_dir = workdir / "predictions"
        ports = {name: free_port() for name in ALL_TARGETS}
        specs = targets(ports, records, rows, log_dir)
        for name in args.targets:
            spec = specs[name]
            requests = [
                build_request(ports[name], spec.predict_path, spec.body(i))
                for i in range(len(records))
            ]
            probes = {}
            if name == "ours":
                probes = {k: json.dumps(r).encode() for k, r in null_records.items()}
            elif name == "mlflow":
                probes = {
                    k: json.dumps({"dataframe_records": [r]}).encode()
                    for k, r in null_records.items()
                }
            try:
                result = run_target(spec, ports[name], requests, expected, args, workdir, probes)
            except RuntimeError as exc:
                server_log = (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                print(f"{name}: {exc}\n{server_log}")  # noqa: T201
                result = {"target": name, "label": spec.label, "error": str(exc)}
            report["targets"][name] = result
            if name == "ours" and "loads" in result:
                report["prediction_log"] = verify_log(log_dir, result["successful_requests"])
                print(f"prediction log: {report['prediction_log']}")  # noqa: T201
    report["load_end"] = machine_load()
    report["goals"] = goals(report["targets"])
    for g in report["goals"]:
        print(f"goal {g['goal']} {g['target']}: {g['value']} -> {g['met']}")  # noqa: T201
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if not args.no_markdown:
        write_markdown(markdown(report))
    print(f"wrote {args.out}" + ("" if args.no_markdown else f" and {MARKDOWN}"))  # noqa: T201


if __name__ == "__main__":
    main()
