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
#: ``AAAA-MM`` with ASCII digits and a year from 1000 (``\d`` would also accept other scripts'
#: digits, and year 0 has no calendar date). Checked by :func:`check_mois` only.
MOIS_RE = re.compile(r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$")

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


def json_error(exc: ValueError) -> str:
    """French message for a document that is not valid JSON (the decoder's own is English)."""
    import json

    if isinstance(exc, UnicodeDecodeError):
        return "JSON invalide : le texte n'est pas en UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return f"JSON invalide (ligne {exc.lineno}, colonne {exc.colno})"
    return f"JSON invalide : {exc}"  # our own refusals (NaN, Infinity) are French already


def check_mois(value: str) -> str:
    """The month rule of every edge (API, CLI, review page): ``AAAA-MM``; ``ValueError`` with
    the French message shown to users otherwise."""
    if not (isinstance(value, str) and MOIS_RE.fullmatch(value)):
        raise ValueError(f"mois attendu au format AAAA-MM ; reçu {value!r}")
    return value


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
    #: Fields whose values are synthetic (demo and simulation data: project scores and préfet
    #: opinions are not public; ``tout`` = a whole generated application); explanations, packs
    #: and screens label them so.
    synthetique: list[Literal["qualiteProjet", "prefet", "createdAt", "tout"]] | None = None

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

    def is_synthetic(self, name: str) -> bool:
        """Whether field ``name`` holds a synthetic value (``"tout"``: the whole application)."""
        marks = self.synthetique or ()
        return name in marks or "tout" in marks

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
        return v if v is None else check_mois(v)

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


#: French wording of pydantic's error types (messages to the portal are in French); anything
#: else keeps pydantic's own message.
_MESSAGES_FR: dict[str, str] = {
    "missing": "champ obligatoire manquant",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu (sans partie décimale)",
    "float_type": "nombre attendu",
    "float_parsing": "nombre attendu",
    "finite_number": "nombre fini attendu (NaN et Infinity refusés)",
    "bool_type": "booléen attendu (true ou false)",
    "bool_parsing": "booléen attendu (true ou false)",
    "string_type": "chaîne de caractères attendue",
    "list_type": "liste attendue",
    "dict_type": "objet JSON attendu",
    "model_type": "objet JSON attendu",
    "datetime_type": "date-heure ISO 8601 attendue",
    "datetime_parsing": "date-heure ISO 8601 attendue, p. ex. 2021-05-02T10:00:00Z",
    "datetime_from_date_parsing": "date-heure ISO 8601 attendue, p. ex. 2021-05-02T10:00:00Z",
    "date_parsing": "date ISO 8601 attendue, p. ex. 2021-05-02",
    "extra_forbidden": "champ inconnu",
}


def _message(err: Any) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "literal_error":
        # pydantic lists the values as "'a', 'b' or 'c'": the last separator is English
        head, sep, last = str(ctx.get("expected", "")).rpartition(" or ")
        return f"valeur non autorisée ; attendu : {head + ' ou ' + last if sep else last}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {
            "greater_than_equal": "≥",
            "greater_than": ">",
            "less_than_equal": "≤",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return f"doit être {op} {bound}"
    if kind in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length", ctx.get("max_length"))
        word = "au moins" if kind == "string_too_short" else "au plus"
        return f"{word} {n} caractères"
    if kind == "string_pattern_mismatch":
        return "format invalide"  # never the regular expression: the field names the form
    return _MESSAGES_FR.get(kind) or str(err["msg"]).removeprefix("Value error, ")


def parse_model(model: type[BaseModel], payload: Any) -> Any:
    """Validate a decoded JSON document against ``model``; raise :class:`InvalidRequest`.

    Every faulty field is named by its path in the document (``structures[3].codeCommune``)
    with a French message.
    """
    if not isinstance(payload, dict):
        raise InvalidRequest([FieldError("(corps)", "un objet JSON est attendu")])
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            # drop pydantic's validator and union/literal branch tags from the path
            loc = tuple(
                p
                for p in err["loc"]
                if not (
                    isinstance(p, str)
                    and p.startswith(("function-", "int", "float", "literal", "constrained"))
                )
            )
            errors.append(FieldError(_path(loc), _message(err)))
        raise InvalidRequest(errors) from None


def parse_round_request(payload: Any) -> RoundRequest:
    """Validate a decoded round request; raise :class:`InvalidRequest` naming every bad field."""
    result: RoundRequest = parse_model(RoundRequest, payload)
    return result
