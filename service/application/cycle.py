"""The monthly cycle on the store: cadence, default quota, 2021 history, programme state.

Cadence
-------
A round is held on the **15th of each month** (the call for applications). It considers the
applications *received* up to the end of that day (the portal's ``createdAt``, else the date the
store received the document) that are still pending — statut ``CREEE`` (never assessed, hence
received since the previous round) or ``EXAMEN_COMPLEMENTAIRE_COSELEC`` (complementary review,
including structures asking for more posts, see :mod:`service.application.posts`). Applications
received after
the 15th wait for the next month.

Default quota
-------------
``quota = ceil(restant / mois_restants)``: what remains of the national envelope, spread evenly
over the months left until :data:`PROGRAMME_END` (the month of the round included; from that
month on, everything that remains). Posts a round does not use roll over to the next months, and
posts returned to the pool (:mod:`service.application.posts`) are available again.

Existing advisors: the single-source rule
-----------------------------------------
Each post counts once. Two states of the store:

- **history imported** (``allocator round import-historique`` ran: committed rounds of origin
  ``historique`` exist): the store is the *only* source. Existing advisors = for every stored
  structure, its current grant (its last POSITIF coselec total, hand-backs and returns to the pool
  included) at its seat commune. Rounds send this map as the request's ``conseillersExistants``,
  which *replaces* the bundled 2021 advisors in the pipeline; the bundled file is not read again.
  The 9 posts of the 7 bundled structures without a commune code cannot be placed: they count in
  the envelope (``programme.consumed``) but not on the map, as in :mod:`geodata.coverage`.
- **no history** (legacy, e.g. tests with hand-made structures): the bundled 2021 advisors plus
  the posts granted by committed engine rounds (``extra_existing`` of the pipeline).

The existing map, hence coverage and E2SFCA accessibility, is recomputed from the store at every
draft: after each commit the next round sees the new posts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.contract.errors import Conflict
from service.contract.schemas import FieldError, InvalidRequest, PolitiqueIn, check_mois
from service.store import repository as store
from service.store.db import Database
from service.store.models import (
    ROUND_COMMITTED,
    CoselecRow,
    DemandePostes,
    Poste,
    Round,
    Structure,
    utcnow,
)

#: Day of the month of the monthly round (the call for applications).
ROUND_DAY = 15
#: Last month of the programme's monthly rounds for the default quota (France Relance: 4,000
#: posts assigned by early 2022).
PROGRAMME_END = "2022-02"
ORIGINE_HISTORIQUE = "historique"
ORIGINE_MOTEUR = "moteur"
HISTORY_AUTHOR = "import-historique"
#: Motif code of imported decisions (no engine explanation exists for them).
MOTIF_HISTORIQUE = "DECISION_HISTORIQUE_2021"


# -- cadence -------------------------------------------------------------------------------------


def parse_mois(mois: str) -> tuple[int, int]:
    """``"2021-06"`` → ``(2021, 6)``; :class:`InvalidRequest` otherwise (:func:`check_mois`)."""
    try:
        check_mois(mois)
    except ValueError as exc:
        raise InvalidRequest([FieldError("mois", str(exc))]) from None
    return int(mois[:4]), int(mois[5:])


def add_months(mois: str, n: int) -> str:
    y, m = parse_mois(mois)
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Months ``first..last`` inclusive."""
    out = [first]
    while out[-1] < last:
        out.append(add_months(out[-1], 1))
    if out[-1] != last:
        raise InvalidRequest([FieldError("mois", f"intervalle vide : {first}..{last}")])
    return out


def round_date(mois: str) -> datetime:
    """The round's day: the 15th of ``mois``, 00:00 UTC."""
    y, m = parse_mois(mois)
    return datetime(y, m, ROUND_DAY, tzinfo=UTC)


def applications_cutoff(mois: str) -> datetime:
    """Applications received strictly before this instant (end of the 15th, UTC) are in."""
    return round_date(mois) + timedelta(days=1)


def received_at(document: dict[str, Any], fallback: datetime | None = None) -> datetime | None:
    """When an application was received: the portal's ``createdAt``, else ``fallback``."""
    raw = document.get("createdAt")
    if raw:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    if fallback is not None and fallback.tzinfo is None:
        return fallback.replace(tzinfo=UTC)
    return fallback


def received_before(document: dict[str, Any], cutoff: datetime) -> bool:
    """Whether an application counts for a round with this cut-off (no portal date: yes)."""
    at = received_at(document)
    return at is None or at < cutoff


def months_left(mois: str, end: str = PROGRAMME_END) -> int:
    """Rounds left until ``end`` (``mois`` included), at least 1."""
    y, m = parse_mois(mois)
    ye, me = parse_mois(end)
    return max(1, (ye - y) * 12 + (me - m) + 1)


def default_quota(restant: int, mois: str, end: str = PROGRAMME_END) -> int:
    """``ceil(restant / months_left(mois))`` (see the module docstring), never negative."""
    return max(0, math.ceil(max(0, restant) / months_left(mois, end)))


# -- existing advisors ---------------------------------------------------------------------------


def history_imported(session: Session) -> bool:
    """Whether the 2021 committees were imported (then the store is the single source)."""
    n = session.scalar(
        select(func.count(Round.id)).where(
            Round.origine == ORIGINE_HISTORIQUE, Round.status == ROUND_COMMITTED
        )
    )
    return bool(n)


def current_grants(session: Session) -> dict[int, int]:
    """Current grant of every structure holding posts: its last POSITIF decision's total
    (recorded decisions only, :data:`service.store.repository.RECORDED_DECISION`)."""
    grants: dict[int, int] = {}
    for id_pg, n in session.execute(
        select(CoselecRow.id_pg, CoselecRow.nombre_conseillers_coselec)
        .where(CoselecRow.avis == "POSITIF", store.RECORDED_DECISION)
        .order_by(CoselecRow.id)
    ):
        grants[int(id_pg)] = int(n)
    return {k: v for k, v in grants.items() if v > 0}


def store_existing(session: Session) -> dict[str, int]:
    """Advisors hosted according to the store alone, by seat commune (sorted)."""
    grants = current_grants(session)
    out: dict[str, int] = {}
    ids = sorted(grants)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for id_pg, code in session.execute(
            select(Structure.id_pg, Structure.code_commune).where(Structure.id_pg.in_(chunk))
        ):
            out[code] = out.get(code, 0) + grants[int(id_pg)]
    return dict(sorted(out.items()))


@dataclasses.dataclass(frozen=True)
class ExistingState:
    """How a round must be told about existing advisors (see the module docstring).

    Exactly one of the two is used: ``full`` (store is the single source: goes into the request's
    ``conseillersExistants``) or ``extra`` (legacy: added to the bundled 2021 advisors).
    ``consumed`` (with ``full`` only): the posts consumed from the national envelope, the
    engine's envelope constraint (:func:`service.application.figures.posts_consumed`: the active
    posts of
    ``full`` plus the 2021 posts without a commune code).
    """

    extra: dict[str, int]
    full: dict[str, int] | None
    consumed: int | None = None

    def as_request_list(self) -> list[dict[str, Any]] | None:
        if self.full is None:
            return None
        return [{"codeCommune": c, "nombre": n} for c, n in self.full.items() if n > 0]


def existing_state(session: Session) -> ExistingState:
    if history_imported(session):
        from service.application import figures

        return ExistingState(
            extra={}, full=store_existing(session), consumed=figures.posts_consumed(session)
        )
    extra = store.grants_by_commune(session)
    # Posts of engine rounds returned to the pool since (service.application.posts) no longer count.
    for code, n in session.execute(
        select(Structure.code_commune, func.count(Poste.id))
        .join(Structure, Structure.id_pg == Poste.id_pg)
        .where(Poste.statut == "RENDU", Poste.round_id.is_not(None))
        .group_by(Structure.code_commune)
    ):
        left = extra.get(code, 0) - int(n)
        if left > 0:
            extra[code] = left
        else:
            extra.pop(code, None)
    return ExistingState(extra=extra, full=None)


# -- drafting a monthly round -------------------------------------------------------------------


def draft_monthly(
    db: Database,
    *,
    mois: str,
    quota: int | None = None,
    politique: PolitiqueIn | None = None,
    author: str = "",
    end: str = PROGRAMME_END,
) -> dict[str, Any]:
    """Draft the round of ``mois`` on the cadence above (quota defaulted if ``None``)."""
    from service.application import rounds

    parse_mois(mois)
    defaulted = quota is None
    if quota is None:
        with db.read() as s:
            restant = store.programme_view(store.programme(s))["restant"]
        quota = default_quota(restant, mois, end)
    view = rounds.draft_round(
        db,
        mois=mois,
        quota=quota,
        politique=politique,
        author=author,
        received_before=applications_cutoff(mois),
    )
    view["cadence"] = {
        "dateTour": round_date(mois).date().isoformat(),
        "receptionAvant": applications_cutoff(mois).isoformat().replace("+00:00", "Z"),
        "quotaParDefaut": defaulted,
    }
    return view


# -- 2021 history import ------------------------------------------------------------------------


def _history_table() -> Any:
    import geodata

    return geodata.load_structures_2021()


def bundled_file_sha256() -> str:
    from geodata import layers

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
    from service.application.demo import portal_documents

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

    Creates the 1,443 placed structures (portal documents of :func:`service.application.demo
    .portal_documents`, statut VALIDATION_COSELEC), one committed round of origin ``historique``
    per committee (dated on the committee day) with one coselec entry per structure, their posts
    (assumed in post: the file lists validated hosts, recruitment dates are not public) and
    consumes the 2,138 posts of the envelope. A second call changes nothing.

    Raises
    ------
    Conflict
        Some of these ``idPG`` or SIRETs already exist in the store, or the envelope is too small.
    """
    from service.application import posts
    from service.contract.documents import StructureDocument

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
        clash = sorted(
            s.scalars(select(Structure.id_pg).where(Structure.id_pg.in_(list(docs)))).all()
        )
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
        for c in committees:
            when = _at(c["date"])
            result = history_result(c)
            row = Round(
                mois=c["date"][:7],
                quota=result["totaux"]["quota"],
                politique=None,
                status=ROUND_COMMITTED,
                snapshot={
                    "format": 1,
                    "origine": ORIGINE_HISTORIQUE,
                    "source": {
                        "fichier": "geodata/data/conseillers_numeriques_structures_2021.csv",
                        "sha256": sha,
                    },
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
            s.add(row)
            s.flush()
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
                        document=store._document(doc),
                        created_at=received_at(docs[id_pg]) or when,
                        updated_at=when,
                    )
                )
            s.flush()
            for id_pg, n in c["decisions"]:
                for p in docs[id_pg]["prefet"]:
                    s.add(
                        store.AvisPrefetRow(
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
                        round_id=row.id,
                        motifs=[MOTIF_HISTORIQUE],
                        explication={},
                    )
                )
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


# -- admin import of one structure with its history --------------------------------------------

#: Motif code of the decisions of an admin history import (taken before the service existed).
MOTIF_IMPORT = "DECISION_IMPORTEE"


def import_structure(db: Database, doc: Any, *, author: str) -> dict[str, Any]:
    """Import one structure with its committee history (``POST /v1/structures/import-historique``,
    role ``admin`` only): the migration path for decisions taken before the service.

    ``doc`` (:class:`service.contract.documents.StructureDocument`) may carry ``statut`` and
    ``coselec``,
    never ``verrou`` (locks are committee overrides of a round) nor the view's fields. In one
    transaction: the structure (``statut`` or CREEE) and its préfet opinions, one recorded
    coselec entry per history entry (``attribues`` = what it added, motif
    :data:`MOTIF_IMPORT`), the posts of the final grant (in post, as for the 2021 import) and
    that grant consumed from the national envelope. History is written once: an existing
    ``idPG`` is a conflict.
    """
    from service.application import posts

    store.refuse_server_fields(store.server_field_errors(doc, allowed=("coselec",)))
    store.check_communes(doc)
    now = utcnow()
    with db.write() as s:
        if s.get(Structure, doc.idPG, with_for_update=True) is not None:
            raise Conflict(
                f"La structure idPG {doc.idPG} existe déjà : son historique ne s'importe qu'une "
                "fois (les décisions suivantes sont celles des tours validés)."
            )
        store.check_siret(s, doc)
        store.create_structure(s, doc, author, now)
        granted = 0
        for c in doc.coselec:
            avis = store._norm_avis(c.avisCoselec)
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


# -- programme state and money -------------------------------------------------------------------


#: Reference convention length (months) the standard cost per post pays for.
CONVENTION_MONTHS = {"public": 24, "private": 18}
MAX_CONVENTION_MONTHS = 36


def departement_of(code_commune: str) -> str:
    """Département code of a COG commune code (``97x`` overseas, ``2A``/``2B`` Corsica)."""
    return code_commune[:3] if code_commune.startswith("97") else code_commune[:2]


def post_cost_eur(
    type_: str,
    code_commune: str,
    cofinancement_eur: float | None = None,
    duree_mois: int | None = None,
    cofinancement_part: float | None = None,
) -> float:
    """The State's cost of one post for this host over a convention of ``duree_mois``.

    The standard costs of :data:`service.application.pipeline.COST_PER_POST_EUR` (50 k mainland
    public,
    70 k 971-973, 67.5 k 974/976) pay for a 24-month convention, 32 k for a private host over 18
    months (:data:`CONVENTION_MONTHS`); a convention of ``duree_mois`` (at most 36) is paid pro
    rata. ``None`` = the reference length. The host's co-funding (``cofinancementEur`` or
    ``cofinancementPart``) is deducted as in the pipeline
    (:func:`service.application.pipeline.post_costs`).
    """
    return post_costs_eur(type_, code_commune, cofinancement_eur, duree_mois, cofinancement_part)[1]


def post_costs_eur(
    type_: str,
    code_commune: str,
    cofinancement_eur: float | None = None,
    duree_mois: int | None = None,
    cofinancement_part: float | None = None,
) -> tuple[float, float]:
    """``(standard cost, State's cost)`` of one post, pro rata as :func:`post_cost_eur`."""
    from geodata.round import COST_ZONES
    from service.application.pipeline import post_costs

    private = type_ == "PRIVATE"
    base, state = post_costs(
        type_,
        COST_ZONES.get(departement_of(code_commune), "metro"),
        cofinancement_eur,
        cofinancement_part,
    )
    reference = CONVENTION_MONTHS["private" if private else "public"]
    months = reference if duree_mois is None else duree_mois
    if not 1 <= months <= MAX_CONVENTION_MONTHS:
        raise InvalidRequest(
            [
                FieldError(
                    "duree",
                    f"durée de convention entre 1 et {MAX_CONVENTION_MONTHS} mois ; reçu {months}",
                )
            ]
        )
    return base * months / reference, state * months / reference


def fair_shares(envelope: int, existing: dict[str, int] | None) -> dict[str, dict[str, Any]]:
    """Need, fair share (Webster of the envelope on need, as in the pipeline) per département."""
    import warnings

    import geodata
    from service.application.pipeline import departement_fair_shares

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", geodata.RekeyedCodeWarning)
        geo = geodata.round_geodata([], existing=existing)
    shares = departement_fair_shares(geo.departements, envelope)
    return {
        d.code: {"nom": d.nom, "besoin": d.need, "partEquitable": shares[d.code]}
        for d in geo.departements
    }


def programme_state(
    db: Database, *, duree_mois: int | None = None, with_departements: bool = True
) -> dict[str, Any]:
    """The programme: envelope, posts by lifecycle state, money per round / département.

    Money counts the posts that are not returned to the pool (``RENDU``), at the cost of
    :func:`post_cost_eur`; returned posts are reported apart.
    """
    from service.application import figures

    with db.read() as s:
        prog = store.programme_view(store.programme(s))
        numbers = figures.programme_figures(s)
        imported = history_imported(s)
        rows = s.execute(
            select(
                Poste.statut,
                Poste.round_id,
                Structure.type,
                Structure.code_commune,
                Structure.document,
            ).join(Structure, Structure.id_pg == Poste.id_pg)
        ).all()
        rounds_meta = {
            int(rid): (mois, origine, status)
            for rid, mois, origine, status in s.execute(
                select(Round.id, Round.mois, Round.origine, Round.status).where(
                    Round.status == ROUND_COMMITTED
                )
            )
        }
        unplaced_by_round = {
            int(rid): figures.round_unplaced(result)
            for rid, result in s.execute(
                select(Round.id, Round.result).where(
                    Round.origine == ORIGINE_HISTORIQUE, Round.status == ROUND_COMMITTED
                )
            )
        }
        existing = store_existing(s)
        pending_requests = s.scalar(
            select(func.count(DemandePostes.id)).where(DemandePostes.statut == "EN_ATTENTE")
        )
    by_state: dict[str, int] = {}
    per_round: dict[int, dict[str, Any]] = {}
    per_dep: dict[str, dict[str, Any]] = {}
    total_eur = 0.0
    standard_eur = 0.0
    returned_eur = 0.0
    cost_cache: dict[tuple[str, str, float | None, float | None], tuple[float, float]] = {}
    for statut, round_id, type_, code, document in rows:
        by_state[statut] = by_state.get(statut, 0) + 1
        cof, part = document.get("cofinancementEur"), document.get("cofinancementPart")
        key = (type_, code, cof, part)
        if key not in cost_cache:
            cost_cache[key] = post_costs_eur(type_, code, cof, duree_mois, part)
        standard, cost = cost_cache[key]
        rid = int(round_id) if round_id is not None else 0
        r = per_round.setdefault(
            rid,
            {
                "postes": 0,
                "rendus": 0,
                "coutEtatEur": 0.0,
                "coutStandardEur": 0.0,
                "postesRendusEur": 0.0,
            },
        )
        dep = departement_of(code)
        d = per_dep.setdefault(
            dep, {"postes": 0, "rendus": 0, "coutEtatEur": 0.0, "coutStandardEur": 0.0}
        )
        if statut == "RENDU":
            r["rendus"] += 1
            r["postesRendusEur"] += cost
            d["rendus"] += 1
            returned_eur += cost
        else:
            r["postes"] += 1
            r["coutEtatEur"] += cost
            r["coutStandardEur"] += standard
            d["postes"] += 1
            d["coutEtatEur"] += cost
            d["coutStandardEur"] += standard
            total_eur += cost
            standard_eur += standard
    tours = []
    for rid in sorted(set(per_round) | set(unplaced_by_round)):
        mois, origine, _ = rounds_meta.get(rid, (None, None, None))
        money = _money(per_round.get(rid) or _NO_MONEY)
        unplaced = unplaced_by_round.get(rid, 0)
        tours.append(
            {
                "id": rid or None,
                "mois": mois,
                "origine": origine,
                # granted = active + returned + unplaced, as for the programme
                # (service.application.figures)
                "attribues": money["postes"] + money["rendus"] + unplaced,
                "nonLocalises": unplaced,
                **money,
            }
        )
    out: dict[str, Any] = {
        **prog,
        "historiqueImporte": imported,
        "postesAttribues": numbers.attribues,
        "postesNonLocalises": numbers.nonLocalises,
        "postesParStatut": dict(sorted(by_state.items())),
        "postesActifs": numbers.actifs,
        "postesRendus": numbers.rendus,
        "ecarts": figures.differences(numbers),
        "demandesEnAttente": int(pending_requests or 0),
        "dureeConventionMois": duree_mois,
        "coutEtatEur": round(total_eur, 2),
        # co-funding of the hosts: State's cost + co-funding = standard cost of the posts held
        "coutStandardEur": round(standard_eur, 2),
        "cofinancementEur": round(standard_eur - total_eur, 2),
        "coutPostesRendusEur": round(returned_eur, 2),
        "tours": tours,
    }
    if with_departements:
        shares = fair_shares(prog["enveloppe"], existing if imported else None)
        deps = []
        for code, info in shares.items():
            d = per_dep.get(
                code, {"postes": 0, "rendus": 0, "coutEtatEur": 0.0, "coutStandardEur": 0.0}
            )
            held = d["postes"]
            deps.append(
                {
                    "departement": code,
                    "nom": info["nom"],
                    "postes": held,
                    "partEquitable": info["partEquitable"],
                    "ecart": held - info["partEquitable"],
                    "postesPour10000Fragiles": round(held / info["besoin"] * 1e4, 3)
                    if info["besoin"] > 0
                    else None,
                    "rendus": d["rendus"],
                    "coutEtatEur": round(d["coutEtatEur"], 2),
                    "cofinancementEur": round(d["coutStandardEur"] - d["coutEtatEur"], 2),
                }
            )
        out["departements"] = deps
    return out


_NO_MONEY = {
    "postes": 0,
    "rendus": 0,
    "coutEtatEur": 0.0,
    "coutStandardEur": 0.0,
    "postesRendusEur": 0.0,
}


def _money(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "postes": r["postes"],
        "rendus": r["rendus"],
        "coutEtatEur": round(r["coutEtatEur"], 2),
        "cofinancementEur": round(r["coutStandardEur"] - r["coutEtatEur"], 2),
        "coutPostesRendusEur": round(r["postesRendusEur"], 2),
    }
