"""Typed errors of the service: an HTTP status, a French detail, the faulty fields.

Domain-service functions (``service.store.repository``, ``service.application.rounds``) raise the
errors below or :class:`service.contract.schemas.InvalidRequest`; the HTTP layer maps them once to
``application/problem+json`` (RFC 9457, :mod:`service.http.problems`), the CLI to messages and
exit codes.
"""

from __future__ import annotations

from service.contract.schemas import FieldError


class ServiceError(Exception):
    """Base of the service's typed errors: an HTTP status, a French detail, field errors."""

    status = 500

    def __init__(
        self,
        detail: str,
        errors: list[FieldError] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class MalformedBody(ServiceError):
    """The body is not parseable JSON (or holds NaN/Infinity, NUL characters...)."""

    status = 400


class Unauthenticated(ServiceError):
    status = 401

    def __init__(self, detail: str = "Jeton d'accès absent ou inconnu.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="allocator"'})


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The request is valid but conflicts with the stored state (409)."""

    status = 409


class UnsupportedMediaType(ServiceError):
    status = 415


class Unavailable(ServiceError):
    status = 503
