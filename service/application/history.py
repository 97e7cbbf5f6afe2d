"""The bundled 2021 first wave: portal documents, demo requests and the history import.

The 1,450 host structures validated by the 2021 comités de sélection (DOMAIN.md, "Realistic demo
rounds") are the most realistic applicants we have. They serve twice:

- as **documents**: :func:`portal_documents` turns rows of the bundled file into portal structure
  documents; :func:`demo_request` replays one committee's structures as a stateless round
  request, with the structures of earlier committees as existing advisors and a quota below what
  they asked; :func:`export_documents` gives the sample export of the README's monthly cycle;
- as **history**: :func:`import_history` imports the 8 committees as committed rounds of origin
  ``historique`` (:data:`service.application.cycle.ORIGINE_HISTORIQUE`), after which the store is
  the single source of existing advisors (:mod:`service.application.cycle`);
  :func:`history_result` re-derives a committee's result for its replay
  (:mod:`service.application.replay`). :func:`import_structure` is the admin's import of one
  structure with the decisions taken before the service.

What is real and what is synthetic
----------------------------------
- Real: the structures (name, SIRET, seat commune), their granted number (used as their request,
  the best public proxy), the committee dates, the ZRR / QPV / France Services flags of the file.
- Derived by rule: the portal ``type``, from the SIREN's legal-category prefix (21 commune,
  22 département, 23 région, EPCI SIRENs of the DGCL list → EPCI, other public bodies →
  COLLECTIVITE, private hosts → PRIVATE).
- **Synthetic** (not public; generated with a fixed seed, labelled ``synthetique`` everywhere):
  project scores ``qualiteProjet``, préfet opinions and suggested numbers, submission times.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import geodata
from allocator import programme
from geodata import layers
from service.application import posts
from service.application import structures as portal_rules
from service.application.cycle import ORIGINE_HISTORIQUE, history_imported, received_at
from service.contract.documents import StructureDocument
from service.contract.errors import Conflict
from service.contract.schemas import check_siret
from service.store import repository as store
from service.store.db import Database
from service.store.models import (
    ROUND_COMMITTED,
    AvisPrefetRow,
    CoselecRow,
    Programme,
    Round,
    Structure,
    utcnow,
)

if TYPE_CHECKING:
    import pandas as pd

DEMO_SEED = 2021
#: Share of préfet opinions drawn NÉGATIF in the synthetic data.
SYNTHETIC_NEGATIVE_OPINION_RATE = 0.05
#: The sample export of the README's monthly cycle (``allocator structures import``).
SAMPLE_EXPORT = Path(__file__).resolve().parents[2] / "docs/exemples/export_portail_2021-06.csv"

HISTORY_AUTHOR = "import-historique"
#: Motif code of imported decisions (no engine explanation exists for them).
MOTIF_HISTORIQUE = "DECISION_HISTORIQUE_2021"
#: Motif code of the decisions of an admin history import (taken before the service existed).
MOTIF_IMPORT = "DECISION_IMPORTEE"
#: The bundled file, as its path is recorded in the snapshot of an imported committee.
HISTORY_FILE = "geodata/data/conseillers_numeriques_structures_2021.csv"


# -- the bundled file as portal documents ---------------------------------------------------------


def structure_type(siret: str | float, public: bool, epci_sirens: frozenset[str]) -> str:
    """Portal type of a 2021 host from its SIREN (legal-category prefix)."""
    if not public:
        return "PRIVATE"
    siren = str(siret)[:9] if isinstance(siret, str) else ""
    if siren in epci_sirens:
        return "EPCI"
    prefix = siren[:2]
    return {"21": "COMMUNE", "22": "DEPARTEMENT", "23": "REGION", "24": "EPCI", "25": "EPCI"}.get(
        prefix, "COLLECTIVITE"
    )


def published_siret(value: str | float) -> str | None:
    """The bundled file's SIRET, or ``None`` when it has none or an invalid one.

    Two SIRETs of the 2021 open data fail their key (34416574200013 and 18973906400015, typos
    of the publication): they are not sent, as the portal would have refused them.
    """
    if not isinstance(value, str):
        return None
    try:
        return check_siret(value)
    except ValueError:
        return None


def committees() -> list[str]:
    """Dates of the bundled 2021 comités de sélection, in order."""
    return sorted(geodata.load_structures_2021()["date_validation_comite"].unique())


def portal_documents(structures: pd.DataFrame, seed: int = DEMO_SEED) -> list[dict[str, Any]]:
    """Portal structure documents (CONTRACT.md field names) for bundled 2021 hosts.

    Synthetic fields are drawn from ``numpy.random.default_rng(seed + id)`` so each structure's
    values do not depend on which other structures are in the round.
    """
    # numpy and pandas are imported here, not with the module: rounds and replays import this
    # module for the committees' history, which needs neither.
    import numpy as np
    import pandas as pd

    epci_sirens = frozenset(geodata.load_epcis()["epci_siren"])
    docs = []
    row: Any  # a named tuple of the bundled file's columns
    for row in structures.sort_values("id").itertuples(index=False):
        rng = np.random.default_rng([seed, int(row.id)])
        score = int(np.clip(np.round(rng.normal(65, 15)), 0, 100))
        negative = rng.random() < SYNTHETIC_NEGATIVE_OPINION_RATE
        requested = int(row.nb_cnfs)
        suggested = max(1, requested - int(rng.integers(0, 2)))
        days_before = int(rng.integers(3, 40))
        created = pd.Timestamp(row.date_validation_comite) - pd.Timedelta(days=days_before)
        created += pd.Timedelta(seconds=int(rng.integers(0, 86_400)))
        docs.append(
            {
                "idPG": int(row.id),
                "type": structure_type(row.siret, row.type == "publique", epci_sirens),
                "nom": row.raison_sociale,
                "siret": published_siret(row.siret),
                "codeCommune": row.code_insee_2026,
                "nombreConseillersSouhaites": requested,
                "qualiteProjet": score,
                "estZRR": row.zrr == "oui",
                "qpvStatut": {"oui": "Oui", "non": "Non"}.get(row.qpv, "Sans objet"),
                "estLabelliseFranceServices": "OUI" if row.france_services == "oui" else "NON",
                "prefet": [
                    {
                        "avisPrefet": "NÉGATIF" if negative else "POSITIF",
                        "nombreConseillersPrefet": 0 if negative else suggested,
                        "commentairePrefet": "Avis synthétique (démonstration, graine fixe).",
                    }
                ],
                "coselec": [],
                "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "synthetique": ["qualiteProjet", "prefet", "createdAt"],
            }
        )
    return docs


def demo_request(
    committee: int = -1, quota: int | None = None, seed: int = DEMO_SEED
) -> dict[str, Any]:
    """A stateless round request replaying one 2021 committee (default: the last one).

    Structures of earlier committees become ``conseillersExistants``; the quota defaults to
    70 % of the posts asked by public hosts (those eligible under the default policy, as in the
    call), so that the round has to choose.
    """
    table = geodata.load_structures_2021()
    table = table[table["code_insee_2026"].notna()]
    dates = sorted(table["date_validation_comite"].unique())
    date = dates[committee]
    applicants = table[table["date_validation_comite"] == date]
    earlier = table[table["date_validation_comite"] < date]
    existing = earlier.groupby("code_insee_2026")["nb_cnfs"].sum().astype(int)
    docs = portal_documents(applicants, seed=seed)
    asked = sum(d["nombreConseillersSouhaites"] for d in docs if d["type"] != "PRIVATE")
    return {
        "quota": quota if quota is not None else round(0.7 * asked),
        "mois": str(date)[:7],
        "structures": docs,
        "conseillersExistants": [
            {"codeCommune": code, "nombre": int(n)} for code, n in existing.sort_index().items()
        ],
    }


def export_documents() -> list[dict[str, Any]]:
    """Portal documents of the sample export (:data:`SAMPLE_EXPORT`): the last 2021 committee's
    190 placed structures as the applications of June 2021, as
    :func:`service.cli.demo.run_demo` submits them.

    Real: names, SIRETs, seat communes, requests (their granted number), ZRR / QPV / France
    Services flags. Synthetic (fixed seed, ``synthetique`` column): project scores, préfet
    opinions, submission times. SIRETs are those of the history import
    (:func:`history_documents`: a SIRET held by several 2021 rows stays on the lowest ``idPG``),
    so the file imports on top of the earlier committees.
    """
    last = {i for i, _ in history_committees()[-1]["decisions"]}
    return [
        {k: v for k, v in d.items() if k not in ("statut", "coselec")}
        for d in history_documents()
        if d["idPG"] in last
    ]


# -- the bundled file as history ------------------------------------------------------------------


def _history_table() -> Any:
    return geodata.load_structures_2021()


def bundled_file_sha256() -> str:
    path = layers.DATA_DIR / "conseillers_numeriques_structures_2021.csv"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _at(day: Any) -> datetime:
    d = date.fromisoformat(str(day)[:10])
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


def history_documents() -> list[dict[str, Any]]:
    """Portal documents of the placed 2021 structures, SIRETs made unique (ascending idPG).

    25 SIRETs appear on several rows of the bundled file (one body hosting several sites); the
    store keeps a SIRET unique, so it stays on the lowest ``idPG`` and the others get none.
    """
    table = _history_table()
    placed = table[table["code_insee_2026"].notna()]
    docs = portal_documents(placed)
    seen: set[str] = set()
    for d in docs:
        siret = d.get("siret")
        if siret in seen:
            d["siret"] = None
        elif siret:
            seen.add(siret)
        d["statut"] = "VALIDATION_COSELEC"
    return docs


def history_committees() -> list[dict[str, Any]]:
    """The 8 committees of the bundled file: date, decisions (idPG, posts), unplaced posts."""
    table = _history_table()
    out = []
    for k, (day, rows) in enumerate(sorted(table.groupby("date_validation_comite")), start=1):
        placed = rows[rows["code_insee_2026"].notna()].sort_values("id")
        unplaced = rows[rows["code_insee_2026"].isna()].sort_values("id")
        out.append(
            {
                "numero": f"2021-coselec-{k}",
                "date": str(day)[:10],
                "decisions": [
                    (int(i), int(n)) for i, n in zip(placed["id"], placed["nb_cnfs"], strict=True)
                ],
                "nonLocalises": [
                    {"id": int(i), "nombre": int(n)}
                    for i, n in zip(unplaced["id"], unplaced["nb_cnfs"], strict=True)
                ],
            }
        )
    return out


def history_result(committee: dict[str, Any]) -> dict[str, Any]:
    """The stored 'result' of an imported committee (derived from the bundled file only)."""
    decisions = [
        {
            "idPG": i,
            "nombreConseillersAttribues": n,
            "nombreConseillersCoselec": n,
            "avisCoselec": "POSITIF",
            "motifs": [MOTIF_HISTORIQUE],
            "explication": {},
        }
        for i, n in committee["decisions"]
    ]
    placed = sum(n for _, n in committee["decisions"])
    unplaced = sum(u["nombre"] for u in committee["nonLocalises"])
    return {
        "status": "HISTORIQUE",
        "decisions": decisions,
        "totaux": {
            "attribues": placed,
            "quota": placed + unplaced,
            "nonLocalises": unplaced,
        },
        "solveur": {"nom": "historique", "version": "2021", "gap": None, "secondes": 0.0},
        "entreeSha256": store.canonical_sha256(
            {"numero": committee["numero"], "date": committee["date"], "decisions": decisions}
        ),
    }


def import_history(
    db: Database, *, author: str = HISTORY_AUTHOR, until: str | None = None
) -> dict[str, Any]:
    """Import the bundled 2021 committees as committed history (idempotent, one transaction).

    ``until`` (ISO date) keeps only the committees held before that day, and their structures:
    the demo round replays the last committee on top of the earlier ones.

    Creates the 1,443 placed structures (portal documents of :func:`portal_documents`, statut
    VALIDATION_COSELEC), one committed round of origin ``historique`` per committee (dated on the
    committee day) with one coselec entry per structure, their posts (assumed in post: the file
    lists validated hosts, recruitment dates are not public) and consumes the 2,138 posts of the
    envelope. A second call changes nothing.

    Raises
    ------
    Conflict
        Some of these ``idPG`` or SIRETs already exist in the store, or the envelope is too small.
    """
    with db.read() as s:
        if history_imported(s):
            n = s.scalar(select(func.count(Round.id)).where(Round.origine == ORIGINE_HISTORIQUE))
            return {"importe": False, "tours": int(n or 0), "message": "historique déjà importé"}
    committees = [c for c in history_committees() if until is None or c["date"] < until]
    kept = {i for c in committees for i, _ in c["decisions"]}
    docs = {d["idPG"]: d for d in history_documents() if d["idPG"] in kept}
    sha = bundled_file_sha256()
    total = sum(n for c in committees for _, n in c["decisions"]) + sum(
        u["nombre"] for c in committees for u in c["nonLocalises"]
    )
    summary: dict[str, Any] = {"importe": True, "tours": [], "structures": len(docs)}
    with db.write() as s:
        if history_imported(s):  # a concurrent import won
            return {"importe": False, "message": "historique déjà importé"}
        prog = _history_programme(s, docs, total)
        for c in committees:
            when = _at(c["date"])
            result = history_result(c)
            row = _history_round(c, result, sha, author, when)
            s.add(row)
            s.flush()
            _add_history_structures(s, c, docs, when)
            _add_history_decisions(s, c, docs, row.id, author, when)
            posts.create_posts(
                s,
                row.id,
                [(i, 0, n) for i, n in c["decisions"]],
                when,
                statut="EN_POSTE",
                auteur=author,
            )
            placed = result["totaux"]["attribues"]
            unplaced = result["totaux"]["nonLocalises"]
            prog.consumed += placed + unplaced
            prog.version += 1
            prog.updated_at = when
            summary["tours"].append(
                {
                    "id": row.id,
                    "numero": c["numero"],
                    "date": c["date"],
                    "postes": placed + unplaced,
                }
            )
        s.flush()
        summary["programme"] = store.programme_view(prog)
    return summary


def _history_programme(s: Session, docs: dict[int, dict[str, Any]], total: int) -> Programme:
    """The programme row, locked, once no ``idPG`` nor SIRET of ``docs`` is in the store and the
    envelope can take the ``total`` posts of the history (:class:`Conflict` otherwise)."""
    clash = sorted(s.scalars(select(Structure.id_pg).where(Structure.id_pg.in_(list(docs)))).all())
    sirets = [d["siret"] for d in docs.values() if d.get("siret")]
    clash_siret = sorted(
        str(x) for x in s.scalars(select(Structure.siret).where(Structure.siret.in_(sirets)))
    )
    if clash or clash_siret:
        raise Conflict(
            "Import impossible : des structures du fichier 2021 existent déjà "
            f"(idPG {clash[:10]}, SIRET {clash_siret[:10]})."
        )
    prog = store.programme(s, for_update=True)
    if prog.consumed + total > prog.enveloppe:
        raise Conflict(
            f"L'historique consomme {total} postes ; il en reste "
            f"{prog.enveloppe - prog.consumed} dans l'enveloppe."
        )
    return prog


def _history_round(
    c: dict[str, Any], result: dict[str, Any], sha: str, author: str, when: datetime
) -> Round:
    """The committed round of one imported committee (its snapshot names the bundled file)."""
    return Round(
        mois=c["date"][:7],
        quota=result["totaux"]["quota"],
        politique=None,
        status=ROUND_COMMITTED,
        snapshot={
            "format": 1,
            "origine": ORIGINE_HISTORIQUE,
            "source": {"fichier": HISTORY_FILE, "sha256": sha},
            "numero": c["numero"],
            "date": c["date"],
            "structures": {},
            "nonLocalises": c["nonLocalises"],
        },
        result=result,
        locks={},
        author=author[:64],
        committed_by=author[:64],
        created_at=when,
        updated_at=when,
        committed_at=when,
        version=1,
        origine=ORIGINE_HISTORIQUE,
    )


def _add_history_structures(
    s: Session, c: dict[str, Any], docs: dict[int, dict[str, Any]], when: datetime
) -> None:
    """The committee's structures, validated (statut VALIDATION_COSELEC)."""
    for id_pg, _ in c["decisions"]:
        doc = StructureDocument.model_validate(docs[id_pg])
        s.add(
            Structure(
                id_pg=id_pg,
                siret=doc.siret,
                type=doc.type,
                nom=doc.nom,
                code_commune=doc.codeCommune,
                statut="VALIDATION_COSELEC",
                document=portal_rules.stored_document(doc),
                created_at=received_at(docs[id_pg]) or when,
                updated_at=when,
            )
        )
    s.flush()


def _add_history_decisions(
    s: Session,
    c: dict[str, Any],
    docs: dict[int, dict[str, Any]],
    round_id: int,
    author: str,
    when: datetime,
) -> None:
    """Each structure's préfet opinions (synthetic) and its committee decision."""
    for id_pg, n in c["decisions"]:
        for p in docs[id_pg]["prefet"]:
            s.add(
                AvisPrefetRow(
                    id_pg=id_pg,
                    avis=p["avisPrefet"],
                    nombre=p["nombreConseillersPrefet"],
                    commentaire=p["commentairePrefet"],
                    inserted_at=when,
                    auteur=author[:64],
                )
            )
        s.add(
            CoselecRow(
                id_pg=id_pg,
                nombre_conseillers_coselec=n,
                attribues=n,
                avis="POSITIF",
                numero=c["numero"],
                inserted_at=when,
                round_id=round_id,
                motifs=[MOTIF_HISTORIQUE],
                explication={},
            )
        )


# -- admin import of one structure with its history ----------------------------------------------


def import_structure(db: Database, doc: StructureDocument, *, author: str) -> dict[str, Any]:
    """Import one structure with its committee history (``POST /v1/structures/import-historique``,
    role ``admin`` only): the migration path for decisions taken before the service.

    ``doc`` may carry ``statut`` and ``coselec``, never ``verrou`` (locks are committee overrides
    of a round) nor the view's fields. In one transaction: the structure (``statut`` or CREEE)
    and its préfet opinions, one recorded coselec entry per history entry (``attribues`` = what
    it added, motif :data:`MOTIF_IMPORT`), the posts of the final grant (in post, as for the 2021
    import) and that grant consumed from the national envelope. History is written once: an existing
    ``idPG`` is a conflict.
    """
    portal_rules.refuse_server_fields(portal_rules.server_field_errors(doc, allowed=("coselec",)))
    portal_rules.check_communes(doc)
    now = utcnow()
    with db.write() as s:
        if s.get(Structure, doc.idPG, with_for_update=True) is not None:
            raise Conflict(
                f"La structure idPG {doc.idPG} existe déjà : son historique ne s'importe qu'une "
                "fois (les décisions suivantes sont celles des tours validés)."
            )
        portal_rules.check_siret(s, doc)
        portal_rules.create_structure(s, doc, author, now)
        granted = 0
        for c in doc.coselec:
            avis = programme.opinion_spelling(c.avisCoselec)
            added = c.nombreConseillersCoselec - granted if avis == "POSITIF" else 0
            s.add(
                CoselecRow(
                    id_pg=doc.idPG,
                    nombre_conseillers_coselec=c.nombreConseillersCoselec,
                    attribues=added,
                    avis=avis,
                    numero=c.numero,
                    inserted_at=c.insertedAt or now,
                    round_id=None,
                    motifs=[MOTIF_IMPORT],
                    explication={"import": {"auteur": author[:64]}},
                )
            )
            if avis == "POSITIF":
                granted = c.nombreConseillersCoselec
        prog = store.programme(s, for_update=True)
        if prog.consumed + granted > prog.enveloppe:
            raise Conflict(
                f"L'historique de la structure idPG {doc.idPG} consomme {granted} postes ; il en "
                f"reste {prog.enveloppe - prog.consumed} dans l'enveloppe."
            )
        s.flush()
        posts.create_posts(s, None, [(doc.idPG, 0, granted)], now, statut="EN_POSTE", auteur=author)
        prog.consumed += granted
        prog.version += 1
        prog.updated_at = now
        s.flush()
        return store.get_structure(s, doc.idPG)
