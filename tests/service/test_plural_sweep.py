"""Numbers and the words after them agree: « 1 poste », « 3 postes », never « poste(s) ».

Three sweeps, each over everything it can reach rather than one example:

- the source: every string literal of ``service/`` (docstrings and comments aside) and every
  template of the agency pages;
- the agency pages: a committee session on the real engine (draft, locks set and lifted,
  confirmation, commit), every page reachable from the list of rounds crawled after each step,
  with the flash messages of each action and the text downloads;
- the command line: the commands of a monthly round and of the programme on a temporary store,
  their standard output and errors.

Every README command (real engine, national demo) is swept as well, in
``tests/test_readme_commands.py``. The one rule of agreement is
:func:`service.explanations.wording.pluriel` (``pluriel`` filter in the templates).
"""

from __future__ import annotations

import ast
import html
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from service.application import figures
from service.cli.main import main
from service.explanations.wording import est_pluriel, nombre
from service.store.db import Database
from tests.service.conftest import make_tokens, structure_doc

SERVICE = Path(__file__).resolve().parents[2] / "service"
TEMPLATES = SERVICE / "ui" / "templates"
#: « poste(s) », « accordé(s) », « le(s) tour(s) »: a plural left to the reader.
PARENTHESISED = re.compile(r"\w\(s\)")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HREF_RE = re.compile(r'href="(/agence/[^"#?]*)(?:\?[^"#]*)?(?:#[^"]*)?"')


def _found(text: str) -> list[str]:
    """Each parenthesised plural of ``text``, with a few characters around it."""
    return [text[max(0, m.start() - 30) : m.end() + 10] for m in PARENTHESISED.finditer(text)]


# -- the source --------------------------------------------------------------------------------


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _string_literals(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_no_string_of_the_service_and_no_template_leaves_the_plural_to_the_reader() -> None:
    sources = sorted(SERVICE.rglob("*.py"))
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(sources) > 40 and len(templates) >= 7  # the sweep reaches the whole package
    offending = [
        f"{path.relative_to(SERVICE.parent)}:{line}: {hit}"
        for path in sources
        for line, value in _string_literals(path)
        for hit in _found(value)
    ]
    for path in templates:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            offending += [f"{path.relative_to(SERVICE.parent)}:{number}: {h}" for h in _found(line)]
    assert offending == []


def test_the_sweep_sees_a_parenthesised_plural(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Never « poste(s) »."""\nx = f"{n} poste(s)"\n', encoding="utf-8")
    assert [hit for _, value in _string_literals(sample) for hit in _found(value)] == [" poste(s)"]


@given(st.integers(min_value=-(10**6), max_value=10**6), st.sampled_from(sorted(figures.FIGURES)))
def test_figure_labels_agree_by_the_one_rule(n: int, key: str) -> None:
    label = figures.FIGURES[key].libelle
    text = figures.compte(n, key)
    assert text.startswith(nombre(n) + " ")
    assert text.endswith(label) == (est_pluriel(n) or label == text.split(" ", 1)[1])
    assert "(s)" not in text


# -- the agency pages --------------------------------------------------------------------------


def _text(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


class _Session:
    """A signed-in agency client that keeps every text it was shown."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.seen: dict[str, str] = {}
        raw = {
            r: h["Authorization"].removeprefix("Bearer ")
            for r, h in make_tokens(app.extensions["allocator.db"]).items()
        }
        self.portail = raw["portail"]
        login = _text(self.client.get("/agence/connexion"))
        token = CSRF_RE.search(login)
        assert token is not None
        signed = self.client.post(
            "/agence/connexion", data={"csrf_token": token.group(1), "jeton": raw["agence"]}
        )
        assert signed.status_code == 302
        listed = CSRF_RE.search(_text(self.client.get("/agence/tours")))
        assert listed is not None
        self.csrf = listed.group(1)

    def post(self, path: str, **form: str) -> str:
        resp = self.client.post(path, data={"csrf_token": self.csrf, **form}, follow_redirects=True)
        assert resp.status_code == 200, (path, resp.status_code)
        body = _text(resp)
        self.seen[f"POST {path} {form}"] = body  # with the flash message of the action
        return body

    def crawl(self, step: str) -> int:
        """Every page reachable from the list of rounds; text downloads included."""
        queue, visited = deque(["/agence/tours"]), set()
        while queue:
            path = queue.popleft()
            if path in visited or "/static/" in path or path.endswith((".png", "/xlsx")):
                continue
            visited.add(path)
            resp = self.client.get(path)
            assert resp.status_code == 200, (path, resp.status_code)
            body = _text(resp)
            self.seen[f"{step} GET {path}"] = body
            if resp.mimetype == "text/html":
                queue.extend(HREF_RE.findall(resp.get_data(as_text=True)))
        return len(visited)


def _seed(session: _Session) -> None:
    """Seven applications: a département with one structure, others with several."""
    codes = ("01283", "01053", "75056", "13055", "01283", "01053", "13055")
    for i, code in enumerate(codes, 1):
        doc = structure_doc(i, code, nombreConseillersSouhaites=1 + i % 3, qualiteProjet=60 + i)
        resp = session.client.put(
            f"/v1/structures/{i}", json=doc, headers={"Authorization": f"Bearer {session.portail}"}
        )
        assert resp.status_code == 201, resp.get_json()


@pytest.fixture
def real_app(sqlite_url: str, real_pipeline: None, tmp_path: Path, monkeypatch: Any) -> Any:
    from service.app import create_app

    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})
    yield application
    application.extensions["allocator.db"].dispose()


def test_no_agency_page_leaves_the_plural_to_the_reader(real_app: Any) -> None:
    session = _Session(real_app)
    _seed(session)
    session.post("/agence/tours", mois="2021-06", quota="5")
    assert session.crawl("brouillon") >= 10  # list, round, 7 structures, validation, downloads
    session.post("/agence/tours/1/verrous", idPG="1", nombre="1", motif="financé par ailleurs")
    session.post("/agence/tours/1/verrous", idPG="2", nombre="0", motif="dossier incomplet")
    session.post("/agence/tours/1/verrous/2/levee", motif="dossier complété")
    session.crawl("verrous")
    validation = session.seen["verrous GET /agence/tours/1/validation"]
    assert "1 verrou du comité, avec son motif" in validation
    session.post("/agence/tours/1/validation", version="4", confirme="oui")
    session.crawl("validé")
    session.seen["erreur"] = _text(session.client.get("/agence/tours/99"))
    offending = {where: _found(body) for where, body in session.seen.items() if _found(body)}
    assert offending == {}
    assert any("Certificat de reproductibilité" in body for body in session.seen.values())


# -- the command line --------------------------------------------------------------------------


def test_no_command_output_leaves_the_plural_to_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_solver: Any
) -> None:
    from service.application.structures import upsert_structure
    from service.contract.documents import StructureDocument

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    monkeypatch.setenv("ALLOCATOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    database = Database(url)
    database.upgrade()
    with database.write() as s:
        for i, code in enumerate(("01283", "01053", "75056", "13055"), 1):
            doc = structure_doc(i, code, nombreConseillersSouhaites=i)
            upsert_structure(s, StructureDocument.model_validate(doc))
    commands = [
        "db upgrade",
        "token create --role agence --label anct",
        "token list",
        "round draft --mois 2021-06 --quota 4",
        "round show 1",
        "round show 1 --retenues",
        "round override 1 --idpg 2 --nombre 1 --motif arbitrage",
        "round override 1 --idpg 2 --lever --motif levée",
        "round list",
        "round commit 1",
        "round replay 1",
        "round replay --tous",
        "round export 1 --out export",
        "programme",
        "postes liste 1",
        "postes echeances --date 2099-01-01",
        "postes echeances --date 2099-01-01 --appliquer",
        "postes echeances --date 2099-01-01 --appliquer",
        "db purge",
        "cache info",
        "cache clear",
        "notice --format md",
        "simulate --mois 2021-06..2021-06 --politiques premier_arrive --out sim --no-plots",
    ]
    outputs = []
    for line in commands:
        result = CliRunner().invoke(main, line.split())
        assert result.exception is None or isinstance(result.exception, SystemExit), line
        assert "Traceback" not in result.output, (line, result.output)
        outputs.append((line, result.output))
    said = dict(outputs)
    assert "3 structures retenues sur 4" in said["round show 1 --retenues"]  # the real words
    assert "1 poste / part" in said["programme"] and "0 poste / part" in said["programme"]
    applied = commands.index("postes echeances --date 2099-01-01 --appliquer")
    assert "4 rendus au vivier" in outputs[applied][1]
    assert "0 rendu au vivier" in outputs[applied + 1][1]
    assert "2021-06..2021-06 : 1 tour mensuel, " in said[commands[-1]]
    assert re.fullmatch(r"\d+ fichiers? supprimés?\n", said["cache clear"])
    offending = {line: _found(out) for line, out in outputs if _found(out)}
    assert offending == {}
