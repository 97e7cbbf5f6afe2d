"""Applications from the portal: the rules a structure document must pass before the store.

The store (:mod:`service.store.repository`) takes plain values and knows no API schema; these
functions validate a :class:`~service.contract.documents.StructureDocument` (the portal's ``PUT``,
the export file of :mod:`service.application.intake`, the admin history import of
:mod:`service.application.history`) and hand the store its
:class:`~service.store.repository.StructureValues`:

- the document may not carry what the committee or the service decides
  (:func:`check_portal_document`: the :data:`~service.contract.vocabulary.SERVER_FIELDS` and a
  committee ``statut``, each refused by name);
- its commune codes must be in the bundled COG (:func:`check_communes`), so that one bad
  document cannot block a whole round;
- its SIRET may not be held by another ``idPG`` (:func:`check_siret`), as on the real platform.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from geodata import layers
from service.contract.documents import AvisPrefetBody, StructureDocument
from service.contract.errors import Conflict
from service.contract.schemas import FieldError, InvalidRequest
from service.contract.vocabulary import SERVER_FIELDS, STATUTS_PORTAIL
from service.store import repository as store
from service.store.models import Structure, utcnow
from service.store.repository import PrefetValues, StructureValues

#: Why each server-controlled field is refused (French, shown to the caller).
_SERVER_FIELD_REASONS = {
    "verrou": "champ fixé par le service : un verrou ne se pose que par un arbitrage du comité "
    "sur un tour",
    "coselec": "historique des décisions fixé par le service (tours validés) ; un historique "
    "antérieur s'importe par POST /v1/structures/import-historique (rôle admin)",
}

#: Collectivités d'outre-mer: in the COG but outside the programme's data.
COM_PREFIXES = ("975", "977", "978", "984", "986", "987", "988", "989")


def server_field_errors(doc: StructureDocument, allowed: tuple[str, ...] = ()) -> list[FieldError]:
    """One error per :data:`~service.contract.vocabulary.SERVER_FIELDS` field ``doc`` carries
    (but ``allowed``), naming it and saying why."""
    return [
        FieldError(
            name,
            _SERVER_FIELD_REASONS.get(name, "champ de la vue de la structure, fixé par le service"),
        )
        for name in doc.server_fields(allowed)
    ]


def refuse_server_fields(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidRequest(errors, detail="Le document contient des champs fixés par le service.")


def check_portal_document(doc: StructureDocument, current_statut: str | None) -> None:
    """Refuse a portal document that carries what only the committee or the service decides.

    A :data:`~service.contract.vocabulary.SERVER_FIELDS` field with a value (``verrou``,
    ``coselec``...) and a ``statut`` outside :data:`~service.contract.vocabulary.STATUTS_PORTAIL`
    are refused by name; a committee status equal to the stored one (``current_statut``) is an
    echo and changes nothing. Structures with their history come in through the admin import
    (:func:`service.application.history.import_structure`).
    """
    errors = server_field_errors(doc)
    if (
        doc.statut is not None
        and doc.statut not in STATUTS_PORTAIL
        and doc.statut != current_statut
    ):
        errors.append(
            FieldError(
                "statut",
                f"le statut {doc.statut} résulte d'une décision du comité ; le portail peut "
                f"seulement indiquer {', '.join(STATUTS_PORTAIL)}",
            )
        )
    refuse_server_fields(errors)


@functools.cache
def _known_codes() -> frozenset[str]:
    return frozenset(layers.known_codes()) | frozenset(layers.code_history_map())


def check_communes(doc: StructureDocument) -> None:
    """Refuse commune codes that the bundled COG (2026 or former codes) does not know.

    Checked when an application is stored, so that one bad document cannot block a whole round.
    """
    codes = [("codeCommune", doc.codeCommune)] + [
        (f"communesDesservies[{i}]", c) for i, c in enumerate(doc.communesDesservies or ())
    ]
    errors = []
    for champ, code in codes:
        if code.startswith(COM_PREFIXES):
            errors.append(
                FieldError(
                    champ, f"commune d'une collectivité d'outre-mer, hors programme : {code}"
                )
            )
        elif code not in _known_codes():
            errors.append(FieldError(champ, f"code commune inconnu : {code}"))
    if errors:
        raise InvalidRequest(errors)


def check_siret(session: Session, doc: StructureDocument) -> None:
    """A SIRET already held by another ``idPG`` is a conflict, as on the real platform."""
    if doc.siret is None:
        return
    holder = store.siret_holder(session, doc.siret, doc.idPG)
    if holder is not None:
        raise Conflict(
            f"Le SIRET {doc.siret} est déjà utilisé par la structure idPG {holder}.",
            [FieldError("siret", f"SIRET déjà utilisé par la structure idPG {holder}")],
        )


# -- documents → store values -------------------------------------------------------------------


def stored_document(doc: StructureDocument) -> dict[str, Any]:
    """The stored document: the portal's own fields (history, status and locks live apart)."""
    return doc.model_dump(
        mode="json", exclude_none=True, exclude={"prefet", "statut", *SERVER_FIELDS}
    )


def structure_values(doc: StructureDocument) -> StructureValues:
    """What the store writes of a validated document."""
    return StructureValues(
        id_pg=doc.idPG,
        siret=doc.siret,
        type=doc.type,
        nom=doc.nom,
        code_commune=doc.codeCommune,
        statut=doc.statut,
        document=stored_document(doc),
    )


def prefet_values(doc: StructureDocument) -> list[PrefetValues]:
    """The préfet opinions a document relays (imported when the structure is created)."""
    return [
        PrefetValues(p.avisPrefet, p.nombreConseillersPrefet, p.commentairePrefet, p.insertedAt)
        for p in doc.prefet
    ]


# -- use cases ------------------------------------------------------------------------------------


def create_structure(
    session: Session, doc: StructureDocument, auteur: str, now: datetime
) -> Structure:
    """Insert a new structure and its relayed préfet opinions (``doc.statut`` or CREEE)."""
    return store.create_structure(session, structure_values(doc), prefet_values(doc), auteur, now)


def upsert_structure(session: Session, doc: StructureDocument) -> tuple[bool, dict[str, Any]]:
    """Create or update an application from the portal (idempotent ``PUT``).

    Returns ``(created, view)``. The document may not carry what the committee or the service
    decides (:func:`check_portal_document`: 422 naming the field). On creation the préfet
    opinions it relays are imported; afterwards they come through :func:`record_avis_prefet`.
    The portal may move a structure only to CREEE, ANNULEE, ABANDON or DOUBLON.
    """
    check_communes(doc)
    row = session.get(Structure, doc.idPG, with_for_update=True)
    check_portal_document(doc, None if row is None else row.statut)
    check_siret(session, doc)
    now = utcnow()
    values = structure_values(doc)
    if row is None:
        created = True
        row = store.create_structure(session, values, prefet_values(doc), "import", now)
    else:
        created = False
        store.update_structure(row, values, now)
    store.flush_structure(session, doc.idPG)
    return created, store.structure_view(session, row)


def record_avis_prefet(
    session: Session, id_pg: int, body: AvisPrefetBody, auteur: str = ""
) -> dict[str, Any]:
    """Append a préfet opinion (the latest one is what the next round uses)."""
    prefet = PrefetValues(body.avisPrefet, body.nombreConseillersPrefet, body.commentairePrefet)
    return store.record_avis_prefet(session, id_pg, prefet, auteur)
