"""Schemas at the edge: the round request of ``CONTRACT.md`` (HTTP body and CLI file).

Validation happens here, once, for the CLI and the HTTP API alike. Errors are collected as
``FieldError(champ, message)`` with the portal's own field paths (``structures[3].codeCommune``).
Unknown fields are accepted and dropped (the portal sends whole documents that may hold personal
data; they are never echoed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CODE_INSEE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
MOIS_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

StructureTypeName = Literal[
    "COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE"
]


@dataclass(frozen=True)
class FieldError:
    champ: str
    message: str


class InvalidRequest(ValueError):
    """Bad input: carries the list of faulty fields (mapped to 400/422 or CLI exit code 2)."""

    def __init__(self, errors: list[FieldError], detail: str = "La requête est invalide."):
        super().__init__(detail + " " + "; ".join(f"{e.champ}: {e.message}" for e in errors))
        self.errors = errors
        self.detail = detail


def _check_code(value: str) -> str:
    if not CODE_INSEE_RE.match(value):
        raise ValueError(
            "code commune INSEE (COG) attendu sur 5 caractères, p. ex. '01283' ou '2A004' ; "
            f"reçu {value!r}"
        )
    return value


class _Edge(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class AvisPrefetIn(_Edge):
    avisPrefet: Literal["POSITIF", "NÉGATIF", "NEGATIF"] | None = None
    nombreConseillersPrefet: Annotated[StrictInt, Field(ge=0)] | None = None
    commentairePrefet: str | None = None
    insertedAt: datetime | None = None


class CoselecIn(_Edge):
    nombreConseillersCoselec: Annotated[StrictInt, Field(ge=0)] = 0
    avisCoselec: Literal["POSITIF", "NÉGATIF", "NEGATIF", "EXAMEN COMPLÉMENTAIRE"] | None = None
    numero: str | None = None
    insertedAt: datetime | None = None


class StructureIn(_Edge):
    idPG: Annotated[StrictInt, Field(ge=0)]
    type: StructureTypeName
    codeCommune: str
    nombreConseillersSouhaites: Annotated[StrictInt, Field(ge=1, le=1000)]
    nom: str = ""
    siret: str | None = None
    qualiteProjet: Annotated[float, Field(ge=0, le=100)] | None = None
    estZRR: StrictBool | None = None
    qpvStatut: Literal["Oui", "Non", "Sans objet"] | None = None
    estLabelliseFranceServices: Literal["OUI", "NON"] | None = None
    prefet: list[AvisPrefetIn] = Field(default_factory=list)
    coselec: list[CoselecIn] = Field(default_factory=list)
    communesDesservies: list[str] | None = None
    createdAt: datetime | None = None
    # The host's co-funding of each post: an amount in euros, or a share of the standard cost
    # of the post (0-1); one or the other. The State's cost is the standard cost minus it.
    cofinancementEur: Annotated[float, Field(ge=0)] | None = None
    cofinancementPart: Annotated[float, Field(ge=0, le=1)] | None = None
    verrou: Annotated[StrictInt, Field(ge=0)] | None = None

    _code = field_validator("codeCommune")(_check_code)

    @field_validator("communesDesservies")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for c in v:
                _check_code(c)
        return v

    @field_validator("qualiteProjet")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("nombre fini attendu")
        return v

    @field_validator("cofinancementPart")
    @classmethod
    def _one_cofunding(cls, v: float | None, info: ValidationInfo) -> float | None:
        # cofinancementEur is declared first, so it is already in info.data when set and valid.
        if v is not None and info.data.get("cofinancementEur") is not None:
            raise ValueError(
                "cofinancementEur (montant par poste) et cofinancementPart (part du coût "
                "standard) s'excluent : n'en donner qu'un"
            )
        return v

    @property
    def already_granted(self) -> int:
        """Total granted by earlier rounds: the last POSITIF coselec entry is authoritative."""
        positives = [c for c in self.coselec if c.avisCoselec == "POSITIF"]
        return positives[-1].nombreConseillersCoselec if positives else 0


class ExistantIn(_Edge):
    codeCommune: str
    nombre: Annotated[StrictInt, Field(ge=0)]

    _code = field_validator("codeCommune")(_check_code)


class PolitiqueIn(_Edge):
    """Round policy overrides; every field optional, defaults in ``allocator.RoundPolicy``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    typesEligibles: list[StructureTypeName] | None = None
    enveloppeNationale: Annotated[StrictInt, Field(ge=0)] | None = None
    budgetEur: Annotated[float, Field(ge=0)] | None = None
    scoreMinimum: Annotated[float, Field(ge=0, le=100)] | None = None
    avisPrefetNegatif: Literal["exclure", "penaliser"] | None = None
    penaliteAvisPrefet: Annotated[float, Field(ge=0, le=1)] | None = None
    plafondParStructure: Annotated[StrictInt, Field(ge=1)] | None = None
    plafondDepartement: Literal["aucun", "part_equitable"] | None = None
    poidsAcces: Annotated[float, Field(ge=0)] | None = None
    poidsRepartition: Annotated[float, Field(ge=0)] | None = None
    poidsEquilibre: Annotated[float, Field(ge=0)] | None = None
    mode: Literal["monotone", "optimal"] | None = None
    cofinancement: Literal["neutre", "prioritaire"] | None = None


class RoundRequest(_Edge):
    quota: Annotated[StrictInt, Field(ge=0, le=100_000)]
    mois: str | None = None
    structures: list[StructureIn]
    conseillersExistants: list[ExistantIn] | None = None
    politique: PolitiqueIn | None = None

    @field_validator("mois")
    @classmethod
    def _mois(cls, v: str | None) -> str | None:
        if v is not None and not MOIS_RE.match(v):
            raise ValueError(f"mois attendu au format AAAA-MM ; reçu {v!r}")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> RoundRequest:
        seen: dict[int, int] = {}
        for i, s in enumerate(self.structures):
            if s.idPG in seen:
                raise ValueError(
                    f"idPG {s.idPG} en double (structures[{seen[s.idPG]}] et structures[{i}])"
                )
            seen[s.idPG] = i
        return self


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(corps)"


def parse_round_request(payload: Any) -> RoundRequest:
    """Validate a decoded JSON document; raise :class:`InvalidRequest` naming every bad field."""
    if not isinstance(payload, dict):
        raise InvalidRequest([FieldError("(corps)", "un objet JSON est attendu")])
    try:
        return RoundRequest.model_validate(payload)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
            # drop pydantic's union/literal branch tags from the path
            loc = tuple(
                p
                for p in loc
                if not (
                    isinstance(p, str) and p.startswith(("int", "float", "literal", "constrained"))
                )
            )
            msg = err["msg"].removeprefix("Value error, ")
            errors.append(FieldError(_path(loc), msg))
        raise InvalidRequest(errors) from None
