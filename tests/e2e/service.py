"""A real `loopline serve` process on 127.0.0.1 and a small HTTP client for the e2e tests."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.rest import RestClient

from .conftest import BIN, Repo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client(RestClient):
    """HTTP/1.1 over a real socket, one connection per request."""

    def __init__(self, port: int) -> None:
        self.port = port

    def send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@contextmanager
def serving(
    repo: Repo, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> Iterator[Client]:
    """Run `loopline serve ARGS` in the repository until the block ends; yield a client.

    `env` adds variables to the service's environment (e.g. LOOPLINE_API_TOKEN).
    """
    port = free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if k not in ("DVC_ROOT", "MLFLOW_TRACKING_URI")}
    env.pop("LOOPLINE_API_TOKEN", None)
    env.update(extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    server = subprocess.Popen(
        [str(BIN / "loopline"), "serve", "--port", str(port), *args],
        cwd=repo.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = Client(port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"`loopline serve` exited:\n{server.communicate()[0]}")
        try:
            if client.request("GET", "/ready")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        raise AssertionError(f"service did not become ready:\n{server.communicate()[0]}")
    try:
        yield client
    finally:
        server.terminate()
        server.wait(timeout=30)
