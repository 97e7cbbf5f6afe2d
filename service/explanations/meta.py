"""The round's metadata (who drafted and committed it), its data sources and the state of
existing advisors a letter cites."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.contract.schemas import RoundRequest
from service.explanations.legal import FORMAT_EXPLICATION, source_ref
from service.explanations.wording import date_en_clair

STATUT_PROPOSITION = "proposition"
STATUT_BROUILLON = "brouillon"
STATUT_VALIDE = "valide"


@dataclass(frozen=True)
class RoundMeta:
    """What the round itself says about the decision process (``None`` = a stateless proposal).

    Attributes
    ----------
    round_id, mois
        The round (``numero`` of the coselec entries is ``str(round_id)``).
    statut
        ``brouillon`` (drafted, not committed) or ``valide`` (committed by the committee).
    auteur, cree_le
        Who drafted the round and when (ISO-8601): also the date of the existing-advisors state.
    valide_par, valide_le
        Who committed it and when (``None`` while a draft).
    verrous
        Committee locks ``{idPG: {"nombre", "motif", "auteur", "date", "proposition"?}}``.
    """

    round_id: int | None = None
    mois: str | None = None
    statut: str = STATUT_BROUILLON
    auteur: str | None = None
    cree_le: str | None = None
    valide_par: str | None = None
    valide_le: str | None = None
    verrous: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_round_view(cls, view: Mapping[str, Any]) -> RoundMeta:
        """From :func:`service.application.rounds.round_view` (``verrous`` as a list with
        ``idPG``)."""
        return cls(
            round_id=view.get("id"),
            mois=view.get("mois"),
            statut=STATUT_VALIDE if view.get("statut") == "committed" else STATUT_BROUILLON,
            auteur=view.get("auteur"),
            cree_le=view.get("creeLe"),
            valide_par=view.get("validePar"),
            valide_le=view.get("valideLe"),
            verrous={int(v["idPG"]): dict(v) for v in view.get("verrous") or ()},
        )


# -- the round's data sources -------------------------------------------------------------------


def round_sources(request: RoundRequest, geo: Any) -> dict[str, Any]:
    """Provenance of the round's territorial data (``sources`` of the round result).

    ``geo`` is the round's :class:`geodata.RoundGeodata`; only plain numbers are kept, so the
    result stays deterministic and replayable.
    """
    if request.conseillersExistants is not None:
        origine = "requete"
    elif geo.existing_source == "structures_2021":
        origine = "historique_2021"
    else:
        origine = "historique_2021_et_tours_valides"
    p = geo.params
    return {
        "conseillersExistants": {
            "origine": origine,
            "total": int(geo.existing_total),
            "nonLocalises": int(geo.existing_unlocated),
        },
        "accessibilite": {
            "detour": p.detour,
            "vitesseKmh": p.speed_kmh,
            "paliers": [[m, round(w, 6)] for m, w in p.steps],
            "franceServicesIncluses": p.include_france_services,
            "poidsFranceServices": p.france_services_weight,
            "capacite": round(p.capacity, 6),
        },
        "formatExplication": FORMAT_EXPLICATION,
    }


def etat_cite(origine: str | None, meta: RoundMeta | None) -> tuple[str, ...]:
    """The public sources :func:`etat_conseillers` cites."""
    if origine == "requete":
        return ()
    return ("S5",)


def etat_conseillers(
    origine: str | None, meta: RoundMeta | None, numeros: Mapping[str, str] | None = None
) -> str:
    date = (meta.cree_le or "") if meta else ""
    quand = f"au {date_en_clair(date)}" if date else "à la date du calcul"
    if origine == "requete" and meta is not None and meta.round_id is not None:
        return f"conseillers en poste enregistrés dans le registre du service {quand}"
    if origine == "requete":
        return (
            "conseillers en poste transmis avec la demande de calcul (état fourni par l'appelant)"
        )
    if origine == "historique_2021":
        return (
            "conseillers des structures validées par les comités de sélection du 24 mars au "
            f"19 mai 2021 ({source_ref('S5', numeros=numeros)})"
        )
    return (
        "conseillers des structures validées par les comités de 2021 "
        f"({source_ref('S5', numeros=numeros)}), plus les postes attribués par les tours validés "
        f"du registre {quand}"
    )


def existing_sources(origine: str | None, meta: RoundMeta | None) -> list[str]:
    if origine == "historique_2021":
        return ["S5"]
    if origine == "requete":
        stored = meta is not None and meta.round_id is not None
        return ["S5", "tours_valides"] if stored else ["requete"]
    return ["S5", "tours_valides"]


QUI = {
    STATUT_VALIDE: "décision du comité",
    STATUT_BROUILLON: "proposition, tour en brouillon",
    STATUT_PROPOSITION: "proposition de l'algorithme",
}
