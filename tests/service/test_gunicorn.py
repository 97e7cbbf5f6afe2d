"""Smoke test: the production entry point ``gunicorn 'service:create_app()'`` serves /health."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def gunicorn_server(tmp_path: Any) -> Any:
    port = free_port()
    env = {
        **os.environ,
        "ALLOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "ALLOCATOR_INSTANCE_PATH": str(tmp_path),
    }
    env.pop("ALLOCATOR_ENV", None)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "service:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_gunicorn_serves_health_and_ready(gunicorn_server: str) -> None:
    with urllib.request.urlopen(gunicorn_server + "/health", timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok"}
    with urllib.request.urlopen(gunicorn_server + "/ready", timeout=5) as resp:
        assert resp.status == 200
    req = urllib.request.Request(gunicorn_server + "/v1/rounds", method="GET")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 401
    assert err.value.headers["Content-Type"] == "application/problem+json"
    err.value.close()
