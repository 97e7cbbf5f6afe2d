"""Posts after the grant: lifecycle, deadlines, returns to the pool, structures' requests.

Every post a committed round grants becomes a row of ``postes`` (numbered ``1..n`` within its
structure) in the commit's own transaction. The portal reports what happens to it:

==========================  ===============================================  ====================
event (``type``)            from                                             to
==========================  ===============================================  ====================
``CANDIDAT_PRESENTE``       ACCORDE, TERMINE (vacant)                        CANDIDAT_PRESENTE
``CANDIDAT_SELECTIONNE``    CANDIDAT_PRESENTE                                CANDIDAT_SELECTIONNE
``CANDIDAT_REFUSE``         CANDIDAT_PRESENTE, CANDIDAT_SELECTIONNE          back to vacant
``CONTRAT_SIGNE``           CANDIDAT_SELECTIONNE                             CONTRAT_SIGNE
``ENTREE_EN_FORMATION``     CONTRAT_SIGNE                                    EN_FORMATION
``PRISE_DE_POSTE``          EN_FORMATION (training comes first)              EN_POSTE
``FIN_DE_CONTRAT``          CONTRAT_SIGNE, EN_FORMATION, EN_POSTE            TERMINE (vacant)
==========================  ===============================================  ====================

"Back to vacant" is ACCORDE for a post never filled, TERMINE otherwise. A post is *vacant* while
no contract is signed (ACCORDE, CANDIDAT_PRESENTE, CANDIDAT_SELECTIONNE, TERMINE); it is vacant
since its grant, or since the end of its last contract.

Deadlines (host commitments of the call, figures in :mod:`allocator.programme`), all computed
from an injected ``now`` (no wall clock in the domain functions; the HTTP layer passes
``app.config["CLOCK"]()``):

- selection within ``SELECTION_DAYS`` days of the candidate's presentation;
- contract within ``CONTRACT_DAYS`` days of the selection;
- a grant with no signed contract ``REASSESS_MONTHS`` months after the grant is *flagged for
  re-assessment* (``a_reexaminer_depuis``; cleared when a contract is signed);
- a post vacant for more than ``VACANT_MONTHS`` months *returns to the pool*: state RENDU, the
  structure's grant decreases (a coselec entry ``restitution-…`` with the new total), and the
  national envelope gets the post back (``programme.consumed - 1``) for the next round.

The deadline sweep (:func:`apply_deadlines`) is explicit — ``allocator postes echeances
--appliquer`` or ``POST /v1/postes/echeances`` — never a side effect of reading.

Requests of a structure (one pending request at a time, enforced by a partial unique index):
``AJOUT`` (more posts: the structure goes back to complementary review with its wish raised by
``nombre``; the next committed round that includes it closes the request) and ``RESTITUTION``
(hand back ``nombre`` free posts — vacant ones, at most as many as it has — applied at once);
filed by :func:`service.application.demandes.file_request`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allocator.programme import CONTRACT_DAYS, REASSESS_MONTHS, SELECTION_DAYS, VACANT_MONTHS
from service.contract.errors import Conflict, NotFound
from service.contract.schemas import FieldError, InvalidRequest
from service.contract.vocabulary import EVENT_TYPES
from service.store import repository as store
from service.store.db import Database
from service.store.models import (
    CoselecRow,
    DemandePostes,
    Poste,
    PosteEvenement,
)

VACANT = ("ACCORDE", "CANDIDAT_PRESENTE", "CANDIDAT_SELECTIONNE", "TERMINE")
FILLED = ("CONTRAT_SIGNE", "EN_FORMATION", "EN_POSTE")
_BACK_TO_VACANT = "*vacant*"
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "CANDIDAT_PRESENTE": (("ACCORDE", "TERMINE"), "CANDIDAT_PRESENTE"),
    "CANDIDAT_SELECTIONNE": (("CANDIDAT_PRESENTE",), "CANDIDAT_SELECTIONNE"),
    "CANDIDAT_REFUSE": (("CANDIDAT_PRESENTE", "CANDIDAT_SELECTIONNE"), _BACK_TO_VACANT),
    "CONTRAT_SIGNE": (("CANDIDAT_SELECTIONNE",), "CONTRAT_SIGNE"),
    "ENTREE_EN_FORMATION": (("CONTRAT_SIGNE",), "EN_FORMATION"),
    "PRISE_DE_POSTE": (("EN_FORMATION",), "EN_POSTE"),
    "FIN_DE_CONTRAT": (FILLED, "TERMINE"),
}
assert tuple(TRANSITIONS) == EVENT_TYPES

MOTIF_RESTITUTION = "RESTITUTION"
MOTIF_VACANCE = "VACANCE_PLUS_DE_6_MOIS"


# -- time helpers -------------------------------------------------------------------------------


def aware(dt: datetime | None) -> datetime | None:
    """UTC-aware datetime (SQLite hands back naive values that were stored as UTC)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def plus_months(dt: datetime, n: int) -> datetime:
    """Same day ``n`` calendar months later (clamped to the month's last day)."""
    k = dt.year * 12 + dt.month - 1 + n
    y, m = divmod(k, 12)
    day = min(dt.day, calendar.monthrange(y, m + 1)[1])
    return dt.replace(year=y, month=m + 1, day=day)


# -- creating posts ---------------------------------------------------------------------------


def post_event(
    p: Poste,
    type_: str,
    when: datetime,
    recorded: datetime,
    auteur: str,
    before: str | None,
    after: str,
    commentaire: str | None = None,
) -> PosteEvenement:
    """The journal entry of one event of post ``p`` (``type_`` at ``when``, recorded at
    ``recorded`` by ``auteur``, cut to the column's 64 characters): its status ``before`` →
    ``after``. Every event of a post is written by this function (the journal is append-only)."""
    return PosteEvenement(
        poste_id=p.id,
        type=type_,
        date=when,
        enregistre_le=recorded,
        auteur=auteur[:64],
        statut_avant=before,
        statut_apres=after,
        commentaire=commentaire,
    )


def create_posts(
    session: Session,
    round_id: int | None,
    grants: Iterable[tuple[int, int, int]],
    when: datetime,
    *,
    statut: str = "ACCORDE",
    auteur: str = "",
) -> int:
    """Create the posts of ``grants`` = ``(idPG, unused, n)`` granted at ``when``; return how many.

    Posts are numbered after the structure's highest existing number.
    """
    wanted = [(i, n) for i, _, n in grants if n > 0]
    if not wanted:
        return 0
    ids = sorted({i for i, _ in wanted})
    top: dict[int, int] = {}
    for chunk in (ids[k : k + 500] for k in range(0, len(ids), 500)):
        for id_pg, n in session.execute(
            select(Poste.id_pg, func.max(Poste.numero))
            .where(Poste.id_pg.in_(chunk))
            .group_by(Poste.id_pg)
        ):
            top[int(id_pg)] = int(n or 0)
    rows = []
    for id_pg, n in wanted:
        start = top.get(id_pg, 0)
        for k in range(start + 1, start + n + 1):
            rows.append(
                Poste(
                    id_pg=id_pg,
                    numero=k,
                    round_id=round_id,
                    statut=statut,
                    accorde_le=when,
                    statut_depuis=when,
                    vacant_depuis=when if statut in VACANT else None,
                    recrute_le=None if statut in VACANT else when,
                    version=1,
                )
            )
        top[id_pg] = start + n
    session.add_all(rows)
    session.flush()
    session.add_all(post_event(p, "ATTRIBUTION", when, when, auteur, None, statut) for p in rows)
    return len(rows)


def record_round_grants(
    session: Session, round_id: int, decisions: Sequence[dict[str, Any]], when: datetime
) -> None:
    """Commit hook (same transaction): posts of the round; close the ``AJOUT`` requests served."""
    create_posts(
        session,
        round_id,
        [
            (int(d["idPG"]), 0, int(d["nombreConseillersAttribues"]))
            for d in decisions
            if int(d["nombreConseillersAttribues"]) > 0
        ],
        when,
    )
    granted = {int(d["idPG"]): int(d["nombreConseillersAttribues"]) for d in decisions}
    ids = sorted(granted)
    for chunk in (ids[k : k + 500] for k in range(0, len(ids), 500)):
        for dem in session.scalars(
            select(DemandePostes).where(
                DemandePostes.id_pg.in_(chunk),
                DemandePostes.statut == "EN_ATTENTE",
                DemandePostes.type == "AJOUT",
            )
        ):
            dem.statut = "TRAITEE"
            dem.traitee_le = when
            dem.round_id = round_id
            dem.resultat = granted[dem.id_pg]


# -- views ------------------------------------------------------------------------------------


def deadlines_of(p: Poste, now: datetime) -> list[dict[str, Any]]:
    """The post's running deadlines at ``now`` (kind, due date, overdue)."""
    out: list[dict[str, Any]] = []
    since = aware(p.statut_depuis)
    assert since is not None
    if p.statut == "RENDU":
        return out

    def add(kind: str, due: datetime) -> None:
        out.append({"type": kind, "echeance": store.iso(due), "depassee": now > due})

    if p.statut == "CANDIDAT_PRESENTE":
        add("SELECTION", since + timedelta(days=SELECTION_DAYS))
    if p.statut == "CANDIDAT_SELECTIONNE":
        add("CONTRAT", since + timedelta(days=CONTRACT_DAYS))
    if p.statut in VACANT:
        if p.recrute_le is None:
            granted = aware(p.accorde_le)
            assert granted is not None
            add("RECRUTEMENT", plus_months(granted, REASSESS_MONTHS))
        vacant = aware(p.vacant_depuis)
        if vacant is not None:
            add("RETOUR_AU_VIVIER", plus_months(vacant, VACANT_MONTHS))
    return out


def post_view(p: Poste, now: datetime) -> dict[str, Any]:
    return {
        "idPG": p.id_pg,
        "numero": p.numero,
        "statut": p.statut,
        "roundId": p.round_id,
        "accordeLe": store.iso(p.accorde_le),
        "statutDepuis": store.iso(p.statut_depuis),
        "vacantDepuis": store.iso(p.vacant_depuis),
        "recruteLe": store.iso(p.recrute_le),
        "aReexaminerDepuis": store.iso(p.a_reexaminer_depuis),
        "renduLe": store.iso(p.rendu_le),
        "motifRendu": p.motif_rendu,
        "echeances": deadlines_of(p, now),
    }


def event_view(e: PosteEvenement) -> dict[str, Any]:
    return {
        "type": e.type,
        "date": store.iso(e.date),
        "enregistreLe": store.iso(e.enregistre_le),
        "auteur": e.auteur,
        "statutAvant": e.statut_avant,
        "statutApres": e.statut_apres,
        "commentaire": e.commentaire,
    }


def structure_posts(session: Session, id_pg: int, *, for_update: bool = False) -> list[Poste]:
    stmt = select(Poste).where(Poste.id_pg == id_pg).order_by(Poste.numero)
    if for_update:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def list_posts(db: Database, id_pg: int, now: datetime) -> dict[str, Any]:
    """``GET /v1/structures/{idPG}/postes``: the structure's posts and its requests."""
    with db.read() as s:
        store.get_structure_row(s, id_pg)
        posts = structure_posts(s, id_pg)
        demandes = list(
            s.scalars(
                select(DemandePostes).where(DemandePostes.id_pg == id_pg).order_by(DemandePostes.id)
            )
        )
        return {
            "idPG": id_pg,
            "postes": [post_view(p, now) for p in posts],
            "postesLibres": sum(1 for p in posts if p.statut in VACANT),
            "demandes": [demande_view(d) for d in demandes],
        }


def get_post(db: Database, id_pg: int, numero: int, now: datetime) -> dict[str, Any]:
    with db.read() as s:
        p = _get_post(s, id_pg, numero)
        events = s.scalars(
            select(PosteEvenement)
            .where(PosteEvenement.poste_id == p.id)
            .order_by(PosteEvenement.id)
        )
        return {**post_view(p, now), "evenements": [event_view(e) for e in events]}


def _get_post(session: Session, id_pg: int, numero: int, *, for_update: bool = False) -> Poste:
    stmt = select(Poste).where(Poste.id_pg == id_pg, Poste.numero == numero)
    if for_update:
        stmt = stmt.with_for_update()
    p = session.scalars(stmt).one_or_none()
    if p is None:
        raise NotFound(f"Aucun poste n° {numero} pour la structure idPG {id_pg}.")
    return p


# -- events -----------------------------------------------------------------------------------


def report_event(
    db: Database,
    id_pg: int,
    numero: int,
    *,
    type_: str,
    now: datetime,
    date: datetime | None = None,
    commentaire: str | None = None,
    auteur: str = "",
) -> dict[str, Any]:
    """Apply one portal event to a post (see the transition table); return the post view.

    Raises
    ------
    InvalidRequest
        Unknown event type, a date in the future or before the post's current state.
    Conflict
        The transition is not allowed from the post's current state (e.g. a contract before a
        selection, anything on a returned post).
    """
    if type_ not in TRANSITIONS:
        raise InvalidRequest(
            [FieldError("type", f"type d'événement inconnu {type_!r} ; attendu : {EVENT_TYPES}")]
        )
    when = aware(date) or now
    if when > now:
        raise InvalidRequest([FieldError("date", "la date de l'événement est dans le futur")])
    with db.write() as s:
        p = _get_post(s, id_pg, numero, for_update=True)
        allowed, target = TRANSITIONS[type_]
        if p.statut not in allowed:
            raise Conflict(
                f"Événement {type_} impossible : le poste n° {numero} de la structure idPG "
                f"{id_pg} est à l'état {p.statut} (attendu : {', '.join(allowed)})."
            )
        since = aware(p.statut_depuis)
        assert since is not None
        if when < since:
            raise InvalidRequest(
                [
                    FieldError(
                        "date",
                        "date antérieure au dernier changement d'état du poste "
                        f"({store.iso(since)})",
                    )
                ]
            )
        before = p.statut
        if target == _BACK_TO_VACANT:
            target = "ACCORDE" if p.recrute_le is None else "TERMINE"
        p.statut = target
        p.statut_depuis = when
        if type_ == "CONTRAT_SIGNE":
            p.vacant_depuis = None
            p.a_reexaminer_depuis = None
            if p.recrute_le is None:
                p.recrute_le = when
        elif type_ == "FIN_DE_CONTRAT":
            p.vacant_depuis = when
        p.version += 1
        s.add(post_event(p, type_, when, now, auteur, before, target, commentaire))
        s.flush()
        return post_view(p, now)


# -- returns to the pool ------------------------------------------------------------------------


def return_posts(
    session: Session, id_pg: int, posts: Sequence[Poste], when: datetime, motif: str, auteur: str
) -> None:
    """Return ``posts`` of one structure to the pool (inside the caller's transaction)."""
    if not posts:
        return
    for p in posts:
        assert p.statut in VACANT, p.statut
        s_before = p.statut
        p.statut = "RENDU"
        p.statut_depuis = when
        p.rendu_le = when
        p.motif_rendu = motif
        p.version += 1
        session.add(post_event(p, "RETOUR_AU_VIVIER", when, when, auteur, s_before, "RENDU", motif))
    k = len(posts)
    total = store.current_grant(store.coselec_entries(session, id_pg))
    # The grant decreases by a new entry (the history is append-only): the portal and the
    # next rounds read the last POSITIF total, as for any committee decision.
    session.add(
        CoselecRow(
            id_pg=id_pg,
            nombre_conseillers_coselec=max(0, total - k),
            attribues=-k,
            avis="POSITIF",
            numero=f"restitution-{when:%Y-%m-%d}",
            inserted_at=when,
            round_id=None,
            motifs=[motif],
            explication={"postesRendus": sorted(p.numero for p in posts)},
        )
    )
    prog = store.programme(session, for_update=True)
    prog.consumed = max(0, prog.consumed - k)
    prog.version += 1
    prog.updated_at = when


def deadlines(db: Database, now: datetime) -> dict[str, Any]:
    """Every overdue deadline at ``now`` (what :func:`apply_deadlines` would act on, and more)."""
    alerts = []
    with db.read() as s:
        for p in s.scalars(
            select(Poste).where(Poste.statut != "RENDU").order_by(Poste.id_pg, Poste.numero)
        ):
            for d in deadlines_of(p, now):
                if d["depassee"]:
                    alerts.append({"idPG": p.id_pg, "numero": p.numero, "statut": p.statut, **d})
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
    return {"date": store.iso(now), "alertes": alerts, "compte": dict(sorted(counts.items()))}


def apply_deadlines(db: Database, now: datetime, auteur: str = "") -> dict[str, Any]:
    """Flag grants to re-assess and return long-vacant posts to the pool (one transaction)."""
    flagged: list[tuple[int, int]] = []
    returned: list[tuple[int, int]] = []
    with db.write() as s:
        posts = list(
            s.scalars(
                select(Poste)
                .where(Poste.statut.in_(VACANT))
                .order_by(Poste.id_pg, Poste.numero)
                .with_for_update()
            )
        )
        to_return: dict[int, list[Poste]] = {}
        for p in posts:
            vacant = aware(p.vacant_depuis)
            if vacant is not None and now > plus_months(vacant, VACANT_MONTHS):
                to_return.setdefault(p.id_pg, []).append(p)
                continue
            granted = aware(p.accorde_le)
            assert granted is not None
            if (
                p.recrute_le is None
                and p.a_reexaminer_depuis is None
                and now > plus_months(granted, REASSESS_MONTHS)
            ):
                p.a_reexaminer_depuis = now
                p.version += 1
                s.add(
                    post_event(
                        p,
                        "SIGNALEMENT_REEXAMEN",
                        now,
                        now,
                        auteur,
                        p.statut,
                        p.statut,
                        f"non recruté {REASSESS_MONTHS} mois après l'attribution",
                    )
                )
                flagged.append((p.id_pg, p.numero))
        for id_pg in sorted(to_return):
            return_posts(s, id_pg, to_return[id_pg], now, MOTIF_VACANCE, auteur)
            returned.extend((id_pg, p.numero) for p in to_return[id_pg])
        s.flush()
        prog = store.programme_view(store.programme(s))
    return {
        "date": store.iso(now),
        "signalesPourReexamen": [{"idPG": i, "numero": n} for i, n in flagged],
        "rendusAuVivier": [{"idPG": i, "numero": n} for i, n in returned],
        "programme": prog,
    }


# -- requests of a structure -------------------------------------------------------------------


def demande_view(d: DemandePostes) -> dict[str, Any]:
    return {
        "id": d.id,
        "idPG": d.id_pg,
        "type": d.type,
        "nombre": d.nombre,
        "statut": d.statut,
        "motif": d.motif,
        "creeeLe": store.iso(d.creee_le),
        "traiteeLe": store.iso(d.traitee_le),
        "roundId": d.round_id,
        "resultat": d.resultat,
    }
