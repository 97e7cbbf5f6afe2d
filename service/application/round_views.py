"""The JSON views of a stored round (``GET /v1/rounds/{id}``, ``GET /v1/rounds``, the review
pages, ``allocator round list | show``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.application import figures
from service.store import repository as store
from service.store.models import ROUND_COMMITTED, Round


def _locks_out(locks: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(locks[k], idPG=int(k)) for k in sorted(locks, key=int)]


def arbitrages(row: Round) -> list[dict[str, Any]]:
    """The round's arbitrations, oldest first: each lock set (``verrou``) or lifted (``levee``).

    Kept in the snapshot (``arbitrages``; the snapshot's other keys are the solve's input, which
    this list is not). Rounds stored before it have their current locks only.
    """
    history = (row.snapshot or {}).get("arbitrages")
    if history is not None:
        return [dict(h) for h in history]
    locks = _locks_out(row.locks or {})
    return [
        {
            "action": "verrou",
            "idPG": v["idPG"],
            "nombre": v["nombre"],
            "motif": v["motif"],
            "auteur": v["auteur"],
            "date": v["date"],
            "version": v.get("version"),
        }
        for v in sorted(locks, key=lambda v: (v.get("version") or 0, v["idPG"]))
    ]


def round_view(row: Round) -> dict[str, Any]:
    """The JSON view of a round (``GET /v1/rounds/{id}``)."""
    return {
        "id": row.id,
        "mois": row.mois,
        "quota": row.quota,
        "politique": row.politique,
        "statut": row.status,
        "numero": str(row.id) if row.status == ROUND_COMMITTED else None,
        "auteur": row.author,
        "creeLe": store.iso(row.created_at),
        "modifieLe": store.iso(row.updated_at),
        "valideLe": store.iso(row.committed_at),
        "validePar": row.committed_by,
        "version": row.version,
        "verrous": _locks_out(row.locks or {}),
        "arbitrages": arbitrages(row),
        "structures": sorted(int(k) for k in row.snapshot.get("structures", {})),
        "programme": row.snapshot.get("programme"),
        "resultat": row.result,
    }


def round_summary(row: Round) -> dict[str, Any]:
    """A round in a list (``GET /v1/rounds``, ``allocator round list``, the rounds page): its
    posts are :func:`service.application.figures.round_granted`, unplaced ones included."""
    return {
        "id": row.id,
        "mois": row.mois,
        "quota": row.quota,
        "statut": row.status,
        "attribues": figures.round_granted(row.result),
        "nonLocalises": figures.round_unplaced(row.result),
        "auteur": row.author,
        "creeLe": store.iso(row.created_at),
        "valideLe": store.iso(row.committed_at),
    }
