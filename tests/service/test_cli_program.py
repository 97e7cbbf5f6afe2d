"""The ``allocator`` program as the agency runs it: a fresh process (``service.cli.main.run``).

``run`` ends the process with ``os._exit`` once ``allocate`` has written its output
(``service.speed.leave_now``): these tests check, from outside the process, that the output is
complete and the exit codes unchanged.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli.main import main
from tests.service.conftest import structure_doc

REPO = Path(__file__).resolve().parents[2]
CODES = ["01283", "69123", "13055", "29019", "97411", "59350"]


def _request(n: int) -> dict:
    structures = [
        structure_doc(
            500 + i,
            CODES[i % len(CODES)],
            nombreConseillersSouhaites=1 + i % 3,
            qualiteProjet=40 + i,
        )
        for i in range(n)
    ]
    return {"quota": n // 2, "mois": "2021-06", "structures": structures}


def _program(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli.main", *args],
        cwd=REPO,
        env=dict(os.environ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _without_seconds(text: str) -> str:
    return re.sub(r'"secondes":\s*[0-9.]+', '"secondes":0', text)


@pytest.fixture(scope="module")
def request_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("program") / "request.json"
    path.write_text(json.dumps(_request(24)), encoding="utf-8")
    return path


def test_the_console_script_is_run() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "allocator"]
    assert script.value == "service.cli.main:run"


def test_allocate_output_is_complete_and_as_in_process(request_file: Path, tmp_path: Path) -> None:
    in_process = CliRunner().invoke(main, ["allocate", str(request_file)])
    assert in_process.exit_code == 0, in_process.output

    to_stdout = _program("allocate", str(request_file), "--jobs", "2")
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert "postes attribués" in to_stdout.stderr  # the summary reached stderr before leaving
    assert _without_seconds(to_stdout.stdout) == _without_seconds(in_process.stdout)

    out = tmp_path / "result.json"
    to_file = _program("allocate", "-", "-o", str(out), stdin=request_file.read_text())
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""
    result = json.loads(out.read_text(encoding="utf-8"))
    assert len(result["decisions"]) == 24
    assert all("texte" in d["explication"] for d in result["decisions"])
    assert _without_seconds(out.read_text(encoding="utf-8")) == _without_seconds(in_process.stdout)


def test_failures_keep_their_exit_codes(request_file: Path, tmp_path: Path) -> None:
    bad = _request(3)
    bad["structures"][1]["codeCommune"] = "ABC"
    out = tmp_path / "never.json"
    invalid = _program("allocate", "-", "-o", str(out), stdin=json.dumps(bad))
    assert invalid.returncode == 2
    assert "structures[1].codeCommune" in invalid.stderr
    assert not out.exists()

    assert _program("allocate", str(tmp_path / "missing.json")).returncode == 2  # click usage
    # an output nowhere to go is refused before the round is solved
    nowhere = CliRunner().invoke(
        main, ["allocate", str(request_file), "-o", str(tmp_path / "no" / "r.json")]
    )
    assert nowhere.exit_code == 2
    assert "dossier inexistant" in nowhere.output
    assert _program("--version").returncode == 0  # other commands exit the normal way


def test_allocate_writes_a_forked_childs_half_in_place(
    request_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.application import pipeline

    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["allocate", str(request_file), "-o", str(one), "--jobs", "1"]
        ).exit_code
        == 0
    )
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)  # 24 decisions: 12 by a child
    forked = runner.invoke(main, ["allocate", str(request_file), "-o", str(two), "--jobs", "2"])
    assert forked.exit_code == 0, forked.output
    assert _without_seconds(two.read_text(encoding="utf-8")) == _without_seconds(
        one.read_text(encoding="utf-8")
    )
    to_stdout = runner.invoke(main, ["allocate", str(request_file), "--jobs", "2"])
    assert _without_seconds(to_stdout.stdout) == _without_seconds(one.read_text(encoding="utf-8"))


def test_a_failed_write_leaves_no_half_written_result(
    request_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from service.application import pipeline

    @contextlib.contextmanager
    def full_disk(solved, processes, niveau="complete"):  # the first bytes go out, then full
        def parts():
            yield b'{"status":"OPTIMAL",'
            raise OSError(28, "No space left on device")

        yield parts()

    monkeypatch.setattr(pipeline, "encoded_round", full_disk)
    out = tmp_path / "result.json"
    out.write_text("an earlier result", encoding="utf-8")
    result = CliRunner().invoke(main, ["allocate", str(request_file), "-o", str(out)])
    assert result.exit_code == 1
    assert "No space left on device" in result.output
    assert not out.exists()
