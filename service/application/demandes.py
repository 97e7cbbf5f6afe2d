"""Requests of a structure after its grant: more posts (``AJOUT``) or posts handed back
(``RESTITUTION``); one pending request at a time (a partial unique index enforces it).

``AJOUT`` sends the structure back to complementary review with its wish raised by ``nombre``
(the next committed round that includes it closes the request); ``RESTITUTION`` hands back
``nombre`` free posts at once (:func:`service.application.posts.return_posts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.application import posts
from service.contract.errors import Conflict
from service.contract.schemas import FieldError, InvalidRequest
from service.explanations.wording import pluriel
from service.store import repository as store
from service.store.db import Database
from service.store.models import DemandePostes, Structure


def file_request(
    db: Database,
    id_pg: int,
    *,
    type_: str,
    nombre: int,
    now: datetime,
    motif: str = "",
    auteur: str = "",
) -> dict[str, Any]:
    """A structure asks for ``nombre`` more posts (AJOUT) or hands ``nombre`` back (RESTITUTION).

    Raises
    ------
    Conflict
        Another request is pending; AJOUT from a structure that holds no validated grant;
        RESTITUTION of more posts than the structure's free (vacant) posts.
    """
    if type_ not in ("AJOUT", "RESTITUTION"):
        raise InvalidRequest([FieldError("type", "AJOUT ou RESTITUTION attendu")])
    if nombre < 1:
        raise InvalidRequest([FieldError("nombre", "au moins 1 poste")])
    try:
        with db.write() as s:
            row = store.get_structure_row(s, id_pg, for_update=True)
            pending = s.scalars(
                select(DemandePostes).where(
                    DemandePostes.id_pg == id_pg, DemandePostes.statut == "EN_ATTENTE"
                )
            ).first()
            if pending is not None:
                raise Conflict(
                    f"La structure idPG {id_pg} a déjà une demande en attente (n° {pending.id}, "
                    f"{pending.type} de {pluriel(pending.nombre, 'poste')})."
                )
            dem = DemandePostes(
                id_pg=id_pg,
                type=type_,
                nombre=nombre,
                statut="EN_ATTENTE",
                motif=motif[:2000],
                auteur=auteur[:64],
                creee_le=now,
            )
            if type_ == "AJOUT":
                _ajout(s, row, nombre, now)
            else:
                held = posts.structure_posts(s, id_pg, for_update=True)
                free = [p for p in held if p.statut in posts.VACANT]
                if nombre > len(free):
                    raise Conflict(
                        f"La structure idPG {id_pg} ne peut rendre que ses postes libres "
                        f"({len(free)}) ; {nombre} demandés.",
                        [FieldError("nombre", f"au plus {len(free)} postes libres")],
                    )
                # Posts without a candidate first, then the most recent numbers.
                free.sort(key=lambda p: (p.statut not in ("ACCORDE", "TERMINE"), -p.numero))
                posts.return_posts(s, id_pg, free[:nombre], now, posts.MOTIF_RESTITUTION, auteur)
                dem.statut = "TRAITEE"
                dem.traitee_le = now
                dem.resultat = nombre
            s.add(dem)
            s.flush()
            return posts.demande_view(dem)
    except IntegrityError:  # the partial unique index caught a concurrent request
        raise Conflict(f"La structure idPG {id_pg} a déjà une demande en attente.") from None


def _ajout(session: Session, row: Structure, nombre: int, now: datetime) -> None:
    if row.statut != "VALIDATION_COSELEC":
        raise Conflict(
            f"La structure idPG {row.id_pg} est à l'état {row.statut} : une demande de postes "
            "supplémentaires suppose une attribution validée (sinon, candidature via le portail)."
        )
    total = store.current_grant(store.coselec_entries(session, row.id_pg))
    document = dict(row.document)
    document["nombreConseillersSouhaites"] = total + nombre
    row.document = document
    row.statut = "EXAMEN_COMPLEMENTAIRE_COSELEC"
    row.updated_at = now
