"""A closed-loop HTTP load generator for loopback servers: N clients, one keep-alive socket each.

Each client thread owns one persistent connection (TCP_NODELAY) and writes every request whole
with one `sendall` (head and body together, so no Nagle / delayed-ACK stall), waits for the
whole response, and sends the next: N requests in flight at most. After a warm-up, requests
*started* inside the measurement window are timed (perf_counter_ns, send to last byte) and
counted; a status other than 200, or a socket error, is an error. Bounded by the window and by
`max_requests`; it connects to 127.0.0.1 only.

    python -m bench.loadgen --port 8000 --path /predict --bodies bodies.jsonl --clients 8
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"


class HttpConnection:
    """One keep-alive HTTP/1.1 connection over a raw socket (Content-Length or chunked bodies)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        """Connect to 127.0.0.1:port with TCP_NODELAY."""
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def request(self, data: bytes) -> tuple[int, bytes, bool]:
        """Send one whole request; return status, body and whether the connection stays open."""
        self.sock.sendall(data)
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[: end + 4]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        else:  # body runs to the close of the connection
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            body, keep = bytes(self.buf), False
            self.buf.clear()
        return status, body, keep

    def _fill(self) -> None:
        """Read more bytes into the buffer; raise ConnectionError at end of stream."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        """Return the next n bytes of the stream."""
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self) -> bytes:
        """Return the next CRLF-terminated line (without the CRLF)."""
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return out

    def _chunked(self) -> bytes:
        """Return a chunked body, trailers skipped."""
        parts = []
        while True:
            size = int(self._line().split(b";", 1)[0], 16)
            if size == 0:
                while self._line():
                    pass
                return b"".join(parts)
            parts.append(self._take(size))
            self._take(2)


def build_request(
    port: int, path: str, body: bytes, content_type: str = "application/json"
) -> bytes:
    """Return the bytes of one keep-alive POST request, head and body together."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


@dataclass
class LoadResult:
    """What one load level measured."""

    clients: int
    seconds: float
    warmup_seconds: float
    requests: int  # requests started in the window (timed)
    ok: int  # of those, status 200
    errors: int  # of those, non-200 or a socket error
    rps: float  # successful requests per second in the window
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    total_ok: int  # every 200 response, warm-up and tail included (for log reconciliation)
    total_sent: int
    first_error: str | None = None
    statuses: dict[str, int] = field(default_factory=dict)


def _client(
    port: int,
    requests: list[bytes],
    offset: int,
    start_ns: int,
    end_ns: int,
    budget: int,
    barrier: threading.Barrier,
    out: dict[str, object],
) -> None:
    """Run one closed-loop client; fill `out` with its latencies and counts."""
    latencies: list[int] = []
    statuses: dict[str, int] = {}
    total_ok = total_sent = errors = 0
    first_error: str | None = None
    conn: HttpConnection | None = None
    barrier.wait()
    i = offset
    try:
        while total_sent < budget:
            t0 = time.perf_counter_ns()
            if t0 >= end_ns:
                break
            total_sent += 1
            try:
                if conn is None:
                    conn = HttpConnection(port)
                status, body, keep = conn.request(requests[i % len(requests)])
                if not keep:
                    conn.close()
                    conn = None
            except (OSError, ValueError, IndexError) as exc:
                status, body = -1, repr(exc).encode()
                if conn is not None:
                    conn.close()
                    conn = None
            t1 = time.perf_counter_ns()
            i += 1
            if status == 200:
                total_ok += 1
            if t0 < start_ns:
                continue
            latencies.append(t1 - t0)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status != 200:
                errors += 1
                if first_error is None:
                    first_error = f"{status}: {body[:300].decode('utf-8', 'replace')}"
    finally:
        if conn is not None:
            conn.close()
    out.update(
        latencies=latencies,
        statuses=statuses,
        total_ok=total_ok,
        total_sent=total_sent,
        errors=errors,
        first_error=first_error,
    )


def run_load(
    port: int,
    requests: list[bytes],
    *,
    clients: int,
    seconds: float = 10.0,
    warmup: float = 3.0,
    max_requests: int = 2_000_000,
) -> LoadResult:
    """Run `clients` closed-loop clients over pre-built requests; return the window's numbers."""
    if not requests:
        raise ValueError("no requests to send")
    barrier = threading.Barrier(clients + 1)
    outs: list[dict[str, object]] = [{} for _ in range(clients)]
    budget = math.ceil(max_requests / clients)
    # the clock starts when every client is ready; the window's edges are fixed up front
    now = time.perf_counter_ns()
    start_ns = now + int(warmup * 1e9) + 50_000_000
    end_ns = start_ns + int(seconds * 1e9)
    threads = [
        threading.Thread(
            target=_client,
            args=(
                port,
                requests,
                k * len(requests) // clients,
                start_ns,
                end_ns,
                budget,
                barrier,
                outs[k],
            ),
            daemon=True,
        )
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join(timeout=seconds + warmup + 120)
    if any(t.is_alive() for t in threads):
        raise RuntimeError("a client thread did not finish (server hung?)")
    lat = np.array([x for o in outs for x in o["latencies"]], dtype="float64") / 1e6
    statuses: dict[str, int] = {}
    for o in outs:
        for k, v in o["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    errors = sum(int(o["errors"]) for o in outs)
    ok = len(lat) - errors
    pct = np.percentile(lat, [50, 90, 99]) if len(lat) else [math.nan] * 3
    return LoadResult(
        clients=clients,
        seconds=seconds,
        warmup_seconds=warmup,
        requests=len(lat),
        ok=ok,
        errors=errors,
        rps=ok / seconds,
        p50_ms=float(pct[0]),
        p90_ms=float(pct[1]),
        p99_ms=float(pct[2]),
        max_ms=float(lat.max()) if len(lat) else math.nan,
        mean_ms=float(lat.mean()) if len(lat) else math.nan,
        total_ok=sum(int(o["total_ok"]) for o in outs),
        total_sent=sum(int(o["total_sent"]) for o in outs),
        first_error=next((o["first_error"] for o in outs if o["first_error"]), None),
        statuses=statuses,
    )


def main(argv: list[str] | None = None) -> None:
    """Load a loopback server with the JSON bodies of a file (one per line); print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--bodies", type=Path, required=True, help="one JSON body per line")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    lines = [ln for ln in args.bodies.read_text().splitlines() if ln.strip()]
    requests = [build_request(args.port, args.path, ln.encode()) for ln in lines]
    for n in (int(c) for c in args.clients.split(",")):
        result = run_load(
            args.port,
            requests,
            clients=n,
            seconds=args.seconds,
            warmup=args.warmup,
            max_requests=args.max_requests,
        )
        print(json.dumps(asdict(result)))  # noqa: T201


if __name__ == "__main__":
    main()
