"""Schemas at the edge: the round request of ``CONTRACT.md`` (HTTP body and CLI file).

Validation happens here, once, for the CLI and the HTTP API alike. Errors are collected as
``FieldError(champ, message)`` with the portal's own field paths (``structures[3].codeCommune``).
Unknown fields are accepted and dropped (the portal sends whole documents that may hold personal
data; they are never echoed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

# Patterns use [0-9], never \d (which also matches other scripts' digits, e.g. Arabic-Indic),
# and are applied with fullmatch (``$`` would accept a trailing newline).
CODE_INSEE_RE = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")

# -- bounds of the contract (what the programme can mean; documented in README.md) -------------

#: Largest id (``idPG``, round ids): JSON-safe integers, exact in JavaScript, fit a BIGINT.
MAX_ID = 2**53 - 1
#: Largest number of posts anywhere (quota, national envelope, counts of advisors or of posts
#: granted): 25 times the programme's 4,000 posts.
MAX_POSTS = 100_000
#: Largest number of posts one structure may request, or a policy may cap a structure at.
MAX_POSTS_PER_STRUCTURE = 1_000
#: Largest cost of one post in euros (standard costs are 32,000 to 70,000 €): bounds a host's
#: co-funding per post; a budget is at most ``MAX_POSTS`` such posts.
MAX_POST_COST_EUR = 100_000
MAX_BUDGET_EUR = MAX_POSTS * MAX_POST_COST_EUR
#: Largest objective weight (defaults 1): the terms' relative importance, 0 switches one off.
#: The engine quantises ``2 × weight × need × 10^6`` below 10^14 (``allocator.model``): with the
#: largest need of a département (Nord, 541,485 fragile inhabitants) a weight up to 92 fits; 50
#: leaves room for data updates (``test_weight_bound_fits_the_engine_scale`` checks it).
MAX_WEIGHT = 50
#: Date-times (``createdAt``, ``insertedAt``, event dates...) lie in [DATE_MIN, DATE_MAX), in
#: UTC: the programme's decades, far inside what every store and timezone can represent.
DATE_MIN = datetime(2000, 1, 1, tzinfo=UTC)
DATE_MAX = datetime(2100, 1, 1, tzinfo=UTC)
#: ``AAAA-MM``, years 2000 to 2099 (as the dates); ``MOIS_FORM_RE`` is the form alone.
MOIS_RE = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
MOIS_FORM_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
SIRET_RE = re.compile(r"[0-9]{14}")
#: SIREN of La Poste: its establishments' SIRETs follow their own key (see :func:`check_siret`).
SIREN_LA_POSTE = "356000000"

#: Validation context for documents the service stored itself (round snapshots, stored
#: structures): they were validated on the way in; checks added since (the SIRET key) are not
#: re-applied to them, so that a stored round can always be drafted from and replayed.
STORED: dict[str, Any] = {"stored": True}

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
    """The month rule of every edge (API, CLI, review page): ``AAAA-MM`` in ASCII digits, years
    2000 to 2099; ``ValueError`` with the French message shown to users otherwise."""
    if not (isinstance(value, str) and MOIS_FORM_RE.fullmatch(value)):
        raise ValueError(f"mois attendu au format AAAA-MM ; reçu {value!r}")
    if not MOIS_RE.fullmatch(value):
        raise ValueError(
            f"mois hors de la période du programme (années 2000 à 2099) ; reçu {value!r}"
        )
    return value


def _check_code(value: str) -> str:
    if not CODE_INSEE_RE.fullmatch(value):
        raise ValueError(
            "code commune INSEE (COG) attendu sur 5 caractères, p. ex. '01283' ou '2A004' ; "
            f"reçu {value!r}"
        )
    return value


#: A month of the programme (``AAAA-MM``).
Mois = Annotated[
    str,
    AfterValidator(check_mois),
    WithJsonSchema({"type": "string", "pattern": "^" + MOIS_RE.pattern + "$"}),
]


def luhn_valid(digits: str) -> bool:
    """The Luhn key (ISO/IEC 7812) of a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def check_siret(value: str) -> str:
    """A SIRET: 14 ASCII digits with a valid key; ``ValueError`` (French) otherwise.

    The key is Luhn's, except for La Poste's establishments (SIREN 356000000), whose SIRETs
    are numbered so that the sum of their 14 digits is a multiple of 5 (INSEE rule; their head
    office 35600000000048 satisfies Luhn): both are accepted for that SIREN.
    """
    if not SIRET_RE.fullmatch(value):
        raise ValueError(f"SIRET attendu sur 14 chiffres ; reçu {value!r}")
    if luhn_valid(value):
        return value
    if value.startswith(SIREN_LA_POSTE) and sum(int(c) for c in value) % 5 == 0:
        return value
    raise ValueError(f"SIRET invalide : clé de contrôle (Luhn) erronée ; reçu {value!r}")


def _iso_string(value: Any) -> Any:
    """Only an ISO 8601 string is a date-time (no Unix timestamps, numbers or booleans)."""
    if not isinstance(value, str) or not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("date-heure ISO 8601 attendue (chaîne), p. ex. 2021-05-02T10:00:00Z")
    return value


def check_date_range(value: datetime) -> datetime:
    """``DATE_MIN <= value < DATE_MAX`` (naive = UTC); the value itself is kept as given."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not DATE_MIN <= aware < DATE_MAX:
        raise ValueError(
            f"date hors de l'intervalle accepté [{DATE_MIN:%Y-%m-%d}, {DATE_MAX:%Y-%m-%d}[ (UTC)"
        )
    return value


#: A date-time of the contract: an ISO 8601 string within [DATE_MIN, DATE_MAX).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_string), AfterValidator(check_date_range)]


class _Edge(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


#: A number of posts (``StrictInt``: never a float, string or boolean).
Posts = Annotated[StrictInt, Field(ge=0, le=MAX_POSTS)]


class AvisPrefetIn(_Edge):
    avisPrefet: Literal["POSITIF", "NÉGATIF", "NEGATIF"] | None = None
    nombreConseillersPrefet: Posts | None = None
    commentairePrefet: str | None = None
    insertedAt: IsoDateTime | None = None


class CoselecIn(_Edge):
    nombreConseillersCoselec: Posts = 0
    avisCoselec: Literal["POSITIF", "NÉGATIF", "NEGATIF", "EXAMEN COMPLÉMENTAIRE"] | None = None
    numero: str | None = None
    insertedAt: IsoDateTime | None = None


class StructureIn(_Edge):
    idPG: Annotated[StrictInt, Field(ge=0, le=MAX_ID)]
    type: StructureTypeName
    codeCommune: str
    nombreConseillersSouhaites: Annotated[StrictInt, Field(ge=1, le=MAX_POSTS_PER_STRUCTURE)]
    nom: str = ""
    siret: str | None = None
    # StrictFloat: a JSON number (70 is accepted as 70.0), never "70" nor true.
    qualiteProjet: Annotated[StrictFloat, Field(ge=0, le=100)] | None = None
    estZRR: StrictBool | None = None
    qpvStatut: Literal["Oui", "Non", "Sans objet"] | None = None
    estLabelliseFranceServices: Literal["OUI", "NON"] | None = None
    prefet: list[AvisPrefetIn] = Field(default_factory=list)
    coselec: list[CoselecIn] = Field(default_factory=list)
    communesDesservies: list[str] | None = None
    createdAt: IsoDateTime | None = None
    # The host's co-funding of each post: an amount in euros, or a share of the standard cost
    # of the post (0-1); one or the other. The State's cost is the standard cost minus it.
    cofinancementEur: Annotated[StrictFloat, Field(ge=0, le=MAX_POST_COST_EUR)] | None = None
    cofinancementPart: Annotated[StrictFloat, Field(ge=0, le=1)] | None = None
    verrou: Posts | None = None
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

    @field_validator("siret")
    @classmethod
    def _siret(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.context is not None and info.context.get("stored"):
            if not SIRET_RE.fullmatch(v):  # stored before the key was checked: format only
                raise ValueError(f"SIRET attendu sur 14 chiffres ; reçu {v!r}")
            return v
        return v if v is None else check_siret(v)

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
    nombre: Posts

    _code = field_validator("codeCommune")(_check_code)


class PolitiqueIn(_Edge):
    """Round policy overrides; every field optional, defaults in ``allocator.RoundPolicy``.

    Every number is bounded by what the programme can mean (constants above, README.md):
    envelope ≤ ``MAX_POSTS`` posts, budget ≤ ``MAX_BUDGET_EUR``, structure cap ≤
    ``MAX_POSTS_PER_STRUCTURE``, weights in [0, ``MAX_WEIGHT``].
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    typesEligibles: list[StructureTypeName] | None = None
    enveloppeNationale: Posts | None = None
    budgetEur: Annotated[StrictFloat, Field(ge=0, le=MAX_BUDGET_EUR)] | None = None
    scoreMinimum: Annotated[StrictFloat, Field(ge=0, le=100)] | None = None
    avisPrefetNegatif: Literal["exclure", "penaliser"] | None = None
    penaliteAvisPrefet: Annotated[StrictFloat, Field(ge=0, le=1)] | None = None
    plafondParStructure: Annotated[StrictInt, Field(ge=1, le=MAX_POSTS_PER_STRUCTURE)] | None = None
    plafondDepartement: Literal["aucun", "part_equitable"] | None = None
    poidsAcces: Annotated[StrictFloat, Field(ge=0, le=MAX_WEIGHT)] | None = None
    poidsRepartition: Annotated[StrictFloat, Field(ge=0, le=MAX_WEIGHT)] | None = None
    poidsEquilibre: Annotated[StrictFloat, Field(ge=0, le=MAX_WEIGHT)] | None = None
    mode: Literal["monotone", "optimal"] | None = None
    cofinancement: Literal["neutre", "prioritaire"] | None = None


class RoundRequest(_Edge):
    quota: Posts
    mois: Mois | None = None
    structures: list[StructureIn]
    conseillersExistants: list[ExistantIn] | None = None
    politique: PolitiqueIn | None = None

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
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "≤ 100", not "≤ 100.0"
        return f"doit être {op} {bound}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length", ctx.get("max_length"))
        word = "au moins" if kind == "too_short" else "au plus"
        return f"{word} {n} éléments"
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
        raise InvalidRequest(field_errors(exc)) from None


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as :class:`FieldError` (French message, path under ``prefix``)."""
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
        path = _path(loc)
        champ = f"{prefix}.{path}" if prefix and path != "(corps)" else (prefix or path)
        errors.append(FieldError(champ, _message(err)))
    return errors


#: Default of ``ALLOCATOR_MAX_STRUCTURES``: most structures one round request may hold (HTTP and
#: CLI, and the request of a scenario comparison). A national round holds 1,500 to 5,000.
DEFAULT_MAX_STRUCTURES = 20_000
#: Default of ``ALLOCATOR_MAX_SCENARIO_STRUCTURES``: most structures a scenario comparison may
#: solve in all, i.e. its structures × the solves it may run (base, variants, causes, fairness
#: prices: ``service.analysis.scenarios.planned_resolutions``). A solve costs about 0.3 ms per
#: structure on 2 cores: 500,000 is two to three minutes (24 solves of 20,000 structures, or
#: 20 variants of several changes each, with causes and prices, on a national round of 1,500).
DEFAULT_MAX_SCENARIO_STRUCTURES = 500_000


def limit_setting(value: Any, default: int) -> int:
    """A limit setting (``ALLOCATOR_MAX_STRUCTURES``...: app config or environment) as an int.

    ``None`` or ``""`` → ``default``; otherwise an integer ≥ 1 (a string of ASCII digits from
    the environment is accepted). Anything else raises ``ValueError`` (French).
    """
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"entier ≥ 1 attendu ; reçu {value!r}")
    return value


def check_structure_count(
    payload: Any, limit: int = DEFAULT_MAX_STRUCTURES, champ: str = "structures"
) -> None:
    """Refuse a request with more than ``limit`` structures, before validating any of them.

    Raises :class:`InvalidRequest` (422, CLI exit 2) naming the field and the limit.
    """
    structures = payload.get("structures") if isinstance(payload, dict) else None
    if isinstance(structures, list) and len(structures) > limit:
        raise InvalidRequest(
            [
                FieldError(
                    champ,
                    f"au plus {limit} structures par requête (ALLOCATOR_MAX_STRUCTURES) ; "
                    f"reçu {len(structures)}",
                )
            ],
            detail=f"Trop de structures : au plus {limit} par requête.",
        )


def parse_round_request(payload: Any, max_structures: int = DEFAULT_MAX_STRUCTURES) -> RoundRequest:
    """Validate a decoded round request; raise :class:`InvalidRequest` naming every bad field.

    At most ``max_structures`` structures (checked first: an oversized request is refused
    before any structure is validated).
    """
    check_structure_count(payload, max_structures)
    result: RoundRequest = parse_model(RoundRequest, payload)
    return result


def stored_request(data: Any) -> RoundRequest:
    """A round request the service stored itself (a round's snapshot), validated again.

    Checks added after it was stored (the SIRET key) are not re-applied: see :data:`STORED`.
    """
    result: RoundRequest = RoundRequest.model_validate(data, context=STORED)
    return result
