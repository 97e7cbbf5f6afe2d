"""The responses of the HTTP API, described for the OpenAPI document (``/openapi.json``).

Documentation only: the views build plain dicts. The programme's figures carry their French
definitions (:data:`service.contract.figures.FIGURES`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.contract.figures import FIGURES
from service.contract.vocabulary import StatutName


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


def _figure(key: str) -> str:
    """A figure's French label and definition (:data:`service.contract.figures.FIGURES`), for
    the docs."""
    f = FIGURES[key]
    return f"{f.titre} : {f.definition}."


class ErrorItem(_Out):
    champ: str
    message: str


class Problem(_Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ErrorItem]
    instance: str | None = None


class DecisionOut(_Out):
    idPG: int
    nombreConseillersAttribues: int
    nombreConseillersCoselec: int
    avisCoselec: Literal["POSITIF", "NÉGATIF"]
    motifs: list[str]
    explication: dict[str, Any]


class RoundResult(_Out):
    """The contract's round result (``HISTORIQUE``: an imported 2021 committee)."""

    status: Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE", "HISTORIQUE"]
    decisions: list[DecisionOut]
    totaux: dict[str, Any]
    solveur: dict[str, Any]
    entreeSha256: str


class PrefetOut(_Out):
    avisPrefet: str | None
    nombreConseillersPrefet: int | None
    commentairePrefet: str | None
    insertedAt: str | None


class CoselecOut(_Out):
    nombreConseillersCoselec: int
    avisCoselec: str | None
    numero: str | None
    insertedAt: str | None
    roundId: int | None


class StructureOut(_Out):
    idPG: int
    type: str
    codeCommune: str
    nombreConseillersSouhaites: int
    statut: StatutName
    nombreConseillersAttribues: int
    prefet: list[PrefetOut]
    coselec: list[CoselecOut]
    derniereExplication: dict[str, Any] | None


class LockOut(_Out):
    idPG: int
    nombre: int
    motif: str
    auteur: str
    date: str


class ArbitrageOut(_Out):
    """One committee arbitration of a draft: a lock set (``verrou``) or lifted (``levee``).

    ``nombre``: the posts the lock fixes (``verrou``) or fixed until it was lifted (``levee``);
    ``version``: the round's version this arbitration produced.
    """

    action: Literal["verrou", "levee"]
    idPG: int
    nombre: int
    motif: str
    auteur: str
    date: str
    version: int | None


class RoundOut(_Out):
    id: int
    mois: str
    quota: int
    politique: dict[str, Any] | None
    statut: Literal["draft", "committed"]
    auteur: str
    creeLe: str
    valideLe: str | None
    verrous: list[LockOut]
    arbitrages: list[ArbitrageOut]
    structures: list[int]
    resultat: RoundResult


class RoundSummary(_Out):
    id: int
    mois: str
    quota: int
    statut: Literal["draft", "committed"]
    attribues: int = Field(
        description=_figure("attribues")
        + " Par ce tour (proposés, pour un brouillon), postes non localisés compris : "
        "« resultat.totaux.attribues » du tour, plus « nonLocalises »."
    )
    nonLocalises: int = Field(description=_figure("nonLocalises") + " Par ce tour.")
    creeLe: str
    valideLe: str | None


class RoundList(_Out):
    rounds: list[RoundSummary]


class TerritoireOut(_Out):
    niveau: Literal["departement", "epci", "commune"]
    code: str
    nom: str | None = None


class Health(_Out):
    status: str


# -- transparency -------------------------------------------------------------------------------


class ExplicationOut(_Out):
    """``GET /v1/structures/{idPG}/explication`` (JSON): the committed decision and its reasons."""

    idPG: int
    nom: str | None
    roundId: int
    numero: str | None
    date: str | None
    nombreConseillersAttribues: int
    nombreConseillersCoselec: int
    avisCoselec: str | None
    motifs: list[str]
    explication: dict[str, Any]


# -- monthly cycle, posts, programme ----------------------------------------------------------


class CadenceOut(_Out):
    dateTour: str
    receptionAvant: str
    quotaParDefaut: bool


class MonthlyRoundOut(RoundOut):
    """``POST /v1/rounds/mensuel``: the drafted round and its cadence."""

    cadence: CadenceOut


class ProgrammeCounters(_Out):
    enveloppe: int = Field(description=_figure("enveloppe"))
    consomme: int = Field(description=_figure("consommes"))
    restant: int = Field(description=_figure("restants"))
    version: int


class ImportedRound(_Out):
    id: int
    numero: str
    date: str
    postes: int


class ImportHistoriqueOut(_Out):
    """``POST /v1/rounds/import-historique``: 201 when imported, 200 when already done.

    ``tours`` lists the created rounds (201) or counts the existing ones (200).
    """

    importe: bool
    tours: list[ImportedRound] | int | None = None
    structures: int | None = None
    programme: ProgrammeCounters | None = None
    message: str | None = None


class ReplayValidator(_Out):
    verdict: Literal["conforme", "non conforme"]
    violations: list[str]


class ReplayOut(_Out):
    """``GET /v1/rounds/{id}/rejeu``: the replay certificate of a stored round."""

    roundId: int
    mois: str
    statut: str
    origine: str | None
    identique: bool
    entreeSha256: str
    entreeMoteurSha256: str | None
    entreeMoteurRejoueSha256: str | None
    resultatSha256: str
    resultatRejoueSha256: str | None
    solveur: dict[str, Any]
    validateur: ReplayValidator
    environnement: dict[str, Any]
    differences: list[dict[str, Any]]


class ProgrammeRound(_Out):
    """One committed round's posts (``id`` null: posts of admin history imports)."""

    id: int | None
    mois: str | None
    origine: str | None
    attribues: int = Field(description=_figure("attribues") + " Par ce tour.")
    nonLocalises: int = Field(description=_figure("nonLocalises") + " Par ce tour.")
    postes: int = Field(description=_figure("actifs") + " Issus de ce tour.")
    rendus: int = Field(description=_figure("rendus") + " Issus de ce tour.")
    coutEtatEur: float
    coutPostesRendusEur: float


class ProgrammeDepartement(_Out):
    departement: str
    nom: str
    postes: int
    partEquitable: int
    ecart: int
    postesPour10000Fragiles: float | None
    rendus: int
    coutEtatEur: float


class ProgrammeOut(ProgrammeCounters):
    """``GET /v1/programme``: envelope, posts by state, money per round and département."""

    historiqueImporte: bool
    postesAttribues: int = Field(description=_figure("attribues"))
    postesNonLocalises: int = Field(description=_figure("nonLocalises"))
    postesParStatut: dict[str, int]
    postesActifs: int = Field(description=_figure("actifs"))
    postesRendus: int = Field(description=_figure("rendus"))
    ecarts: list[str] = Field(
        description="Une phrase par écart entre ces chiffres sur ce registre, qui en dit la "
        "raison (postes rendus, postes non localisés) ; vide quand ils concordent."
    )
    demandesEnAttente: int
    dureeConventionMois: int | None
    coutEtatEur: float
    coutPostesRendusEur: float
    tours: list[ProgrammeRound]
    departements: list[ProgrammeDepartement] | None = None


class EcheanceOut(_Out):
    type: str
    echeance: str
    depassee: bool


class PosteOut(_Out):
    """One post of a structure and its running deadlines."""

    idPG: int
    numero: int
    statut: str
    roundId: int | None
    accordeLe: str | None
    statutDepuis: str | None
    vacantDepuis: str | None
    recruteLe: str | None
    aReexaminerDepuis: str | None
    renduLe: str | None
    motifRendu: str | None
    echeances: list[EcheanceOut]


class EvenementOut(_Out):
    type: str
    date: str | None
    enregistreLe: str | None
    auteur: str | None
    statutAvant: str | None
    statutApres: str | None
    commentaire: str | None


class PosteDetailOut(PosteOut):
    """``GET /v1/structures/{idPG}/postes/{numero}``: the post and its events."""

    evenements: list[EvenementOut]


class DemandeOut(_Out):
    """A structure's request for more posts (``AJOUT``) or to hand some back (``RESTITUTION``)."""

    id: int
    idPG: int
    type: Literal["AJOUT", "RESTITUTION"]
    nombre: int
    statut: str
    motif: str | None
    creeeLe: str | None
    traiteeLe: str | None
    roundId: int | None
    resultat: int | None


class PostesOut(_Out):
    """``GET /v1/structures/{idPG}/postes``."""

    idPG: int
    postes: list[PosteOut]
    postesLibres: int
    demandes: list[DemandeOut]


class AlerteOut(EcheanceOut):
    idPG: int
    numero: int
    statut: str


class EcheancesOut(_Out):
    """``GET /v1/postes/echeances``: the overdue deadlines at ``date``."""

    date: str
    alertes: list[AlerteOut]
    compte: dict[str, int]


class PosteRef(_Out):
    idPG: int
    numero: int


class EcheancesAppliedOut(_Out):
    """``POST /v1/postes/echeances``: grants flagged for re-assessment, posts returned."""

    date: str
    signalesPourReexamen: list[PosteRef]
    rendusAuVivier: list[PosteRef]
    programme: ProgrammeCounters


# -- scenarios ----------------------------------------------------------------------------------


class ScenariosOut(_Out):
    """``POST /v1/scenarios``: the comparison report (see :mod:`service.analysis.scenarios`)."""

    structures: int
    mois: str | None
    base: dict[str, Any]
    variantes: list[dict[str, Any]]
    prixEquite: list[dict[str, Any]]
    resolutions: int
    methode: Any
