"""Territorial diagnostic (``GET /v1/territoires/{niveau}/{code}``): geodata + store grants.

The indicators come from :func:`geodata.diagnostic.diagnostic_table` (need, existing advisors,
administrative coverage, E2SFCA accessibility with the straight-line × detour / speed proxy),
computed with the store's current state of existing advisors: the bundled 2021 advisors plus the
posts granted by committed rounds. The store adds the applications of the territory and what
committed rounds granted there.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from typing import Any

from allocator import programme
from geodata import GeodataError, RekeyedCodeWarning, bundled_existing_advisors, layers
from geodata.round import commune_indicators
from service.contract.errors import NotFound
from service.contract.schemas import FieldError, InvalidRequest
from service.store import repository as store
from service.store.db import Database

# [0-9], never \d (other scripts' digits), applied with fullmatch ($ accepts a final newline).
CODE_RE = {
    "commune": re.compile(r"[0-9]{5}|2[AB][0-9]{3}"),
    "departement": re.compile(r"[0-9]{2}|2[AB]|97[0-9]"),
    "epci": re.compile(r"[0-9]{9}"),
}
CODE_HELP = {
    "commune": "code commune INSEE sur 5 caractères (p. ex. 01283, 2A004)",
    "departement": "code département (p. ex. 01, 2A, 974)",
    "epci": "SIREN de l'EPCI sur 9 chiffres",
}
METHODE = (
    "Besoin : population fragile (indice de fragilité numérique, calibré à 13 M). Accessibilité : "
    "E2SFCA, distance à vol d'oiseau entre centroïdes × facteur de détour / vitesse moyenne "
    "(pas de réseau routier). Conseillers existants : 2021 (données publiques) + tours validés."
)


@functools.cache
def cog_departements() -> dict[str, str]:
    """``code -> département`` of every COG 2026 commune
    (:func:`allocator.programme.departement_of`); read-only."""
    return {code: programme.departement_of(code) for code in layers.reference_names().communes}


@functools.cache
def _communes() -> tuple[dict[str, str], dict[str, str]]:
    """``code -> nom`` and ``code -> département`` of every COG 2026 commune and former code (a
    former code has the name and département of its commune now); read-only."""
    names = dict(layers.reference_names().communes)
    deps = dict(cog_departements())
    for old, new in layers.code_history_map().items():
        if new in names:
            names.setdefault(old, names[new])
            deps.setdefault(old, deps[new])
    return names, deps


def commune_name(code: str) -> str:
    """The name of a commune (COG 2026 or former code), ``""`` when unknown."""
    return _communes()[0].get(code, "")


def known_departement(code_commune: str) -> str:
    """The département of a known commune (:func:`allocator.programme.departement_of`; a former
    code's is that of its commune now), ``"?"`` when the code is no commune."""
    return _communes()[1].get(code_commune, "?")


def check_code(niveau: str, code: str) -> str:
    """Check the format of ``code`` for ``niveau`` (422 naming the ``code`` parameter)."""
    if not CODE_RE[niveau].fullmatch(code):
        raise InvalidRequest([FieldError("code", f"{CODE_HELP[niveau]} attendu ; reçu {code!r}")])
    return code


def _plain(value: Any) -> Any:
    """JSON-ready scalar: numpy → Python, NaN → None, floats rounded."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def existing_advisors(db: Database) -> dict[str, int] | None:
    """Bundled advisors + committed grants by code commune (``None``: bundled alone)."""
    with db.read() as s:
        extra = store.grants_by_commune(s)
    if not extra:
        return None
    existing = dict(bundled_existing_advisors())
    for code, n in extra.items():
        existing[code] = existing.get(code, 0) + n
    return existing


def diagnostic(db: Database, niveau: str, code: str) -> dict[str, Any]:
    """Need, coverage, accessibility and grants of one territory.

    Raises
    ------
    InvalidRequest
        Malformed code for the level.
    NotFound
        A well-formed code that is not a territory of the programme.
    """
    check_code(niveau, code)
    existing = existing_advisors(db)
    with warnings.catch_warnings():
        # former codes of committed grants are re-keyed to COG 2026 on purpose
        warnings.simplefilter("ignore", RekeyedCodeWarning)
        return _diagnostic(db, niveau, code, existing)


def _diagnostic(
    db: Database, niveau: str, code: str, existing: dict[str, int] | None
) -> dict[str, Any]:
    # pandas (geodata.diagnostic) is imported for a diagnostic only, not with the module.
    from geodata.diagnostic import diagnostic_table

    communes = commune_indicators(existing)
    column = {"commune": None, "departement": "departement", "epci": "epci_siren"}[niveau]
    if column is None:
        members = communes.index[communes.index == code]
    else:
        members = communes.index[communes[column] == code]
    if len(members) == 0:
        raise NotFound(f"Aucun territoire {niveau} {code} dans les données du programme.")
    try:
        if niveau == "commune":
            dep = str(communes.loc[code, "departement"])
            table = diagnostic_table(departement=dep, existing=existing, level="commune")
        elif niveau == "departement":
            table = diagnostic_table(departement=code, existing=existing, level="departement")
        else:
            table = diagnostic_table(existing=existing, level="epci")
    except GeodataError as exc:  # pragma: no cover - members were found above
        raise NotFound(str(exc)) from None
    row = table.loc[code]
    indicators = {str(k): _plain(v) for k, v in row.items() if k != "nom"}
    with db.read() as s:
        structures = store.structures_in(s, [str(c) for c in members])
    return {
        "niveau": niveau,
        "code": code,
        "nom": _plain(row.get("nom")),
        "indicateurs": indicators,
        "dotations": {
            "structures": len(structures),
            "structuresEnAttente": sum(
                1 for x in structures if x["statut"] in ("CREEE", "EXAMEN_COMPLEMENTAIRE_COSELEC")
            ),
            "conseillersAttribues": sum(x["nombreConseillersAttribues"] for x in structures),
        },
        "structures": structures,
        "methode": METHODE,
    }
