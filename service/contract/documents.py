"""Schemas of the stateful HTTP resources: structures, préfet opinions, rounds, query strings.

The round request itself lives in :mod:`service.contract.schemas` (shared with the CLI). The models
here add the portal fields the store keeps and bound every number that reaches a database column;
the responses, described for the OpenAPI document (``/openapi.json``), are
:mod:`service.contract.responses`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from allocator.programme import MAX_CONVENTION_MONTHS
from service.contract.schemas import (
    DEFAULT_MAX_STRUCTURES,
    MAX_ID,
    MAX_POSTS,
    AvisPrefetIn,
    CoselecIn,
    FieldError,
    InvalidRequest,
    IsoDateTime,
    Mois,
    PolitiqueIn,
    Posts,
    RoundRequest,
    StructureIn,
    check_structure_count,
    parse_model,
)
from service.contract.vocabulary import EVENT_TYPES, SERVER_FIELDS, STATUTS_PORTAIL, StatutName

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
#: What a refused field may hold without being refused (:meth:`StructureDocument.server_fields`).
_Absent = Annotated[
    Any, WithJsonSchema({"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]})
]


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
    verrou: Annotated[Posts | None, WithJsonSchema({"type": "null"})] = Field(
        default=None,
        description="toujours refusé : un verrou ne se pose que par un arbitrage du comité "
        "(PATCH /v1/rounds/{id})",
    )
    # Fields of the structure view (GET): server-controlled, refused on the way in.
    nombreConseillersAttribues: _Absent = Field(default=None, exclude=True, description=_REFUSED)
    derniereExplication: _Absent = Field(default=None, exclude=True, description=_REFUSED)
    creeLe: _Absent = Field(default=None, exclude=True, description=_REFUSED)
    modifieLe: _Absent = Field(default=None, exclude=True, description=_REFUSED)

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


class MonthlyRoundBody(BaseModel):
    """``POST /v1/rounds/mensuel``: the round of ``mois`` on the monthly cadence."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mois: Mois
    quota: Annotated[StrictInt, Field(ge=0, le=MAX_POSTS)] | None = None
    politique: PolitiqueIn | None = None


# -- posts ------------------------------------------------------------------------------------


class EventBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    date: UtcDateTime | None = None
    commentaire: Annotated[str, Field(max_length=2000)] | None = None


class DemandeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["AJOUT", "RESTITUTION"]
    nombre: Annotated[StrictInt, Field(ge=1, le=1000)]
    motif: Annotated[str, Field(max_length=2000)] = ""


#: A motif of 3 to 1,000 characters, not only blanks (``str.strip``), without NUL.
NOT_BLANK = {
    "type": "string",
    "minLength": 3,
    "maxLength": 1000,
    "pattern": "^[^\\u0000]*[^\\s\\u0000\\u001c-\\u001f\\u0085][^\\u0000]*$",
}


class RoundOverrideBody(BaseModel):
    """``PATCH /v1/rounds/{id}``: a committee arbitration of one structure, with its motif.

    ``{"idPG", "nombre", "motif"}`` locks the structure at ``nombre`` posts of this round (within
    its bound: :func:`service.application.locks.lock_bound`); ``{"idPG", "lever": true, "motif"}``
    lifts its
    lock. Either way the round is re-solved and the arbitration kept in its history.
    """

    # Either ``nombre`` or ``lever: true``, never both (:meth:`_one_action`), stated as oneOf.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["nombre"],
                    "properties": {"nombre": {"type": "integer"}, "lever": {"type": "null"}},
                },
                {
                    "required": ["lever"],
                    "properties": {"lever": {"const": True}, "nombre": {"type": "null"}},
                },
            ]
        },
    )

    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    nombre: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    lever: Literal[True] | None = Field(
        default=None, description="true : lever le verrou de la structure (sans « nombre »)"
    )
    motif: Annotated[str, Field(min_length=3, max_length=1000), WithJsonSchema(NOT_BLANK)]

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

#: Longest convention the programme pays for.
MAX_DUREE_MOIS = MAX_CONVENTION_MONTHS


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


# -- scenario comparison (POST /v1/scenarios, allocator scenario compare) -----------------------
#: Most variants one comparison may hold (HTTP and CLI alike): 20 national variants with their
#: causes and fairness prices stay under a minute on 2 cores.
MAX_VARIANTS = 20


# One variant of a scenarios document: its name, policy overrides and quota (no docstring: it
# would become the OpenAPI component's description; the class name is the component's name).
class _VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # "base" names the baseline (refused, as duplicates are: :func:`parse_scenarios`).
    nom: Annotated[
        str,
        Field(min_length=1, max_length=80),
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[^\\u0000]*$"}
            | {"not": {"const": "base"}}
        ),
    ]
    politique: PolitiqueIn | None = None
    quota: Posts | None = None


class ScenariosIn(BaseModel):
    """Body of ``POST /v1/scenarios`` and file of ``allocator scenario compare``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requete: RoundRequest
    variantes: Annotated[list[_VariantIn], Field(min_length=1, max_length=MAX_VARIANTS)]
    prixEquite: StrictBool = True
    causes: StrictBool = True


def parse_scenarios(payload: Any, max_structures: int = DEFAULT_MAX_STRUCTURES) -> ScenariosIn:
    """Validate a scenarios document; raise :class:`InvalidRequest` naming every bad field.

    The request holds at most ``max_structures`` structures and :data:`MAX_VARIANTS` variants.
    """
    if isinstance(payload, dict):
        check_structure_count(payload.get("requete"), max_structures, "requete.structures")
    doc: ScenariosIn = parse_model(ScenariosIn, payload)
    names = [v.nom for v in doc.variantes]
    dup = sorted({n for n in names if names.count(n) > 1 or n == "base"})
    if dup:
        raise InvalidRequest(
            [FieldError("variantes", f"noms de variantes en double ou réservés : {dup}")]
        )
    return doc
