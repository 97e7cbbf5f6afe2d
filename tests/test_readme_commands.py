"""Every command line that README.md shows runs as written: exit 0, against a temporary store.

Which lines are commands (the convention is also stated in the README, section Development):

1. In a fenced ``bash`` block, each line is split on ``&&`` (shell comments dropped); every
   segment that runs the ``allocator`` program (``allocator …`` or ``.venv/bin/allocator …``) is
   a command; the Quick start's block shares its store with the table, every other block is a
   recipe run top to bottom on a fresh store. The other
   segments (venv, pip, ruff, mypy, pytest) make the environment this test runs in: ``.ci/run``
   runs the Quick start's test line verbatim, and the Quick start's ``allocator`` segments
   (``cache prepare``, ``demo``) are run here like any other.
2. In a table whose first header cell is ``command``, every code span of the first column is a
   command. ``·`` separates commands; one that does not start with ``allocator`` continues the
   group of the previous one (``show ID`` after ``allocator round draft …`` is
   ``allocator round show ID``), unless its first word is a top-level command (``token list``).
   ``a \\| b`` are alternatives: each is run. ``[…]`` is optional: the command is run without it,
   then with it. ``…`` (an ellipsis) is refused: write a command that runs.
3. UPPERCASE words (``ID``, ``N``, ``REQUEST.json``) are placeholders, filled by
   :data:`PLACEHOLDERS` from the state the earlier commands left; a placeholder missing there
   fails the test, naming it. An uppercase value that the command accepts as one of its
   choices (``--type AJOUT``) is a value, not a placeholder.

The commands run in README order, with the installed ``allocator`` program, in one temporary
folder: the embedded store is its ``instance/`` (no ``ALLOCATOR_DATABASE_URL``), outputs go to its
``out/``, and the geodata cache is a folder of this test (``cache clear`` empties only that one).
The monthly-round commands presuppose applications sent by the portal: before the first
``round draft`` the test submits twelve (:func:`submit_applications`), as the portal would.
``allocator serve`` runs until stopped: it is started on a free port (``--port`` is added),
must answer ``GET /health``, and is then stopped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from service.application.structures import upsert_structure
from service.cli.main import main

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = README.parent / "docs" / "exemples"
PROGRAM = Path(sys.executable).parent / "allocator"


# -- reading the README ----------------------------------------------------------------------


def _bash_blocks(text: str) -> Iterator[list[str]]:
    """The ``allocator`` commands of each fenced ``bash`` block (shell comments dropped)."""
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        commands = []
        for line in block.splitlines():
            for segment in line.split("&&"):
                words = shlex.split(segment, comments=True)
                if words and words[0] in ("allocator", ".venv/bin/allocator"):
                    commands.append(" ".join(["allocator", *words[1:]]))
        yield commands


def _table_cells(text: str) -> Iterator[str]:
    """First cells of the rows of every table whose header starts with ``command``."""
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
            continue
        if rows and rows[0] and rows[0][0] == "command":
            yield from (r[0] for r in rows[2:])
        rows = []


#: What the README shows that is not a command that runs (checked by a test, not at collection).
PROBLEMS: list[str] = []


def _top_level() -> set[str]:
    return set(main.list_commands(click.Context(main)))


def _group_of(words: list[str]) -> list[str]:
    """``allocator round draft --mois …`` → ``allocator round`` (the words before the command)."""
    command: click.Command = main
    path = ["allocator"]
    for word in words[1:]:
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(click.Context(command), word)
        if sub is None:
            break
        if not isinstance(sub, click.Group) or sub.invoke_without_command:
            return path
        command, path = sub, [*path, word]
    return path


def _table_commands(text: str) -> Iterator[str]:
    top = _top_level()
    for cell in _table_cells(text):
        previous: list[str] = []
        for span in re.findall(r"`([^`]+)`", cell):
            span = span.replace("\\|", "|").strip()
            if "…" in span:
                PROBLEMS.append(f"README: {span!r} is not a command that runs (…)")
                continue
            words = span.split()
            if words[0] != "allocator":
                prefix = ["allocator"] if words[0] in top else _group_of(previous)
                words = [*prefix, *words]
            previous = words
            yield " ".join(words)


def _expand(command: str) -> list[list[str]]:
    """Variants of a documented command: optional parts without then with, each alternative."""
    tokens = re.sub(r"\s*\|\s*", "|", command).replace("[", " [ ").replace("]", " ] ").split()
    optional: list[list[str]] = []  # the optional groups, in order
    skeleton: list[Any] = []
    group: list[str] | None = None
    for tok in tokens:
        if tok == "[":
            group = []
        elif tok == "]":
            assert group is not None, command
            optional.append(group)
            skeleton.append(len(optional) - 1)
            group = None
        elif group is not None:
            group.append(tok)
        else:
            skeleton.append(tok)
    variants = []
    for chosen in ([], list(range(len(optional)))) if optional else ([],):
        words = []
        for item in skeleton:
            if isinstance(item, int):
                words += optional[item] if item in chosen else []
            else:
                words.append(item)
        slots = [w.split("|") for w in words]
        for alternative in range(max(len(s) for s in slots)):
            variant = [s[min(alternative, len(s) - 1)] for s in slots]
            if variant not in variants:
                variants.append(variant)
    return variants


#: The scene of the Quick start: its block, then the table's commands, run in one store.
MAIN = "quick start"


def readme_commands() -> list[tuple[str, list[str]]]:
    """``(scene, words)`` of every command. The Quick start's block and the command table share
    one store (:data:`MAIN`); every other ``bash`` block is a recipe of its own, run top to bottom
    on a fresh store (its scene is its first command)."""
    text = README.read_text(encoding="utf-8")
    out: list[tuple[str, list[str]]] = []
    recipes: list[tuple[str, list[str]]] = []
    for i, block in enumerate(_bash_blocks(text)):
        scene = MAIN if i == 0 else f"recette : {block[0]}" if block else ""
        target = out if i == 0 else recipes
        for command in block:
            target += [(scene, words) for words in _expand(command)]
    for command in _table_commands(text):
        out += [(MAIN, words) for words in _expand(command)]
    return out + recipes


# -- the state the commands run in -------------------------------------------------------------


@dataclass
class Workspace:
    root: Path
    env: dict[str, str]
    done: set[str] = field(default_factory=set)

    @property
    def database(self) -> Any:
        from service.store.db import Database, default_sqlite_url

        return Database(default_sqlite_url(str(self.root / "instance")))

    def latest_round(self) -> dict[str, Any]:
        from service.application import rounds

        database = self.database
        try:
            return rounds.get_round(database, rounds.list_rounds(database)[-1]["id"])
        finally:
            database.dispose()

    def granted(self) -> dict[str, Any]:
        """A decision of the latest round that grants posts."""
        return next(
            d
            for d in self.latest_round()["resultat"]["decisions"]
            if d["nombreConseillersAttribues"] > 0
        )

    def latest_token(self) -> int:
        from service.store import repository as store

        database = self.database
        try:
            with database.read() as s:
                return max(t.id for t in store.list_tokens(s))
        finally:
            database.dispose()


def submit_applications(ws: Workspace) -> None:
    """Twelve applications received before the June 2021 cut-off, as the portal sends them."""
    from service.contract.documents import StructureDocument

    database = ws.database
    try:
        with database.write() as s:
            for i, code in enumerate(["59350", "59178", "62041", "80021"] * 3, start=1):
                upsert_structure(
                    s,
                    StructureDocument.model_validate(
                        {
                            "idPG": 900_000 + i,
                            "type": "COMMUNE",
                            "nom": f"Commune candidate {i}",
                            "codeCommune": code,
                            "nombreConseillersSouhaites": 2,
                            "qualiteProjet": 60 + i,
                            "createdAt": "2021-06-01T10:00:00Z",
                        }
                    ),
                )
    finally:
        database.dispose()


#: Run once before the first command that starts with the key.
PRECONDITIONS: dict[str, Callable[[Workspace], None]] = {
    "allocator round draft": submit_applications,
}


def _request_file(ws: Workspace) -> str:
    from service.application.history import demo_request

    path = ws.root / "requete.json"
    if not path.exists():
        path.write_text(json.dumps(demo_request(), ensure_ascii=False), encoding="utf-8")
    return str(path)


#: Placeholder → its value, from the command's words before it and the workspace.
PLACEHOLDERS: dict[str, Callable[[list[str], Workspace], str]] = {
    "REQUEST.json": lambda _, ws: _request_file(ws),
    "RESULT.json": lambda _, ws: "out/resultat.json",
    "N": lambda before, ws: {
        "--jobs": lambda: "2",
        "--quota": lambda: "4",
        "--idpg": lambda: str(ws.granted()["idPG"]),
    }[before[-1]](),
    "K": lambda _, ws: str(ws.granted()["nombreConseillersAttribues"]),
    "TEXTE": lambda _, ws: "arbitrage du comité",
    "ID": lambda before, ws: (
        str(ws.latest_token()) if before[1] == "token" else str(ws.latest_round()["id"])
    ),
    "IDPG": lambda _, ws: str(ws.granted()["idPG"]),
    "AAAA-MM-JJ": lambda _, ws: "2021-05-19",
    "ENCODAGE": lambda _, ws: "utf-8",
    "FICHIER": lambda _, ws: "docs/exemples/export_portail_2021-06.csv",
}


def _is_placeholder(word: str) -> bool:
    return re.fullmatch(r"[A-Z][A-Z_-]*(\.[a-z]+)?", word) is not None


def _choices(words: list[str]) -> set[str]:
    """The values the command named by ``words`` offers as choices (``click.Choice``)."""
    command: click.Command = main
    for word in words[1:]:
        if not isinstance(command, click.Group):
            break
        command = command.get_command(click.Context(command), word) or command
    return {
        str(c) for p in command.params if isinstance(p.type, click.Choice) for c in p.type.choices
    }


def _fill(words: list[str], ws: Workspace) -> list[str]:
    out: list[str] = []
    choices = _choices(words)
    for word in words:
        if _is_placeholder(word) and word not in choices:
            assert word in PLACEHOLDERS, (
                f"README placeholder {word!r} in {' '.join(words)!r}: give it a value in "
                "tests/test_readme_commands.py PLACEHOLDERS"
            )
            out.append(PLACEHOLDERS[word](out, ws))
        else:
            out.append(word)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(argv: list[str], ws: Workspace) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*argv, "--port", str(port)],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for loopback
    try:
        answered = None
        for _ in range(600):  # up to about a minute for the application to start
            if proc.poll() is not None:
                break
            try:
                with direct.open(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    answered = r.status
                    break
            except OSError:
                time.sleep(0.1)
        assert answered == 200, f"allocator serve did not answer /health (exit {proc.poll()})"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=60)
    assert b"Traceback" not in output, output.decode(errors="replace")


COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Workspace]:
    """One workspace per scene, made on first use; the geodata cache is shared."""
    root = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOCATOR_")}
    env["ALLOCATOR_CACHE_DIR"] = str(root / "cache")

    class _Spaces(dict[str, Workspace]):
        def __missing__(self, scene: str) -> Workspace:
            ws = Workspace(root / f"scene{len(self)}", env)
            ws.root.mkdir()
            # The README's relative paths (the sample export) resolve as in a checkout.
            shutil.copytree(EXAMPLES, ws.root / "docs" / "exemples")
            self[scene] = ws
            return ws

    return _Spaces()


def test_the_readme_shows_the_commands_of_the_quick_start_and_of_the_table() -> None:
    assert PROBLEMS == []
    shown = [" ".join(c) for s, c in COMMANDS if s == MAIN]
    assert shown[:2] == ["allocator cache prepare", "allocator demo"]  # the Quick start
    for expected in (
        "allocator allocate REQUEST.json",
        "allocator allocate REQUEST.json -o RESULT.json --jobs N --explication compacte",
        "allocator cache info",
        "allocator round show ID",
        "allocator round replay --tous",
        "allocator notice --format html",
        "allocator scenario compare",
        "allocator scenario robustesse --tirages 1000",
        "allocator territoire diagnostic --departement 01",
        "allocator token revoke ID",
        "allocator db purge",
    ):
        assert expected in shown


@pytest.mark.parametrize(
    ("scene", "words"),
    COMMANDS,
    ids=[" ".join(c) if s == MAIN else f"{s} | {' '.join(c)}" for s, c in COMMANDS],
)
def test_readme_command_runs_as_written(
    scene: str, words: list[str], workspaces: dict[str, Workspace]
) -> None:
    ws = workspaces[scene]
    text = " ".join(words)
    for prefix, prepare in PRECONDITIONS.items():
        if scene == MAIN and text.startswith(prefix) and prefix not in ws.done:
            prepare(ws)
            ws.done.add(prefix)
    argv = [str(PROGRAM), *_fill(words, ws)[1:]]
    if words[1:2] == ["serve"]:
        _serve(argv, ws)
        return
    result = subprocess.run(
        argv, cwd=ws.root, env=ws.env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, (
        f"{shlex.join(argv[1:])} → exit {result.returncode}\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr
    # numbers and the words after them agree (tests/service/test_plural_sweep.py)
    assert not re.search(r"\w\(s\)", result.stdout + result.stderr), shlex.join(argv[1:])


def test_placeholders_are_uppercase_words_only() -> None:
    assert [w for w in ("ID", "N", "K", "TEXTE", "REQUEST.json", "IDPG") if _is_placeholder(w)]
    assert not any(_is_placeholder(w) for w in ("2021-06", "agence", "--xlsx", "01", "md", "2A"))
    assert list(itertools.chain(*_expand("allocator cache prepare | info | clear"))) == [
        "allocator",
        "cache",
        "prepare",
        "allocator",
        "cache",
        "info",
        "allocator",
        "cache",
        "clear",
    ]
