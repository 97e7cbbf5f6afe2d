"""Schemas of the stateful HTTP resources (structures, préfet opinions, rounds) and responses.

The round request itself lives in :mod:`service.schemas` (shared with the CLI). The models here
add the portal fields the store keeps, bound every number that reaches a database column, and
describe the responses for the OpenAPI document (``/openapi.json``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from service.models import STATUTS
from service.schemas import (
    AvisPrefetIn,
    CoselecIn,
    FieldError,
    InvalidRequest,
    PolitiqueIn,
    StructureIn,
    _check_code,
    _path,
)

MAX_ID = 2**53 - 1  # JSON-safe integer ids (fit PostgreSQL BIGINT, exact in JavaScript)
MAX_POSTS = 100_000
SIRET_RE = re.compile(r"^\d{14}$")

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

#: Statuses the portal may set on an existing structure (the others follow committee decisions).
STATUTS_PORTAIL = ("CREEE", "ANNULEE", "ABANDON", "DOUBLON")

Posts = Annotated[StrictInt, Field(ge=0, le=MAX_POSTS)]


def parse_model(model: type[BaseModel], payload: Any) -> Any:
    """Validate a decoded JSON document against ``model``; raise :class:`InvalidRequest`."""
    if not isinstance(payload, dict):
        raise InvalidRequest([FieldError("(corps)", "un objet JSON est attendu")])
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(
                p
                for p in err["loc"]
                if not (
                    isinstance(p, str)
                    and p.startswith(("function-", "int", "float", "literal", "constrained"))
                )
            )
            errors.append(FieldError(_path(loc), err["msg"].removeprefix("Value error, ")))
        raise InvalidRequest(errors) from None


# -- structures -------------------------------------------------------------------------------


class PrefetDocument(AvisPrefetIn):
    nombreConseillersPrefet: Posts | None = None


class CoselecDocument(CoselecIn):
    nombreConseillersCoselec: Posts = 0
    numero: Annotated[str, Field(max_length=64)] | None = None


class StructureDocument(StructureIn):
    """A portal structure document as ``PUT /v1/structures/{idPG}`` accepts it.

    Unknown fields (``contact``, ``location``, ``insee``, ``qpvListe``, ``demandesCoselec``...)
    are dropped here and never stored. ``prefet`` and ``coselec`` are imported when the structure
    is created; afterwards the service owns them (``avis-prefet`` endpoint, committed rounds).
    """

    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    motivation: str | None = None
    codePostal: Annotated[str, Field(max_length=10)] | None = None
    codeDepartement: Annotated[str, Field(max_length=3)] | None = None
    codeRegion: Annotated[str, Field(max_length=3)] | None = None
    statut: StatutName | None = None
    prefet: list[PrefetDocument] = Field(default_factory=list)
    coselec: list[CoselecDocument] = Field(default_factory=list)
    verrou: Posts | None = None

    @field_validator("siret")
    @classmethod
    def _siret(cls, v: str | None) -> str | None:
        if v is not None and not SIRET_RE.match(v):
            raise ValueError(f"SIRET attendu sur 14 chiffres ; reçu {v!r}")
        return v


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

    mois: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
    quota: Annotated[StrictInt, Field(ge=0, le=MAX_POSTS)]
    politique: PolitiqueIn | None = None


class RoundOverrideBody(BaseModel):
    """``PATCH /v1/rounds/{id}``: lock a structure at ``nombre`` posts of this round."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    nombre: Annotated[StrictInt, Field(ge=0, le=1000)]
    motif: Annotated[str, Field(min_length=3, max_length=1000)]

    @field_validator("motif")
    @classmethod
    def _motif(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("le motif est obligatoire")
        return v


class RoundCommitBody(BaseModel):
    """``POST /v1/rounds/{id}/commit`` (body optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- responses (documentation; the views build plain dicts) --------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


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
    """The contract's round result."""

    status: Literal["OPTIMAL", "FEASIBLE", "INFEASIBLE"]
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
    structures: list[int]
    resultat: RoundResult


class RoundSummary(_Out):
    id: int
    mois: str
    quota: int
    statut: Literal["draft", "committed"]
    attribues: int
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


def check_code_commune(value: str) -> str:
    """Re-export of the request schema's COG check (for path parameters)."""
    return _check_code(value)
