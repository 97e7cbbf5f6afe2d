"""HTTP plumbing shared by the views: database access, JSON bodies, auth, idempotency.

Role matrix (``admin`` may do everything):

=====================================  =======  ======  ========  =====
endpoint                               portail  agence  analyste  admin
=====================================  =======  ======  ========  =====
POST /v1/allocate                      oui      oui     oui       oui
PUT  /v1/structures/{idPG}             oui      -       -         oui
POST /v1/structures/import-historique  -        -       -         oui
GET  /v1/structures/{idPG}             oui      oui     oui       oui
POST /v1/structures/{idPG}/avis-prefet oui      oui     -         oui
POST /v1/rounds, PATCH, commit         -        oui     -         oui
GET  /v1/rounds, /v1/rounds/{id}       -        oui     oui       oui
GET  /v1/territoires/{niveau}/{code}   oui      oui     oui       oui
=====================================  =======  ======  ========  =====

Préfet opinions: on the real platform the préfets enter them in the portal's back-office, so the
portal relays them (``portail``: in a new application's ``prefet`` list, then through
``avis-prefet``); the agency may also record them (``agence``). Analysts only read (and simulate
stateless rounds). Committee decisions never come from the portal: ``PUT`` refuses ``verrou``,
``coselec`` and committee statuses (:func:`service.application.structures.check_portal_document`);
history decided
before the service comes in through the admin-only import.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Response, current_app, g, make_response, request
from werkzeug.exceptions import RequestEntityTooLarge

from service.contract.errors import (
    Forbidden,
    MalformedBody,
    NotFound,
    Unauthenticated,
    UnsupportedMediaType,
)
from service.contract.schemas import (
    MAX_ID,
    STORABLE_TEXT_RULE,
    FieldError,
    InvalidRequest,
    check_storable_text,
    storable_text_errors,
)
from service.store import repository as store
from service.store.db import Database
from service.store.models import utcnow

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


def db() -> Database:
    """The application's :class:`~service.store.db.Database`."""
    return current_app.extensions["allocator.db"]


def clock() -> datetime:
    """The application's clock: ``app.config["CLOCK"]`` (tests freeze it), else UTC now."""
    now = current_app.config.get("CLOCK") or utcnow
    return now()


def route_id(value: int, what: str) -> int:
    """An id from the path: above ``MAX_ID`` (2**53 - 1) none can exist, so 404 without a
    lookup (like any unknown id; a store column could not even hold it)."""
    if value > MAX_ID:
        raise NotFound(f"Aucun(e) {what} n° {value}.")
    return value


def max_structures() -> int:
    """Most structures one round request may hold (``ALLOCATOR_MAX_STRUCTURES``)."""
    limit: int = current_app.config["MAX_STRUCTURES"]
    return limit


# -- JSON bodies ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} n'est pas un nombre JSON valide")


def check_request_text() -> None:
    """The storable-text rule (:data:`~service.contract.schemas.STORABLE_TEXT_RULE`) on the query
    string,
    the form fields and the path parameters of every request (a ``before_request`` hook: API and
    review pages alike); JSON bodies are checked by :func:`json_body`. 422 naming the field."""
    fields = [*(request.view_args or {}).items(), *request.args.items(multi=True)]
    if request.method == "POST" and request.mimetype in _FORM_TYPES:
        fields += request.form.items(multi=True)
    errors = [e for k, v in fields for e in storable_text_errors({k: v})]
    if errors:
        raise InvalidRequest(errors, detail="Texte non enregistrable : " + STORABLE_TEXT_RULE + ".")


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def request_body() -> bytes:
    """The raw request body; 413 above ``MAX_CONTENT_LENGTH``, also when it arrives chunked.

    With ``Content-Length`` Werkzeug refuses an oversized body up front. A chunked body has no
    length: the server (gunicorn, the dev server) sets ``wsgi.input_terminated`` and Werkzeug
    stops reading at the limit without saying whether more was sent, which would parse a
    truncated body (400). One more byte read past the limit tells.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def json_body(*, optional: bool = False) -> Any:
    """The request body decoded as strict JSON.

    415 unless the content type is JSON (an empty body is accepted when ``optional``); 400 for
    invalid JSON, ``NaN``/``Infinity`` tokens; 422 for text that breaks the storable-text rule
    (NUL, lone surrogates: :func:`service.contract.schemas.check_storable_text`); 413 above the size
    limit.
    """
    raw = request_body()
    if optional and not raw:
        return {}
    if not _is_json(request.mimetype):
        raise UnsupportedMediaType(
            "Le corps doit être du JSON (Content-Type: application/json) ; "
            f"reçu {request.mimetype or 'aucun type'}."
        )
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedBody("Le corps n'est pas du texte UTF-8.") from None
    except RecursionError:
        raise MalformedBody("Le document JSON est trop profondément imbriqué.") from None
    except ValueError as exc:
        raise MalformedBody(f"JSON invalide : {exc}") from None
    check_storable_text(value)
    return value


# -- authentication ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    token_id: int
    role: str
    label: str

    @property
    def name(self) -> str:
        return f"{self.role}:{self.label or self.token_id}"


def authenticate() -> Principal:
    """The caller from ``Authorization: Bearer <token>`` (401 when missing or unknown)."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or len(raw) > 200:
        raise Unauthenticated()
    with db().read() as s:
        token = store.find_token(s, raw)
        if token is None:
            raise Unauthenticated()
        return Principal(token.id, token.role, token.label)


def requires(*roles: str) -> Callable[[F], F]:
    """Allow the view to ``roles`` (and ``admin``); 401 without a valid token, 403 otherwise."""
    allowed = frozenset(roles) | {"admin"}

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if principal.role not in allowed:
                raise Forbidden(
                    f"Le rôle « {principal.role} » ne permet pas cette opération "
                    f"(rôles autorisés : {', '.join(sorted(allowed))})."
                )
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def principal() -> Principal:
    return g.principal


# -- idempotency ------------------------------------------------------------------------------


def _request_sha256() -> str:
    raw = request_body()
    try:
        body: Any = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = text.encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        data = raw
    # The query string chooses what the answer holds (``?explication=``): a key used with
    # another query is another request. Sorted, so that the order of the parameters does not
    # matter; absent, the fingerprint is what it was before queries counted (keys kept valid).
    query = sorted(request.args.items(multi=True))
    target = request.path + ("?" + urlencode(query) if query else "")
    return hashlib.sha256(
        request.method.encode() + b" " + target.encode() + b"\n" + data
    ).hexdigest()


def idempotent(view: F) -> F:
    """Honour ``Idempotency-Key`` on a POST (to be placed under :func:`requires`).

    Same key + same request → the stored response, replayed (header ``Idempotency-Replayed``,
    and its ``Location``). Same key + another request → 422. A key whose first request is still
    running → 409, for at most ``IDEMPOTENCY_LEASE`` seconds (a worker that died does not block
    it longer). Only successful (2xx) responses are stored, for ``IDEMPOTENCY_TTL`` seconds, after
    which the key is new again; after an error the key is released for a retry. A response above
    ``IDEMPOTENCY_MAX_BYTES`` is sent but not kept: a retry gets a 409 saying that the request ran
    (its status and ``Location``) and cannot be replayed, never a second execution.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not IDEMPOTENCY_KEY_RE.match(key):
            raise InvalidRequest(
                [FieldError("Idempotency-Key", "1 à 255 caractères ASCII visibles attendus")]
            )
        who = principal()
        config = current_app.config
        with db().write() as s:
            held = store.reserve_idempotency_key(
                s,
                who.token_id,
                key,
                request.method,
                request.path,
                _request_sha256(),
                now=clock(),
                lease=timedelta(seconds=config["IDEMPOTENCY_LEASE"]),
            )
        if isinstance(held, store.Replay):
            resp = Response(held.body, status=held.status_code, mimetype="application/json")
            resp.headers["Idempotency-Replayed"] = "true"
            if held.location:
                resp.headers["Location"] = held.location
            return resp
        try:
            resp = make_response(view(*args, **kwargs))
        except BaseException:
            with db().write() as s:
                store.release_idempotency_key(s, held)
            raise
        with db().write() as s:
            if 200 <= resp.status_code < 300:
                store.complete_idempotency_key(
                    s,
                    held,
                    resp.status_code,
                    resp.get_data(as_text=True),
                    resp.headers.get("Location"),
                    now=clock(),
                    ttl=timedelta(seconds=config["IDEMPOTENCY_TTL"]),
                    max_bytes=config["IDEMPOTENCY_MAX_BYTES"],
                )
            else:
                store.release_idempotency_key(s, held)
        return resp

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (UTF-8 kept, key order as built; orjson, as ``allocator allocate``)."""
    from service.application.pipeline import dumps_bytes

    resp = Response(dumps_bytes(body, newline=False), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp
