"""Service commands of the ``allocator`` CLI: ``serve``, ``token``, ``db``, ``round``.

They operate on the store named by ``ALLOCATOR_DATABASE_URL`` (default: the SQLite file
``instance/allocator.sqlite3`` under the current directory, upgraded automatically; any other
store needs ``allocator db upgrade`` first). The ``round`` commands call the same domain-service
functions as the HTTP API (:mod:`service.rounds`).

Exit codes: 0 done, 2 invalid input or refused by the store's state (the message says why),
1 internal failure.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from service.errors import ServiceError
from service.schemas import InvalidRequest

EXIT_INVALID = 2


def _database(*, upgrade_embedded: bool = True) -> Any:
    from service.app import _normalise_url
    from service.db import Database, default_sqlite_url

    url = os.environ.get("ALLOCATOR_DATABASE_URL") or default_sqlite_url(
        os.environ.get("ALLOCATOR_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    )
    database = Database(_normalise_url(url))
    production = os.environ.get("ALLOCATOR_ENV") == "production"
    if upgrade_embedded and database.is_sqlite and not production:
        database.upgrade()
    return database


def _author() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name in some containers
        return "cli"


def _handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Map the service's typed errors to messages and exit code 2 (the one CLI mapping)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidRequest as exc:
            click.echo(f"entrée invalide : {exc.detail}", err=True)
            for e in exc.errors:
                click.echo(f"  {e.champ} : {e.message}", err=True)
            sys.exit(EXIT_INVALID)
        except ServiceError as exc:
            if exc.status >= 500:
                raise
            click.echo(f"refusé : {exc.detail}", err=True)
            for e in exc.errors:
                click.echo(f"  {e.champ} : {e.message}", err=True)
            sys.exit(EXIT_INVALID)

    return wrapper


def _print_round(view: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"tour n° {view['id']} — mois {view['mois']}, quota {view['quota']}, "
        f"statut {view['statut']}"
        + (f" (validé le {view['valideLe']} par {view['validePar']})" if view["valideLe"] else "")
    )
    result = view["resultat"]
    granted = [d for d in result["decisions"] if d["nombreConseillersAttribues"] > 0]
    click.echo(
        f"résultat {result['status']} : {result['totaux']['attribues']} postes attribués / quota "
        f"{result['totaux']['quota']} ; {len(granted)} structures retenues sur "
        f"{len(result['decisions'])}"
    )
    if result.get("conflits"):
        click.echo("règles en conflit : " + " ; ".join(result["conflits"]))
    for lock in view["verrous"]:
        click.echo(
            f"verrou idPG {lock['idPG']} = {lock['nombre']} ({lock['motif']}, {lock['auteur']})"
        )
    for d in granted[:50]:
        click.echo(
            f"  idPG {d['idPG']}: +{d['nombreConseillersAttribues']} "
            f"(total {d['nombreConseillersCoselec']}) {', '.join(d['motifs'])}"
        )
    if len(granted) > 50:
        click.echo(f"  ... {len(granted) - 50} autres structures retenues (--json pour tout)")


def register(group: click.Group) -> None:
    """Add ``serve``, ``token``, ``db`` and ``round`` to the ``allocator`` group."""

    @group.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
    @click.option(
        "--debug", is_flag=True, help="Flask debugger and reloader (never in production)."
    )
    def serve(host: str, port: int, debug: bool) -> None:
        """Run the HTTP service (dev server, one thread per request; production:
        gunicorn -c python:service.gunicorn_conf 'service:create_app()')."""
        from service import create_app

        # threaded: a long round request never blocks /health or the other clients
        create_app().run(host=host, port=port, debug=debug, threaded=True)

    @group.group()
    def token() -> None:
        """API tokens (stored hashed)."""

    @token.command("create")
    @click.option(
        "--role", required=True, type=click.Choice(["portail", "agence", "analyste", "admin"])
    )
    @click.option("--label", default="", help="Who holds the token (shown in round authors).")
    @_handled
    def token_create(role: str, label: str) -> None:
        """Print a new token for ROLE (shown once: only its SHA-256 is stored)."""
        from service import store

        with _database().write() as s:
            raw = store.create_token(s, role, label)
        click.echo(raw)

    @group.group("db")
    def db_group() -> None:
        """The store's schema."""

    @db_group.command("upgrade")
    def db_upgrade() -> None:
        """Apply the embedded Alembic migrations up to head."""
        database = _database(upgrade_embedded=False)
        database.upgrade()
        click.echo(f"schéma à jour : révision {database.current_revision()}", err=True)

    @group.group("round")
    def round_group() -> None:
        """Monthly rounds on the store: draft, review, override, commit."""

    @round_group.command("draft")
    @click.option("--mois", required=True, help="Month of the round, AAAA-MM.")
    @click.option(
        "--quota",
        type=int,
        default=None,
        help="Posts to distribute (default: remaining envelope / months left, service.cycle).",
    )
    @click.option("--politique", default=None, help="Policy overrides as JSON (see CONTRACT.md).")
    @click.option("--json", "as_json", is_flag=True, help="Print the whole round as JSON.")
    @_handled
    def round_draft(mois: str, quota: int | None, politique: str | None, as_json: bool) -> None:
        """Draft the round of MOIS over the pending structures received by the 15th.

        Pending = CREEE or EXAMEN_COMPLEMENTAIRE_COSELEC (cadence and quota in service.cycle).
        """
        from service import cycle
        from service.api_cycle import MonthlyRoundBody
        from service.api_schemas import parse_model
        from service.schemas import FieldError

        payload: dict[str, Any] = {"mois": mois, "quota": quota}
        if politique is not None:
            try:
                payload["politique"] = json.loads(politique)
            except ValueError as exc:
                raise InvalidRequest([FieldError("politique", f"JSON invalide : {exc}")]) from None
        body = parse_model(MonthlyRoundBody, payload)
        view = cycle.draft_monthly(
            _database(),
            mois=body.mois,
            quota=body.quota,
            politique=body.politique,
            author=_author(),
        )
        _print_round(view, as_json)

    @round_group.command("show")
    @click.argument("round_id", type=int)
    @click.option("--json", "as_json", is_flag=True, help="Print the whole round as JSON.")
    @_handled
    def round_show(round_id: int, as_json: bool) -> None:
        """Show a round: parameters, status, locks, summary of the result."""
        from service import rounds

        _print_round(rounds.get_round(_database(), round_id), as_json)

    @round_group.command("override")
    @click.argument("round_id", type=int)
    @click.option("--idpg", required=True, type=int, help="Structure to lock.")
    @click.option("--nombre", required=True, type=int, help="Posts this round must grant it.")
    @click.option("--motif", required=True, help="Reason (mandatory, kept with the round).")
    @click.option("--json", "as_json", is_flag=True)
    @_handled
    def round_override(round_id: int, idpg: int, nombre: int, motif: str, as_json: bool) -> None:
        """Lock a structure at NOMBRE posts in a draft round and re-solve."""
        from service import rounds
        from service.api_schemas import RoundOverrideBody, parse_model

        body = parse_model(RoundOverrideBody, {"idPG": idpg, "nombre": nombre, "motif": motif})
        view = rounds.override_round(
            _database(),
            round_id,
            id_pg=body.idPG,
            nombre=body.nombre,
            motif=body.motif,
            author=_author(),
        )
        _print_round(view, as_json)

    @round_group.command("commit")
    @click.argument("round_id", type=int)
    @_handled
    def round_commit(round_id: int) -> None:
        """Commit a draft round: coselec entries, statuses, envelope (one transaction)."""
        from service import rounds

        view = rounds.commit_round(_database(), round_id, author=_author())
        prog = view["programme"] or {}
        click.echo(
            f"tour n° {view['id']} validé : {view['resultat']['totaux']['attribues']} postes "
            f"attribués (enveloppe avant validation : {prog.get('consomme')} / "
            f"{prog.get('enveloppe')})"
        )

    @round_group.command("list")
    @_handled
    def round_list() -> None:
        """List the rounds of the store."""
        from service import rounds

        for r in rounds.list_rounds(_database()):
            click.echo(
                f"{r['id']:>5}  {r['mois']}  quota {r['quota']:>5}  attribués {r['attribues']:>5}"
                f"  {r['statut']:<9}  créé {r['creeLe']}"
                + (f"  validé {r['valideLe']}" if r["valideLe"] else "")
            )
