"""Reading a decision's inputs (engine explanation, request structure) at once."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from service.explanations.levels import ENGINE_KEYS


def lire(d: Any, champs: tuple[tuple[str, Any], ...]) -> tuple[Any, ...]:
    """``(d.get(key, default), ...)`` for each ``(key, default)`` of ``champs``."""
    return tuple([d.get(k, v) for k, v in champs])


# What each decision's explanation reads from the engine's ``explication``: read at once with
# ``itemgetter`` (C) when the mapping is a dict holding every key, else key by key with ``.get``.
ENGINE_CHAMPS = tuple((k, None) for k in ("priorites", "rangs", "seuil", "details", "territoire"))
TERRITOIRE_CHAMPS = tuple(
    (k, None)
    for k in (
        "codeCommune",
        "departement",
        "communesDesservies",
        "populationFragile",
        "offreExistante",
        "zrr",
        "franceServices",
        "indicateurRepli",
        "indicateurs",
    )
)
INDICATEURS_CHAMPS = tuple(
    (k, None)
    for k in (
        "score_global",
        "accessibility_10k_commune",
        "accessibility_10k_area",
        "advisors_in_area",
        "share_without_advisor_area",
        "population_area",
        "need_fallback_reasons",
    )
)
DETAILS_CHAMPS = (
    ("departement", None),
    ("epci", None),
    ("quality_factor", None),
    ("cofunding_factor", 1.0),
    ("cost", None),
    ("gains", None),
    ("remaining_request", None),
    ("next_post", None),
    ("counterfactual", None),
)
DEPARTEMENT_CHAMPS = tuple(
    (k, None) for k in ("code", "need", "existing", "fair_share", "posts_round", "cap_room")
)
EPCI_CHAMPS = tuple((k, None) for k in ("code", "need", "existing", "posts_round"))
COUT_CHAMPS = tuple((k, None) for k in ("standard_eur", "state_eur", "cofunding_eur"))
SUIVANT_CHAMPS = (("balance", None), ("distribution", None))
CONTREFACTUEL_CHAMPS = tuple(
    (k, None) for k in ("min_quality", "larger_request_would_help", "verified", "nested")
)
ENGINE_KEYS_GET = itemgetter(*ENGINE_KEYS)
ENGINE = itemgetter(*(k for k, _ in ENGINE_CHAMPS))
TERRITOIRE = itemgetter(*(k for k, _ in TERRITOIRE_CHAMPS))
INDICATEURS = itemgetter(*(k for k, _ in INDICATEURS_CHAMPS))
DETAILS = itemgetter(*(k for k, _ in DETAILS_CHAMPS))
DEPARTEMENT = itemgetter(*(k for k, _ in DEPARTEMENT_CHAMPS))
EPCI = itemgetter(*(k for k, _ in EPCI_CHAMPS))
COUT = itemgetter(*(k for k, _ in COUT_CHAMPS))
SUIVANT = itemgetter(*(k for k, _ in SUIVANT_CHAMPS))
CONTREFACTUEL = itemgetter(*(k for k, _ in CONTREFACTUEL_CHAMPS))
#: The request's fields read by the explanation (pydantic keeps them in the instance's
#: ``__dict__``: read at once there, else attribute by attribute).
STRUCTURE_CHAMPS = (
    "nom",
    "idPG",
    "type",
    "codeCommune",
    "nombreConseillersSouhaites",
    "qualiteProjet",
    "estZRR",
    "qpvStatut",
    "estLabelliseFranceServices",
    "prefet",
    "cofinancementEur",
    "cofinancementPart",
)
STRUCTURE = itemgetter(*STRUCTURE_CHAMPS)
