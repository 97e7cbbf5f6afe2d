"""What each route declares for the OpenAPI document: the :func:`operation` decorator.

A view of the API is declared once, where it is routed::

    @bp.post("/structures/<int:id_pg>/avis-prefet")
    @operation(
        "Enregistrer l'avis du préfet",
        {"201": reply(StructureOut, "avis enregistré")},
        body=AvisPrefetBody,
        params=[ID_PG],
    )
    @requires("portail", "agence")
    @idempotent
    def post_avis_prefet(id_pg: int) -> Response: ...

:func:`operation` records an :class:`Operation` on the view (``view.operation``): the summary,
the responses (their pydantic models), the request body model (the one the view validates
with), the parameters; the roles and ``Idempotency-Key`` are read from :func:`~service.http.web.
requires` and :func:`~service.http.web.idempotent` below it, never restated.
:func:`service.http.openapi.build_spec` walks the app's ``url_map`` and builds the document from
these records; a route without one is absent from the document, which
``tests/service/test_openapi_coverage.py`` refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from service.contract.schemas import MAX_ID

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Reply:
    """A documented success response: a JSON ``model``, text ``mimetypes``, or a raw ``schema``."""

    description: str
    model: type[BaseModel] | None = None
    mimetypes: tuple[str, ...] = ()
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ProblemReply:
    """A documented error response (``application/problem+json``) with its own description."""

    description: str


def reply(model: type[BaseModel], description: str) -> Reply:
    """A JSON response whose body is ``model``."""
    return Reply(description, model=model)


def text_reply(description: str, *mimetypes: str, model: type[BaseModel] | None = None) -> Reply:
    """A response in ``mimetypes`` (text documents), optionally also as JSON (``model``)."""
    return Reply(description, model=model, mimetypes=mimetypes)


def problem_reply(description: str) -> ProblemReply:
    return ProblemReply(description)


#: ``409`` of the operations that may conflict with the stored state.
CONFLICT = {"409": problem_reply("conflit avec l'état stocké")}


@dataclass(frozen=True)
class Param:
    """A parameter. ``arg``: for a path parameter, the name of the route's argument it is."""

    name: str
    location: str
    schema: Mapping[str, Any]
    description: str | None = None
    required: bool = False
    arg: str | None = None

    def document(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        out: dict[str, Any] = {"name": self.name, "in": self.location, "required": self.required}
        if self.description is not None:
            out["description"] = self.description
        out["schema"] = dict(self.schema)
        return out


def path_param(arg: str, name: str, schema: Mapping[str, Any], description: str | None) -> Param:
    """The path parameter ``name`` of the document: the route's argument ``arg``."""
    return Param(name, "path", schema, description, required=True, arg=arg)


def id_param(arg: str, name: str, description: str) -> Param:
    """An id in the path: a whole number up to ``MAX_ID`` (:func:`~service.http.web.route_id`)."""
    return path_param(arg, name, {"type": "integer", "minimum": 0, "maximum": MAX_ID}, description)


def format_param(values: dict[str, str], default: str) -> Param:
    """``?format=``: the response format, else the ``Accept`` header."""
    description = (
        "format de la réponse ("
        + ", ".join(f"{k} = {v}" for k, v in values.items())
        + f") ; sinon selon l'en-tête Accept, par défaut {default}"
    )
    return Param("format", "query", {"type": "string", "enum": list(values)}, description)


ID_PG = id_param("id_pg", "idPG", "identifiant de la structure sur le portail")
ROUND_ID = id_param("round_id", "id", "numéro du tour d'attribution")
NUMERO = id_param("numero", "numero", "numéro du poste dans la structure (1, 2, ...)")


@dataclass(frozen=True)
class Operation:
    """The record :func:`operation` leaves on a view (``roles=None``: public, no token)."""

    summary: str
    responses: Mapping[str, Reply | ProblemReply]
    roles: tuple[str, ...] | None
    idempotent: bool
    body: type[BaseModel] | None = None
    body_required: bool = True
    params: tuple[Param, ...] = ()
    query: type[BaseModel] | None = None
    empty_as_absent: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def operation(
    summary: str,
    responses: Mapping[str, Reply | ProblemReply],
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    params: Sequence[Param] = (),
    query: type[BaseModel] | None = None,
    empty_as_absent: Sequence[str] = (),
    errors: Sequence[str] = (),
) -> Callable[[F], F]:
    """Declare the view an operation of the document (placed above ``requires``/``idempotent``).

    ``body``: the pydantic model the view validates its JSON body with (``body_required=False``:
    an empty body is accepted). ``params``: path parameters then query ones, in order; ``query``:
    the model the view validates the query string with (each field a parameter; the
    ``empty_as_absent`` ones also accept an empty value). ``errors``: problem statuses the
    operation may give besides the ones its declaration implies (see
    :func:`service.http.openapi.document_operation`).
    """

    def decorator(view: F) -> F:
        view.operation = Operation(  # type: ignore[attr-defined]
            summary=summary,
            responses=dict(responses),
            roles=getattr(view, "roles", None),
            idempotent=getattr(view, "idempotent", False),
            body=body,
            body_required=body_required,
            params=tuple(params),
            query=query,
            empty_as_absent=tuple(empty_as_absent),
            errors=tuple(errors),
        )
        return view

    return decorator


def operation_of(view: Callable[..., Any]) -> Operation | None:
    """The record of ``view``, or ``None`` for a view that is no documented operation."""
    record = getattr(view, "operation", None)
    return record if isinstance(record, Operation) else None
