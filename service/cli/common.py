"""What the commands of the ``allocator`` CLI share: the store they work on and the author of its
writes, reading a JSON input, writing a text output, the structures limit, and the one mapping of
failures to messages and exit codes (``docs/CONTRACT.md``): 2 invalid input (the message names the
field), 1 internal failure.

:mod:`service.cli.main` imports this module at start: it imports nothing heavy at module level
(the contract's models, Flask and the store are imported by the functions that need them).
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from service.cli.usage import EXIT_INVALID

EXIT_INTERNAL = 1


def fail_invalid(errors: Iterable[tuple[str, str]]) -> NoReturn:
    """One ``entrée invalide`` line per faulty field (name, message), then exit 2."""
    for champ, message in errors:
        click.echo(f"entrée invalide : {champ} : {message}", err=True)
    sys.exit(EXIT_INVALID)


def fail_internal(exc: Exception) -> NoReturn:
    """An internal failure: one ``erreur interne`` line naming the exception, then exit 1."""
    click.echo(f"erreur interne : {type(exc).__name__}: {exc}", err=True)
    sys.exit(EXIT_INTERNAL)


def reject_constant(name: str) -> float:
    """``json.loads``' ``parse_constant``: NaN and Infinity are not JSON numbers of the API."""
    raise ValueError(f"valeur non autorisée {name} (NaN et Infinity sont refusés)")


def read_json(file: Any) -> Any:
    """The JSON document of an input file; an unreadable one exits 2 (``(corps)`` names it)."""
    from service.contract.schemas import json_error

    try:
        return json.loads(file.read(), parse_constant=reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        fail_invalid([("(corps)", json_error(exc))])


def echo_json(value: Any) -> None:
    """A JSON document on stdout, indented, non-ASCII characters as they are."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def write_text(text: str, output: Path | None, label: str) -> None:
    """A command's text to ``output`` (its folder made if need be; ``label : path`` on stderr),
    or to stdout when ``output`` is ``None``."""
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    click.echo(f"{label} : {output}", err=True)


def max_structures() -> int:
    """The CLI's limit on structures per request: ``ALLOCATOR_MAX_STRUCTURES`` as for HTTP
    (default 20,000); a bad value exits 2."""
    from service.contract.schemas import DEFAULT_MAX_STRUCTURES, limit_setting

    try:
        return limit_setting(os.environ.get("ALLOCATOR_MAX_STRUCTURES"), DEFAULT_MAX_STRUCTURES)
    except ValueError as exc:
        fail_invalid([("ALLOCATOR_MAX_STRUCTURES", str(exc))])


def database(*, upgrade_embedded: bool = True) -> Any:
    """The store named by ``ALLOCATOR_DATABASE_URL`` (default: the SQLite file
    ``instance/allocator.sqlite3`` under the current directory, upgraded automatically outside
    production; any other store needs ``allocator db upgrade`` first)."""
    from service.app import normalise_url
    from service.store.db import Database, default_sqlite_url

    url = os.environ.get("ALLOCATOR_DATABASE_URL") or default_sqlite_url(
        os.environ.get("ALLOCATOR_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    )
    store = Database(normalise_url(url))
    production = os.environ.get("ALLOCATOR_ENV") == "production"
    if upgrade_embedded and store.is_sqlite and not production:
        store.upgrade()
    return store


@contextmanager
def failures() -> Iterator[None]:
    """The stateless commands' mapping (``allocate``, ``scenario``): an invalid input exits 2
    naming its fields (:func:`fail_invalid`), any other failure exits 1 (:func:`fail_internal`)."""
    from service.contract.schemas import InvalidRequest

    try:
        yield
    except InvalidRequest as exc:
        fail_invalid((e.champ, e.message) for e in exc.errors)
    except Exception as exc:
        fail_internal(exc)


def author() -> str:
    """The author recorded with what a command writes: ``cli:<user name>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name in some containers
        return "cli"


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the service's typed errors to messages and exit code 2 (the store commands; the
    stateless ones use :func:`failures`); a server-side error (5xx) propagates."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from service.contract.errors import ServiceError
        from service.contract.schemas import InvalidRequest

        try:
            return fn(*args, **kwargs)
        except InvalidRequest as exc:
            if not exc.errors:
                click.echo(f"entrée invalide : {exc.detail}", err=True)
            fail_invalid((e.champ, e.message) for e in exc.errors)  # as `allocate` prints them
        except ServiceError as exc:
            if exc.status >= 500:
                raise
            click.echo(f"refusé : {exc.detail}", err=True)
            for e in exc.errors:
                click.echo(f"  {e.champ} : {e.message}", err=True)
            sys.exit(EXIT_INVALID)

    return wrapper
