"""French wording of codes shown on the agency pages (codes stay the stable machine values)."""

from __future__ import annotations

STATUTS_TOUR = {"draft": "Brouillon", "committed": "Validé"}

STATUTS_RESULTAT = {
    "OPTIMAL": "optimal",
    "FEASIBLE": "réalisable (écart d'optimalité indiqué)",
    "INFEASIBLE": "infaisable",
}


def motif(code: str) -> str:
    """French label of a motif code: the wording of
    :data:`service.explanations.legal.MOTIF_LIBELLES`
    (the one used in the legal explanations), capitalised; the code itself when unknown."""
    from service.explanations.legal import MOTIF_LIBELLES

    text = MOTIF_LIBELLES.get(code)
    return text[:1].upper() + text[1:] if text else code
