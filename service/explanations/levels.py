"""Levels of explanation of a round result and the keys of a decision's explanation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The engine keys of a decision's ``explication`` (kept as they are, next to ours).
ENGINE_KEYS = ("priorites", "rangs", "seuil", "details", "territoire")
#: The keys this module adds to each decision's ``explication``.
PART_KEYS = (
    "mention",
    "contribution",
    "essentiel",
    "donnees",
    "parametres",
    "operations",
    "contrefactuel",
    "texte",
    "resume",
)
#: Levels of explanation of a round result (``POST /v1/allocate?explication=``, ``allocator
#: allocate --explication``): the whole letter of every decision (the default), or its opening
#: paragraph and numbers.
NIVEAU_COMPLET = "complete"
NIVEAU_COMPACT = "compacte"
NIVEAUX = (NIVEAU_COMPLET, NIVEAU_COMPACT)
#: What the compact level keeps of a decision's explanation (the values of the full level).
COMPACT_KEYS = ("priorites", "rangs", "seuil", "essentiel", "resume", "contrefactuel")
#: Where the service serves the letter of a structure's latest committed decision.
CHEMIN_EXPLICATION = "/v1/structures/{idPG}/explication"
#: Key of a compact result saying its level (a full result has none: it is as it always was).
CLE_NIVEAU = "niveauExplication"


def compacte(expl: Mapping[str, Any], id_pg: int) -> dict[str, Any]:
    """A decision's explanation at the compact level: the opening paragraph, the one-line
    summary, the engine's numbers and the counterfactual, as the full level has them, and the
    path of the full letter once the structure's decision is committed."""
    out = {k: expl[k] for k in COMPACT_KEYS if k in expl}
    out["explicationComplete"] = CHEMIN_EXPLICATION.format(idPG=int(id_pg))
    return out


def niveau_explication(niveau: str) -> str:
    """``niveau`` if it is one of :data:`NIVEAUX` (else ``ValueError``)."""
    if niveau not in NIVEAUX:
        raise ValueError(f"explanation level must be one of {NIVEAUX}, got {niveau!r}")
    return niveau


def compact_result(result: dict[str, Any]) -> dict[str, Any]:
    """A round result (full level) at the compact level: each decision's explanation is
    :func:`compacte` of its own (in place; returned). The same as :func:`attach` at the
    compact level, for a result already explained (``POST /v1/allocate?explication=compacte``).
    """
    for d in result.get("decisions", ()):
        d["explication"] = compacte(d.get("explication") or {}, d["idPG"])
    result[CLE_NIVEAU] = NIVEAU_COMPACT
    return result
