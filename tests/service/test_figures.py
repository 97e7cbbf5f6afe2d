"""Numbers that agree everywhere (issue 16): each programme figure has one definition, one French
label and one formatting, and every surface shows the same number for it.

The store of these tests holds what makes the figures differ: the 2021 committees 1-3 (678
posts, 2 of them to structures without a commune code), an engine round of 7 posts, one post
handed back to the pool, and a draft round where a structure asks for more than it holds.
"""

from __future__ import annotations

import csv
import html
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select

from service import create_app
from service.application import cycle, demandes, export, figures, portal_file, posts, rounds
from service.application.history import import_history, import_structure
from service.application.monthly import draft_monthly
from service.application.structures import upsert_structure
from service.cli.main import main
from service.contract.documents import StructureDocument
from service.contract.errors import Conflict
from service.store import repository as store
from service.store.db import Database
from service.store.models import Poste
from tests.service.conftest import fake_solve, make_tokens, structure_doc

NNBSP = "\u202f"
#: What the store below holds (counted by hand from the bundled file and the steps).
HISTORY_POSTS = 401 + 88 + 189  # committees 1-3 of 2021
UNPLACED = 2  # committee 3: two posts to structures without a commune code
ROUND_POSTS = 2 + 3 + 2  # the June round grants every request
EXPECTED = {
    "enveloppe": 4000,
    "attribues": HISTORY_POSTS + ROUND_POSTS,
    "rendus": 1,
    "consommes": HISTORY_POSTS + ROUND_POSTS - 1,
    "restants": 4000 - (HISTORY_POSTS + ROUND_POSTS - 1),
    "actifs": HISTORY_POSTS - UNPLACED + ROUND_POSTS - 1,
    "nonLocalises": UNPLACED,
}
#: The French labels, as every surface must write them.
LABELS = {
    "enveloppe": "enveloppe nationale",
    "attribues": "postes attribués",
    "rendus": "postes rendus au vivier",
    "consommes": "postes consommés",
    "restants": "postes restants",
    "actifs": "postes actifs",
    "nonLocalises": "postes non localisés",
}


def why_returned(n: int) -> str:
    posts = "1 poste rendu" if n == 1 else f"{fr(n)} postes rendus"
    return (
        f"Postes consommés = postes attribués − {posts} au vivier : l'enveloppe récupère les "
        "postes rendus."
    )


#: The two sentences that explain the differences of this store.
WHY_RETURNED = why_returned(1)
WHY_UNPLACED = (
    "Postes actifs = postes consommés − 2 postes non localisés : attribués en 2021 à des "
    "structures sans code commune, ils comptent dans l'enveloppe mais pas sur la carte."
)


def fr(n: int) -> str:
    """``n`` written the French way, independently of the code under test."""
    return f"{n:,}".replace(",", NNBSP)


def unescape(resp: Any) -> str:
    return html.unescape(resp.get_data(as_text=True))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, real_pipeline_module: None) -> dict[str, Any]:
    """The store (SQLite file) and the ids of its rounds, built once for the module."""
    path = tmp_path_factory.mktemp("figures") / "store.sqlite3"
    url = f"sqlite:///{path}"
    db = Database(url)
    db.upgrade()
    history = import_history(db, until="2021-04-08")
    with db.write() as s:
        for k, (code, asked) in enumerate([("01283", 2), ("75056", 3), ("97411", 2)]):
            doc = structure_doc(
                9001 + k,
                code,
                nombreConseillersSouhaites=asked,
                createdAt=f"2021-06-0{k + 2}T10:00:00Z",
            )
            upsert_structure(s, StructureDocument.model_validate(doc))
    june = draft_monthly(db, mois="2021-06", quota=ROUND_POSTS)
    assert june["resultat"]["totaux"]["attribues"] == ROUND_POSTS
    rounds.commit_round(db, june["id"], author="test")
    at = datetime(2021, 7, 1, tzinfo=UTC)
    # 9002 hands one of its 3 posts back; 9001 (2 posts) asks for one more
    demandes.file_request(db, 9002, type_="RESTITUTION", nombre=1, now=at, motif="trop")
    demandes.file_request(db, 9001, type_="AJOUT", nombre=1, now=at, motif="besoin")
    with db.write() as s:
        doc = structure_doc(9004, "13055", createdAt="2021-07-02T10:00:00Z")
        upsert_structure(s, StructureDocument.model_validate(doc))
    july = draft_monthly(db, mois="2021-07", quota=2)
    db.dispose()
    unplaced_round = next(t["id"] for t in history["tours"] if t["numero"] == "2021-coselec-3")
    return {"url": url, "june": june["id"], "july": july["id"], "unplaced_round": unplaced_round}


@pytest.fixture(scope="module")
def real_pipeline_module() -> None:
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")


@pytest.fixture
def figures_store(built: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A private copy of the built store (a test may write), with an app and its tokens."""
    copy = tmp_path / "store.sqlite3"
    shutil.copy(built["url"].removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    database = app.extensions["allocator.db"]
    yield {**built, "url": url, "app": app, "db": database, "tokens": make_tokens(database)}
    database.dispose()


def cli(url: str, *args: str) -> str:
    res = CliRunner().invoke(main, list(args), env={"ALLOCATOR_DATABASE_URL": url})
    assert res.exit_code == 0, res.output
    return res.stdout


def assert_figure(text: str, key: str, value: int) -> None:
    """``text`` shows figure ``key`` with its label and ``value`` written the French way."""
    pattern = rf"{re.escape(LABELS[key])} : {re.escape(fr(value))}(?![\d{NNBSP}])"
    assert re.search(pattern, text, re.IGNORECASE), f"{LABELS[key]} : {fr(value)}\n{text}"


# -- every surface, the same numbers -------------------------------------------------------------


def test_programme_figures_agree_on_every_surface(figures_store: dict[str, Any]) -> None:
    url, app, tokens = figures_store["url"], figures_store["app"], figures_store["tokens"]
    client = app.test_client()

    # the store, counted by hand: posts rows and the programme's counter
    with figures_store["db"].read() as s:
        rows = s.scalar(select(func.count(Poste.id)))
        returned = s.scalar(select(func.count(Poste.id)).where(Poste.statut == "RENDU"))
        prog = store.programme(s)
        assert rows + UNPLACED == EXPECTED["attribues"] and returned == EXPECTED["rendus"]
        assert prog.consumed == EXPECTED["consommes"]
        assert sum(cycle.store_existing(s).values()) == EXPECTED["actifs"]

    # allocator programme
    out = cli(url, "programme")
    for key, value in EXPECTED.items():
        assert_figure(out, key, value)
    assert WHY_RETURNED in out and WHY_UNPLACED in out

    # GET /v1/programme and allocator programme --json: one document
    api = client.get("/v1/programme", headers=tokens["analyste"]).get_json()
    assert {
        "enveloppe": api["enveloppe"],
        "attribues": api["postesAttribues"],
        "rendus": api["postesRendus"],
        "consommes": api["consomme"],
        "restants": api["restant"],
        "actifs": api["postesActifs"],
        "nonLocalises": api["postesNonLocalises"],
    } == EXPECTED
    assert api["ecarts"] == [WHY_RETURNED, WHY_UNPLACED]
    as_json = __import__("json").loads(cli(url, "programme", "--json"))
    assert {k: v for k, v in as_json.items() if k != "departements"} == {
        k: v for k, v in api.items() if k != "departements"
    }
    # per round: granted = active + returned + unplaced, as nationally
    per_round = {t["id"]: t for t in api["tours"]}
    assert sum(t["attribues"] for t in api["tours"]) == EXPECTED["attribues"]
    assert sum(t["postes"] for t in api["tours"]) == EXPECTED["actifs"]
    three = per_round[figures_store["unplaced_round"]]
    assert (three["attribues"], three["nonLocalises"], three["postes"]) == (189, 2, 187)

    # the rounds page
    assert client.post(
        "/agence/connexion",
        data={"csrf_token": _csrf(client), "jeton": _raw(tokens["agence"])},
    ).status_code in (302, 303)
    page = unescape(client.get("/agence/tours"))
    for key, value in EXPECTED.items():
        shown = re.search(rf'data-chiffre="{key}">([^<]*)<', page)
        assert shown is not None, key
        assert shown.group(1).removesuffix(" postes") == fr(value), (key, shown.group(1))
        assert LABELS[key][:1].upper() + LABELS[key][1:] in page
    assert WHY_RETURNED in page and WHY_UNPLACED in page
    assert "Déjà attribués" not in page


def test_round_lists_count_unplaced_posts(figures_store: dict[str, Any]) -> None:
    """A 2021 committee that granted 189 posts, 2 of them unplaced, shows 189 (dont 2 non
    localisés) in the API, the command line and the page: the rounds sum to the granted posts."""
    url, app, tokens = figures_store["url"], figures_store["app"], figures_store["tokens"]
    client = app.test_client()
    listed = client.get("/v1/rounds", headers=tokens["analyste"]).get_json()["rounds"]
    by_id = {r["id"]: r for r in listed}
    three = by_id[figures_store["unplaced_round"]]
    assert (three["attribues"], three["nonLocalises"]) == (189, 2)
    committed = [r for r in listed if r["statut"] == "committed"]
    assert sum(r["attribues"] for r in committed) == EXPECTED["attribues"]

    out = cli(url, "round", "list")
    line = next(ln for ln in out.splitlines() if ln.split()[0] == str(three["id"]))
    assert re.search(r"attribués\s+189\b", line) and "(dont 2 postes non localisés)" in line

    client.post(
        "/agence/connexion", data={"csrf_token": _csrf(client), "jeton": _raw(tokens["agence"])}
    )
    page = unescape(client.get("/agence/tours"))
    assert '189 <span class="aide">(dont 2 postes non localisés)</span>' in page


def test_round_page_shows_demande_restante_not_posts_already_granted(
    figures_store: dict[str, Any], tmp_path: Path
) -> None:
    """The July draft: 9001 asks 3 and holds 2, 9004 asks 2 → demande restante 3 (the old page
    said « Postes demandés 5 »). Page, CLI and Excel agree."""
    url, app, tokens = figures_store["url"], figures_store["app"], figures_store["tokens"]
    july = figures_store["july"]
    view = rounds.get_round(figures_store["db"], july)
    assert view["resultat"]["totaux"]["demandes"] == 5
    client = app.test_client()
    client.post(
        "/agence/connexion", data={"csrf_token": _csrf(client), "jeton": _raw(tokens["agence"])}
    )
    page = unescape(client.get(f"/agence/tours/{july}"))
    assert "Postes demandés" not in page
    assert re.search(r"<dt>Demande restante</dt><dd[^>]*>3</dd>", page)
    # the structure's row: remaining request, with what it asked and holds
    assert '1 <span class="aide">(3 demandés − 2 déjà attribués)</span>' in page

    out = cli(url, "round", "show", str(july))
    assert "demande restante 3 ;" in out

    pack = export.load_round(figures_store["db"], july)
    path = export.write_xlsx(pack, tmp_path / "t.xlsx")
    book = load_workbook(path)
    tour = {row[0]: row[1] for row in book["Tour"].iter_rows(min_row=2, values_only=True)}
    assert tour["demande restante"] == 3
    summary = list(book["Synthèse nationale"].iter_rows(values_only=True))
    col = summary[0].index("demande restante")
    assert sum(r[col] for r in summary[1:]) == 3


def test_letters_cite_the_store_envelope_remaining(
    figures_store: dict[str, Any], tmp_path: Path
) -> None:
    """« enveloppe nationale restante » in the July letters is the programme's remaining posts
    at the draft (4 000 − consumed, unplaced and returned posts counted), as in the Excel pack —
    not 4 000 − the advisors on the map (3 318 before the fix)."""
    july = figures_store["july"]
    view = rounds.get_round(figures_store["db"], july)
    restant = EXPECTED["restants"]
    assert view["programme"]["restant"] == restant
    assert view["resultat"]["rapport"]["envelope_remaining"] == restant
    for d in view["resultat"]["decisions"]:
        assert (
            f"enveloppe nationale restante : {fr(restant)} postes sur 4{NNBSP}000"
            in (d["explication"]["texte"])
        )
    pack = export.load_round(figures_store["db"], july)
    path = export.write_xlsx(pack, tmp_path / "l.xlsx")
    tour = {
        row[0]: row[1] for row in load_workbook(path)["Tour"].iter_rows(min_row=2, values_only=True)
    }
    assert tour["postes restants avant le tour"] == restant
    assert tour["postes consommés avant le tour"] == EXPECTED["consommes"]
    assert tour["enveloppe nationale"] == 4000
    # a re-solve (lock) keeps the store's envelope, and the round replays from its snapshot
    rounds.override_round(figures_store["db"], july, id_pg=9004, nombre=1, motif="arbitrage")
    again = rounds.get_round(figures_store["db"], july)
    assert again["resultat"]["rapport"]["envelope_remaining"] == restant
    rounds.commit_round(figures_store["db"], july, author="test")
    from service.application import replay

    assert replay.replay_round(figures_store["db"], july)["identique"]


# -- formatting ----------------------------------------------------------------------------------


def test_csv_export_uses_french_decimals_with_its_semicolon(
    figures_store: dict[str, Any], tmp_path: Path
) -> None:
    """The decisions CSV (separator ``;``) writes ``50000,0`` and ``70,0`` — never a point —
    and the portal-export reader takes them back."""
    pack = export.load_round(figures_store["db"], figures_store["june"])
    paths = export.export_round(pack, tmp_path, xlsx=False)
    decisions = next(p for p in paths if p.name.endswith("_decisions.csv"))
    with decisions.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert rows
    for r in rows:
        for column in ("note du projet", "coût standard par poste (euros)"):
            value = r[column]
            assert "." not in value and "," in value, (column, value)
            assert portal_file.parse_decimal(value) == float(value.replace(",", "."))
    by_id = {int(r["idPG"]): r for r in rows}
    assert by_id[9001]["coût standard par poste (euros)"] == "50000,0"
    assert by_id[9003]["coût standard par poste (euros)"] == "67500,0"  # 974


def test_programme_command_writes_euros_the_french_way(figures_store: dict[str, Any]) -> None:
    out = cli(figures_store["url"], "programme")
    assert "EUR" not in out
    # the June round holds 2 + (3 − 1 returned) mainland posts at 50,000 €, 2 in 974 at 67,500 €
    cost = fr(4 * 50_000 + 2 * 67_500)
    june = next(ln for ln in out.splitlines() if ln.startswith(f"  tour {figures_store['june']} "))
    assert june.endswith(f": attribués 7, rendus 1, actifs 6, coût pour l'État {cost} €"), june


def test_page_and_command_line_share_the_french_number_formatting(
    figures_store: dict[str, Any],
) -> None:
    """One formatting: the page's filters are :mod:`service.application.figures`' functions (the
    letters'
    :func:`service.explanations.wording.nombre`), not a twin."""
    from service.explanations.wording import nombre

    filters = figures_store["app"].jinja_env.filters
    assert filters["nombre"] is figures.nombre is nombre
    assert filters["pct"] is figures.pourcentage and filters["euros"] is figures.euros
    assert figures.euros(6_400_000) == f"6{NNBSP}400{NNBSP}000 €"
    assert figures.pourcentage(0.268) == f"26,8{NNBSP}%"


# -- the invariants, whatever happens -------------------------------------------------------------


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("round"), st.integers(1, 4), st.integers(0, 6)),
        st.tuples(st.just("import"), st.integers(1, 3)),
        st.tuples(st.just("rendre"), st.integers(0, 5), st.integers(1, 2)),
        st.tuples(st.just("echeances"), st.integers(0, 1)),
    ),
    max_size=6,
)


@pytest.fixture(scope="module")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the 2021 committees 1-3 (2 unplaced posts), copied by each example."""
    path = tmp_path_factory.mktemp("template") / "store.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    import_history(db, until="2021-04-08")
    db.dispose()
    return path


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_figures_add_up_after_any_sequence_of_decisions(
    history_template: Path, tmp_path_factory: pytest.TempPathFactory, operations: list[Any]
) -> None:
    """granted = consumed + returned; consumed = active + unplaced; remaining = envelope −
    consumed; active = the existing advisors of the next round — after rounds, admin history
    imports, hand-backs and deadline sweeps in any order."""
    copy = tmp_path_factory.mktemp("example") / "store.sqlite3"
    shutil.copy(history_template, copy)
    db = Database(f"sqlite:///{copy}")
    next_id, when = 20_000, datetime(2021, 6, 1, tzinfo=UTC)
    granted_total = HISTORY_POSTS
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rounds, "solve", fake_solve)
        for op in operations:
            when += timedelta(days=31)
            if op[0] == "round":
                with db.write() as s:
                    for _ in range(op[1]):
                        doc = structure_doc(next_id, "01283", nombreConseillersSouhaites=2)
                        upsert_structure(s, StructureDocument.model_validate(doc))
                        next_id += 1
                view = rounds.draft_round(db, mois="2021-06", quota=op[2])
                rounds.commit_round(db, view["id"], author="test")
                granted_total += view["resultat"]["totaux"]["attribues"]
            elif op[0] == "import":
                doc = structure_doc(
                    next_id,
                    "75056",
                    coselec=[
                        {"avisCoselec": "POSITIF", "nombreConseillersCoselec": op[1], "numero": "x"}
                    ],
                )
                import_structure(db, StructureDocument.model_validate(doc), author="admin")
                next_id += 1
                granted_total += op[1]
            elif op[0] == "rendre":
                candidates = sorted(rounds_granted(db))
                if candidates:
                    id_pg = candidates[op[1] % len(candidates)]
                    try:
                        demandes.file_request(
                            db, id_pg, type_="RESTITUTION", nombre=op[2], now=when, motif="test"
                        )
                    except Conflict:
                        pass  # fewer free posts than that: nothing happens
            else:
                posts.apply_deadlines(db, when + timedelta(days=400 * op[1]), "test")
            with db.read() as s:
                f = figures.programme_figures(s)
                assert f.attribues == granted_total
                assert f.consommes == f.attribues - f.rendus
                assert f.actifs == f.consommes - f.nonLocalises
                assert f.restants == f.enveloppe - f.consommes
                assert f.nonLocalises == UNPLACED
                assert sum(cycle.store_existing(s).values()) == f.actifs
                assert cycle.existing_state(s).consumed == f.consommes
                assert f.rendus == f.attribues - f.actifs - f.nonLocalises
                returned = [why_returned(f.rendus)] if f.rendus else []
                assert figures.differences(f) == [*returned, WHY_UNPLACED]
    db.dispose()


def rounds_granted(db: Database) -> set[int]:
    """Structures holding posts granted by a round (those may be handed back)."""
    with db.read() as s:
        return {
            int(i)
            for i in s.scalars(select(Poste.id_pg).where(Poste.round_id.is_not(None)).distinct())
        }


@given(st.integers(1, 1000), st.integers(0, 1000))
def test_remaining_request_is_the_engines_request_bound(requested: int, already: int) -> None:
    from allocator import Applicant, StructureType
    from allocator.model import request_bound

    a = Applicant(
        id_pg=1,
        type=StructureType.COMMUNE,
        code_commune="01283",
        departement="01",
        region="84",
        epci=None,
        requested=requested,
        gains=(),
        already_granted=already,
    )
    assert figures.remaining_request(requested, already) == request_bound(a)


# -- helpers ---------------------------------------------------------------------------------------


def _raw(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _csrf(client: Any) -> str:
    match = re.search(
        r'name="csrf_token" value="([^"]+)"', unescape(client.get("/agence/connexion"))
    )
    assert match
    return match.group(1)
