"""Schemas of the stateful HTTP resources (structures, préfet opinions, rounds) and responses.

The round request itself lives in :mod:`service.contract.schemas` (shared with the CLI). The models
here
add the portal fields the store keeps, bound every number that reaches a database column, and
describe the responses for the OpenAPI document (``/openapi.json``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from service.contract.figures import FIGURES
from service.contract.schemas import (
    MAX_ID,
    MAX_POSTS,
    AvisPrefetIn,
    CoselecIn,
    IsoDateTime,
    Mois,
    PolitiqueIn,
    Posts,
    StructureIn,
    parse_model,
)
from service.contract.vocabulary import SERVER_FIELDS, STATUTS_PORTAIL, StatutName

# re-exported from service.contract.schemas and service.contract.vocabulary
__all__ = ["MAX_ID", "MAX_POSTS", "SERVER_FIELDS", "STATUTS_PORTAIL", "Mois", "Posts", "StatutName"]


def _utc(value: datetime) -> datetime:
    """Naive → UTC; aware → converted to UTC (in range: checked by :data:`IsoDateTime`)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: A date-time (ISO 8601 string within the contract's range), normalised to UTC.
UtcDateTime = Annotated[IsoDateTime, AfterValidator(_utc)]


# -- structures -------------------------------------------------------------------------------


class PrefetDocument(AvisPrefetIn):
    nombreConseillersPrefet: Posts | None = None


class CoselecDocument(CoselecIn):
    nombreConseillersCoselec: Posts = 0
    numero: Annotated[str, Field(max_length=64)] | None = None


_REFUSED = "champ de la vue, fixé par le service : refusé s'il est présent"


class StructureDocument(StructureIn):
    """A structure document: the portal's (``PUT /v1/structures/{idPG}``) or an admin's history
    import (``POST /v1/structures/import-historique``).

    Unknown fields (``contact``, ``location``, ``insee``, ``qpvListe``, ``demandesCoselec``...)
    are dropped here and never stored. The :data:`SERVER_FIELDS` are declared so that a document
    carrying one is refused by name, never silently kept or dropped: the portal may not send
    ``verrou``, ``coselec`` nor a committee ``statut``; the admin import may send ``coselec`` and
    ``statut`` (history decided before the service) but never ``verrou``. ``prefet`` entries
    (relayed by the portal) are imported when the structure is created; later opinions go
    through ``POST /v1/structures/{idPG}/avis-prefet``.
    """

    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    motivation: str | None = None
    codePostal: Annotated[str, Field(max_length=10)] | None = None
    codeDepartement: Annotated[str, Field(max_length=3)] | None = None
    codeRegion: Annotated[str, Field(max_length=3)] | None = None
    statut: StatutName | None = Field(
        default=None,
        description="portail : CREEE, ANNULEE, ABANDON ou DOUBLON (ou le statut déjà enregistré) ; "
        "import d'historique (admin) : tout statut",
    )
    # Narrower entries than StructureIn's (a document bounds what reaches the database):
    # pydantic validates the override; the type checker sees an invariant list.
    prefet: list[PrefetDocument] = Field(default_factory=list)  # type: ignore[assignment]
    coselec: list[CoselecDocument] = Field(  # type: ignore[assignment]
        default_factory=list,
        description="refusé sur PUT (historique fixé par le service) ; admis par l'import "
        "d'historique (admin)",
    )
    verrou: Posts | None = Field(
        default=None,
        description="toujours refusé : un verrou ne se pose que par un arbitrage du comité "
        "(PATCH /v1/rounds/{id})",
    )
    # Fields of the structure view (GET): server-controlled, refused on the way in.
    nombreConseillersAttribues: Any = Field(default=None, exclude=True, description=_REFUSED)
    derniereExplication: Any = Field(default=None, exclude=True, description=_REFUSED)
    creeLe: Any = Field(default=None, exclude=True, description=_REFUSED)
    modifieLe: Any = Field(default=None, exclude=True, description=_REFUSED)

    def server_fields(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """The :data:`SERVER_FIELDS` this document carries (a value other than null or ``[]``),
        except ``allowed``."""
        return [
            name
            for name in SERVER_FIELDS
            if name not in allowed and getattr(self, name) not in (None, [])
        ]


class AvisPrefetBody(BaseModel):
    """``POST /v1/structures/{idPG}/avis-prefet``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    avisPrefet: Literal["POSITIF", "NÉGATIF", "NEGATIF"]
    commentairePrefet: Annotated[str, Field(min_length=10, max_length=1000)]
    nombreConseillersPrefet: Posts | None = None


# -- rounds -----------------------------------------------------------------------------------


class RoundDraftBody(BaseModel):
    """``POST /v1/rounds``: draft a round over the pending structures."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mois: Mois
    quota: Annotated[StrictInt, Field(ge=0, le=MAX_POSTS)]
    politique: PolitiqueIn | None = None


class RoundOverrideBody(BaseModel):
    """``PATCH /v1/rounds/{id}``: a committee arbitration of one structure, with its motif.

    ``{"idPG", "nombre", "motif"}`` locks the structure at ``nombre`` posts of this round (within
    its bound: :func:`service.application.rounds.lock_bound`); ``{"idPG", "lever": true, "motif"}``
    lifts its
    lock. Either way the round is re-solved and the arbitration kept in its history.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    nombre: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    lever: Literal[True] | None = Field(
        default=None, description="true : lever le verrou de la structure (sans « nombre »)"
    )
    motif: Annotated[str, Field(min_length=3, max_length=1000)]

    @field_validator("nombre", mode="before")
    @classmethod
    def _not_negative(cls, v: Any, info: ValidationInfo) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            raise ValueError(
                f"verrou refusé pour la structure idPG {info.data.get('idPG', '?')} : "
                "un verrou fixe au moins 0 poste"
            )
        return v

    @field_validator("motif")
    @classmethod
    def _motif(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("le motif est obligatoire")
        return v

    @model_validator(mode="after")
    def _one_action(self) -> RoundOverrideBody:
        if (self.nombre is None) == (self.lever is None):
            raise ValueError(
                "indiquer soit « nombre » (poser un verrou), soit « lever »: true (le lever)"
            )
        return self


class RoundCommitBody(BaseModel):
    """``POST /v1/rounds/{id}/commit`` (body optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- query strings ------------------------------------------------------------------------------

#: Longest convention the programme pays for (=
# ``service.application.cycle.MAX_CONVENTION_MONTHS``).
MAX_DUREE_MOIS = 36


class _Query(BaseModel):
    # Unknown query parameters (cache busters...) are ignored, as Flask does.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProgrammeQuery(_Query):
    """``GET /v1/programme?duree=``."""

    duree: (
        Annotated[
            int,
            Field(
                ge=1,
                le=MAX_DUREE_MOIS,
                description="durée de convention (mois) pour le calcul des coûts ; "
                "par défaut la durée de référence (24 mois public, 18 mois privé)",
            ),
        ]
        | None
    ) = None


class EcheancesQuery(_Query):
    """``GET /v1/postes/echeances?date=``."""

    date: (
        Annotated[
            UtcDateTime,
            Field(
                description="date d'évaluation des échéances (ISO 8601, UTC si sans fuseau) ; "
                "par défaut maintenant"
            ),
        ]
        | None
    ) = None


def parse_query(model: type[BaseModel], args: Any) -> Any:
    """Validate a query string (a ``MultiDict``, first value of each key) against ``model``."""
    return parse_model(model, args.to_dict())


# -- responses (documentation; the views build plain dicts) --------------------------------------


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
