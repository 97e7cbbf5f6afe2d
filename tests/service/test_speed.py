"""``service.speed``: every speed trick has a plain path (``ALLOCATOR_FAST=0``), same bytes."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service import speed
from service.application import pipeline
from service.cli import main as cli_main
from service.contract.schemas import parse_round_request
from tests.service.conftest import structure_doc

REPO = Path(__file__).resolve().parents[2]
CODES = ["01283", "69123", "13055", "29019", "97411", "2A004", "59350"]


def _request(n: int) -> dict:
    structures = [
        structure_doc(
            700 + i,
            CODES[i % len(CODES)],
            nombreConseillersSouhaites=1 + i % 3,
            qualiteProjet=35 + (i * 13) % 60,
        )
        for i in range(n)
    ]
    return {"quota": n // 2, "mois": "2021-06", "structures": structures}


def _without_seconds(text: str) -> str:
    return re.sub(r'"secondes":\s*[0-9.]+', '"secondes":0', text)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("1", True), ("0", False), (" 0 ", False)]
)
def test_fast_reads_the_environment_at_each_use(monkeypatch, value, expected) -> None:
    if value is None:
        monkeypatch.delenv(speed.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(speed.ENV_VAR, value)
    assert speed.fast() is expected
    assert speed.can_fork() is (expected and hasattr(os, "fork"))


def test_gc_paused_pauses_only_on_the_fast_path(monkeypatch) -> None:
    assert gc.isenabled()
    monkeypatch.setenv(speed.ENV_VAR, "1")
    with speed.gc_paused():
        assert not gc.isenabled()
        with speed.gc_paused(promote=True):  # nested: the outermost pause resumes
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    monkeypatch.setenv(speed.ENV_VAR, "0")
    with speed.gc_paused(promote=True):
        assert gc.isenabled()
    assert gc.isenabled()


def test_leave_now_returns_on_the_plain_path(monkeypatch) -> None:
    monkeypatch.setenv(speed.ENV_VAR, "0")
    monkeypatch.setattr(os, "_exit", lambda code: pytest.fail("os._exit called"))
    assert speed.leave_now(0) is None


def test_a_round_is_encoded_alike_with_and_without_the_fork(monkeypatch) -> None:
    solved = pipeline.solve_round(parse_round_request(_request(30)))
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    forks: list[int] = []
    real_fork = speed.fork_work
    monkeypatch.setattr(speed, "fork_work", lambda work: forks.append(1) or real_fork(work))
    monkeypatch.setenv(speed.ENV_VAR, "0")
    plain = pipeline.encode_round(solved, processes=2)
    assert forks == []  # the plain path explains the round in this process
    if hasattr(os, "fork"):
        monkeypatch.setenv(speed.ENV_VAR, "1")
        assert pipeline.encode_round(solved, processes=2) == plain
        assert forks == [1]
    assert plain == pipeline.dumps_bytes(solved.contract())


def test_run_leaves_at_once_only_after_allocate(monkeypatch, tmp_path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_request(6)), encoding="utf-8")
    left: list[int] = []

    def leave(code: int = 0) -> None:
        left.append(code)

    monkeypatch.setattr(speed, "leave_now", leave)
    monkeypatch.setattr(
        sys, "argv", ["allocator", "allocate", str(request), "-o", str(tmp_path / "r.json")]
    )
    with pytest.raises(SystemExit) as exc:
        cli_main.run()
    assert exc.value.code in (0, None)
    assert left == [0]
    monkeypatch.setattr(sys, "argv", ["allocator", "--version"])
    with pytest.raises(SystemExit):
        cli_main.run()
    assert left == [0]  # any other command exits the normal way


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_program_writes_the_same_bytes_both_ways(tmp_path, jobs) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_request(24)), encoding="utf-8")
    outputs = {}
    for fast in ("1", "0"):
        done = subprocess.run(
            [sys.executable, "-m", "service.cli.main", "allocate", str(request), "--jobs", jobs],
            cwd=REPO,
            env={**os.environ, speed.ENV_VAR: fast},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "postes attribués" in done.stderr
        outputs[fast] = _without_seconds(done.stdout)
    assert outputs["1"] == outputs["0"]
    assert json.loads(outputs["0"])["decisions"]
