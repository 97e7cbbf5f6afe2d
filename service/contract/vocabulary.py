"""The structure vocabulary shared by the API schemas and the store: statuses and the fields of a
structure document that only the service decides.

It lives at the bottom of the contract so that :mod:`service.store.models` (the ``statut`` CHECK
constraint) and :mod:`service.contract.documents` (the API's ``statut`` field) name one list.
"""

from __future__ import annotations

from typing import Literal

#: Statuses of a structure, as named by the portal.
STATUTS = (
    "CREEE",
    "VALIDATION_COSELEC",
    "EXAMEN_COMPLEMENTAIRE_COSELEC",
    "REFUS_COSELEC",
    "ANNULEE",
    "ABANDON",
    "DOUBLON",
)

StatutName = Literal[
    "CREEE",
    "VALIDATION_COSELEC",
    "EXAMEN_COMPLEMENTAIRE_COSELEC",
    "REFUS_COSELEC",
    "ANNULEE",
    "ABANDON",
    "DOUBLON",
]
assert set(StatutName.__args__) == set(STATUTS)  # type: ignore[attr-defined]

#: Statuses the portal may set (submitted, or withdrawn: cancelled, abandoned, duplicate); the
#: others follow committee decisions.
STATUTS_PORTAIL = ("CREEE", "ANNULEE", "ABANDON", "DOUBLON")

#: Events of a post's life the portal reports (``POST .../postes/{numero}/evenements``), in the
#: order of :data:`service.application.posts.TRANSITIONS`, which gives each its effect.
EVENT_TYPES = (
    "CANDIDAT_PRESENTE",
    "CANDIDAT_SELECTIONNE",
    "CANDIDAT_REFUSE",
    "CONTRAT_SIGNE",
    "ENTREE_EN_FORMATION",
    "PRISE_DE_POSTE",
    "FIN_DE_CONTRAT",
)

#: Fields of a structure document that the service alone decides: a lock (``verrou``: only a
#: committee override of a round sets one), the coselec history (committed rounds and the admin
#: history import write it) and the store's own view fields. A document carrying one is refused
#: by name (``statut`` has its own rule:
#: :func:`service.application.structures.check_portal_document`).
SERVER_FIELDS = (
    "verrou",
    "coselec",
    "nombreConseillersAttribues",
    "derniereExplication",
    "creeLe",
    "modifieLe",
)

#: French names of the structure types (``type`` of a structure), in the letters and the pages.
TYPES_STRUCTURE = {
    "COMMUNE": "Commune",
    "EPCI": "EPCI",
    "DEPARTEMENT": "Département",
    "REGION": "Région",
    "COLLECTIVITE": "Collectivité",
    "GIP": "GIP",
    "PRIVATE": "Structure privée",
}
