"""The production entry point (``gunicorn -c python:service.http.gunicorn_conf
'service:create_app()'``)
serves /health, also while a long request runs; so does ``allocator serve``."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
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


#: The documented production command (README), before its ``--bind``.
GUNICORN_ARGS = ["-c", "python:service.http.gunicorn_conf"]


@contextlib.contextmanager
def run_gunicorn(
    tmp_path: Path, app: str = "service:create_app()", **env_vars: str
) -> Iterator[str]:
    """``gunicorn -c python:service.http.gunicorn_conf APP`` on a free port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "ALLOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
        "ALLOCATOR_INSTANCE_PATH": str(tmp_path),
        **env_vars,
    }
    env.pop("ALLOCATOR_ENV", None)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}", app],
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


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[str]:
    with run_gunicorn(tmp_path) as url:
        yield url


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


def test_oversized_request_does_not_block_health(tmp_path: Path) -> None:
    """One process (ALLOCATOR_WORKERS=1) of the documented command: while a round request holds
    a thread inside the solver (it waits at a gate the test controls), /health still answers."""
    from tests.service.conftest import make_tokens, small_request

    gate = tmp_path / "gate"
    gate.mkdir()
    os.mkfifo(gate / "entered")
    os.mkfifo(gate / "release")
    from service.store.db import Database

    database = Database(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    database.upgrade()
    headers = make_tokens(database)["analyste"]
    database.dispose()
    with run_gunicorn(
        tmp_path,
        "tests.service.gated_app:create_app()",
        ALLOCATOR_WORKERS="1",
        ALLOCATOR_TEST_GATE=str(gate),
    ) as url:
        answers: list[Any] = []

        def allocate() -> None:
            req = urllib.request.Request(
                url + "/v1/allocate",
                data=json.dumps(small_request()).encode(),
                headers={**headers, "Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:
                    answers.append(resp.status)
            except Exception as exc:
                answers.append(repr(exc))

        # opened before the request is sent: the server's write end never waits for a reader
        entered = os.open(gate / "entered", os.O_RDONLY | os.O_NONBLOCK)
        worker = threading.Thread(target=allocate)
        worker.start()
        inside = False
        try:
            inside = _read_byte(entered, worker) == b"1"
            assert inside, answers  # the round request holds a thread, inside the solver
            with urllib.request.urlopen(url + "/health", timeout=60) as resp:
                assert resp.status == 200
                assert json.loads(resp.read()) == {"status": "ok"}
            assert answers == []  # still waiting at the gate
        finally:
            os.close(entered)
            if inside:
                _release(gate / "release", worker)
            worker.join(120)
        assert answers == [200]


def _read_byte(fd: int, writer: threading.Thread) -> bytes:
    """One byte from the non-blocking FIFO ``fd``, or ``b""`` once ``writer`` is over."""
    while True:
        try:
            data = os.read(fd, 1)
        except BlockingIOError:
            data = b""
        if data or not writer.is_alive():
            return data
        time.sleep(0.05)


def _release(fifo: Path, waiting: threading.Thread) -> None:
    """Write to ``fifo`` once its reader has opened it; give up if the request ended otherwise
    (a failing run must not hang on a reader that is gone)."""
    while waiting.is_alive():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.05)
            continue
        try:
            os.write(fd, b"1")
        finally:
            os.close(fd)
        return


def test_allocator_serve_answers_requests_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``allocator serve`` runs the development server with one thread per request."""
    import werkzeug.serving
    from click.testing import CliRunner

    from service.cli.main import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite3'}")
    result = CliRunner().invoke(main, ["serve", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert seen["threaded"] is True
