"""The programme's figures: one French label and one definition each (:data:`FIGURES`).

The labels name the figures on every surface (the API documentation of
:mod:`service.contract.documents`, the command line, the agency pages, the committee pack); the
figures themselves are computed by :mod:`service.application.figures`.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure's French label (shown as is, first letter capitalised at the start of a line or
    a cell) and its French definition (API documentation, README)."""

    libelle: str
    definition: str

    @property
    def titre(self) -> str:
        """The label with a capital first letter (page headings, table cells)."""
        return self.libelle[:1].upper() + self.libelle[1:]


#: The one table of labels and definitions, keyed by the figure's JSON name.
FIGURES: dict[str, Figure] = {
    "enveloppe": Figure(
        "enveloppe nationale", "postes financés par l'État pour tout le programme (4 000)"
    ),
    "attribues": Figure(
        "postes attribués",
        "postes accordés par les décisions validées (tours, comités de 2021 importés, imports "
        "d'historique), qu'ils soient encore occupés, vacants ou rendus depuis",
    ),
    "rendus": Figure(
        "postes rendus au vivier",
        "postes attribués puis rendus (vacants trop longtemps ou restitués par leur "
        "structure) : l'enveloppe les récupère",
    ),
    "consommes": Figure(
        "postes consommés",
        "postes attribués moins les postes rendus au vivier : ce que les décisions prennent "
        "sur l'enveloppe nationale",
    ),
    "restants": Figure(
        "postes restants",
        "enveloppe nationale moins les postes consommés : ce que les tours suivants peuvent "
        "encore attribuer",
    ),
    "actifs": Figure(
        "postes actifs",
        "postes consommés détenus par une structure localisée (ni rendus, ni non localisés) : "
        "les conseillers déjà présents sur la carte",
    ),
    "nonLocalises": Figure(
        "postes non localisés",
        "postes attribués en 2021 à des structures sans code commune : comptés dans l'enveloppe, "
        "absents de la carte et des postes actifs",
    ),
    "demandeRestante": Figure(
        "demande restante",
        "postes demandés moins postes déjà attribués à la structure (jamais négative) : le "
        "plus qu'un tour puisse lui accorder",
    ),
}
