"""Sign-in with an API token, the session cookie and CSRF protection of the agency pages.

- Sign-in: the agency pastes its API token (the same tokens as the API, ``allocator token
  create``); the token is looked up once with :func:`service.store.repository.find_token`. The
  server records
  a session (``ui_sessions``: the hash of a random session id, the token, the expiry 12 h later)
  and Flask's signed cookie carries only the random id (never the token). Every request re-reads
  the session and its token: signing out deletes the row (a copied cookie stops working), a
  revoked token (``allocator token revoke``) ends its sessions, and activity never stretches the
  12 hours.
- Cookie: ``HttpOnly``, ``SameSite=Strict``, ``Max-Age`` 12 h, and ``Secure`` in production mode
  (``ALLOCATOR_ENV=production``), whenever the request came over HTTPS, or when
  ``SESSION_COOKIE_SECURE`` is set. Behind a TLS-terminating proxy set ``ALLOCATOR_PROXY_FIX``
  (werkzeug's ``ProxyFix``, see :mod:`service.app`) so that ``request.is_secure`` is true.
- CSRF: one random token per session, renewed at sign-in (a token planted before sign-in is
  worthless), a hidden ``csrf_token`` field in every form, checked in constant time on every POST
  of the blueprint (sign-in included).
- Roles, as in the API (:mod:`service.http.web`): ``agence`` and ``admin`` act, ``analyste`` reads,
  ``portail`` has no access to these pages.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import (
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import Session

from service.http.web import Principal, clock, db
from service.store import repository as store

F = TypeVar("F", bound=Callable[..., Any])

READ_ROLES = frozenset({"agence", "analyste", "admin"})
ACT_ROLES = frozenset({"agence", "admin"})
CSRF_FIELD = "csrf_token"
#: A committee meeting lasts a day; the session expires after 12 hours.
SESSION_LIFETIME = timedelta(hours=12)


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config.get("SESSION_COOKIE_SECURE"):
            return True
        return has_request_context() and request.is_secure


#: Flask's own default lifetime (31 days), replaced by :data:`SESSION_LIFETIME`.
_FLASK_DEFAULT_LIFETIME = timedelta(days=31)


def init_app(app: Flask) -> None:
    """Cookie settings (kept when the configuration already chose them)."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    if app.config.get("PERMANENT_SESSION_LIFETIME") in (None, _FLASK_DEFAULT_LIFETIME):
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    if app.config.get("ENV") == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.session_interface = _SessionInterface()


# -- CSRF -------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) a POST whose form lacks this session's CSRF token."""
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        abort(400, "Jeton de sécurité du formulaire absent ou périmé : rechargez la page.")


# -- sign-in ----------------------------------------------------------------------------------


class SignInError(Exception):
    """Unknown, revoked or unsuitable token (French message for the form)."""


def sign_in(raw_token: str) -> Principal:
    """Open a session for ``raw_token``; raise :class:`SignInError` otherwise."""
    raw_token = raw_token.strip()
    if not raw_token or len(raw_token) > 200:
        raise SignInError("Jeton d'accès inconnu ou révoqué.")
    with db().read() as s:
        token = store.find_token(s, raw_token)
        if token is None:
            raise SignInError("Jeton d'accès inconnu ou révoqué.")
        who = Principal(token.id, token.role, token.label)
    if who.role not in READ_ROLES:
        raise SignInError(
            f"Le rôle « {who.role} » ne donne pas accès à l'espace de l'agence "
            "(rôles admis : agence, analyste, admin)."
        )
    sid = secrets.token_urlsafe(32)
    with db().write() as s:
        _close(s)  # signing in again replaces the previous session
        store.open_ui_session(
            s, who.token_id, sid, now=clock(), lifetime=current_app.permanent_session_lifetime
        )
    # No fixation: a fresh cookie, a fresh session id and a fresh CSRF token at sign-in.
    session.clear()
    session["sid"] = sid
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    g.pop("principal", None)
    return who


def sign_out() -> None:
    """End the session on the server too: a copy of the cookie no longer signs anyone in."""
    with db().write() as s:
        _close(s)
    session.clear()


def _close(s: Session) -> None:
    sid = session.get("sid")
    if isinstance(sid, str):
        store.close_ui_session(s, sid)


def current_principal() -> Principal | None:
    """The signed-in caller, re-checked against the session and token tables on each request
    (sign-out, expiry and revocation end the session)."""
    if "principal" in g:
        return g.principal
    sid = session.get("sid")
    who = None
    if isinstance(sid, str):
        with db().read() as s:
            token = store.ui_session_token(s, sid, clock())
            if token is not None and token.role in READ_ROLES:
                who = Principal(token.id, token.role, token.label)
    if who is None and sid is not None:
        session.pop("sid", None)
    g.principal = who
    return who


def can_act() -> bool:
    who = current_principal()
    return who is not None and who.role in ACT_ROLES


def login_required(*, act: bool = False) -> Callable[[F], F]:
    """Redirect to the sign-in page without a session; 403 when the role may only read."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = current_principal()
            if who is None:
                if request.method == "GET":
                    return redirect(url_for("ui.connexion", suite=request.full_path.rstrip("?")))
                abort(401, "Session absente ou expirée : reconnectez-vous.")
            if act and who.role not in ACT_ROLES:
                abort(403, f"Le rôle « {who.role} » permet seulement de consulter les tours.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def suite_param() -> str:
    """The ``suite`` parameter (where to go after sign-in); 400 if it holds a control character
    (CR/LF would split the ``Location`` header)."""
    suite = request.values.get("suite", "")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in suite):
        abort(400, "Paramètre « suite » invalide : caractère de contrôle interdit.")
    return suite


def safe_next(target: str | None) -> str:
    """A local path under the blueprint to go to after sign-in (no open redirect)."""
    default = url_for("ui.tours")
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    prefix = current_app.blueprints["ui"].url_prefix or ""
    return target if target.startswith(prefix + "/") or target == prefix else default
