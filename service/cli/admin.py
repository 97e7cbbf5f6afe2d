"""Service commands of the ``allocator`` CLI: ``serve``, ``token``, ``db``, ``round``.

They operate on the store named by ``ALLOCATOR_DATABASE_URL`` (default: the SQLite file
``instance/allocator.sqlite3`` under the current directory, upgraded automatically; any other
store needs ``allocator db upgrade`` first). The ``round`` commands call the same domain-service
functions as the HTTP API (:mod:`service.application.rounds`).

Exit codes: 0 done, 2 invalid input or refused by the store's state (the message says why),
1 internal failure.
"""

from __future__ import annotations

import json
from typing import Any

import click

from service.cli import common
from service.cli.usage import (
    IDENTIFIANT,
    CliConfigInvalid,
    CliInvalid,
    french_command,
    french_group,
    writes_letters,
)


def _check_listen(host: str, port: int) -> None:
    """``serve``: an address the service cannot listen on is a usage error (exit 2, French),
    found before the server starts (the development server would print English and exit 1)."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise CliInvalid("--host", f"adresse inconnue ; reçu {host!r}") from None
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind(address)
    except OSError as exc:
        reason = {
            errno.EADDRINUSE: "port déjà utilisé par un autre programme",
            errno.EACCES: "port réservé (permission refusée)",
            errno.EADDRNOTAVAIL: "adresse absente de cette machine",
        }.get(exc.errno or 0, f"écoute impossible (erreur système {exc.errno})")
        raise CliInvalid(
            "--port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "--host",
            f"{reason} ; {host}:{port}",
        ) from None


def _print_round(
    view: dict[str, Any],
    as_json: bool = False,
    *,
    database: Any = None,
    which: str = "apercu",
) -> None:
    """The round's header, locks and table of structures: ``which`` = ``"toutes"`` (every
    structure), ``"retenues"`` (those with posts proposed) or ``"apercu"`` (the first 50 of
    these); ``as_json``: the whole view."""
    if as_json:
        common.echo_json(view)
        return
    click.echo(
        f"tour n° {view['id']} — mois {view['mois']}, quota {view['quota']}, "
        f"statut {view['statut']}"
        + (f" (validé le {view['valideLe']} par {view['validePar']})" if view["valideLe"] else "")
    )
    from service.application import figures
    from service.explanations.wording import pluriel

    n = figures.nombre
    result = view["resultat"]
    rows = _round_rows(database if database is not None else common.database(), view)
    granted = [d for d in result["decisions"] if d["nombreConseillersAttribues"] > 0]
    unplaced = figures.round_unplaced(result)
    click.echo(
        f"résultat {result['status']} : {n(figures.round_granted(result))} "
        f"{figures.FIGURES['attribues'].libelle}"
        + (f" (dont {figures.compte(unplaced, 'nonLocalises')})" if unplaced else "")
        + f" / quota {n(result['totaux']['quota'])} ; "
        f"{figures.FIGURES['demandeRestante'].libelle} "
        f"{n(sum(figures.remaining_request(r.demande, r.deja_accorde) for r in rows))} ; "
        f"{pluriel(len(granted), 'structure retenue', 'structures retenues')} sur "
        f"{n(len(result['decisions']))}"
    )
    if result.get("conflits"):
        click.echo("règles en conflit : " + " ; ".join(result["conflits"]))
    for lock in view["verrous"]:
        click.echo(
            f"verrou idPG {lock['idPG']} = {lock['nombre']} ({lock['motif']}, {lock['auteur']})"
        )
    shown = rows if which == "toutes" else [r for r in rows if r.proposition > 0]
    if which == "apercu":
        shown = shown[:50]
    _print_structures(shown)
    if which == "apercu" and len(granted) > len(shown):
        others = len(granted) - len(shown)
        click.echo(
            f"  ... {pluriel(others, 'autre structure retenue', 'autres structures retenues')} "
            f"(allocator round show {view['id']} pour toutes)"
        )


def _round_rows(database: Any, view: dict[str, Any]) -> list[Any]:
    """The round's structures as the review page shows them (:func:`service.ui.present.rows`):
    name, commune, département, request, already granted, proposal, lock; sorted by
    département, name and idPG."""
    from service.application import rounds
    from service.ui import present

    _, request = rounds.shown_request(database, view)
    rows = present.rows(view, request)
    return sorted(rows, key=lambda r: (r.departement, r.nom.casefold(), r.id_pg))


#: Longest structure and commune shown in a table cell (the rest is cut with an ellipsis).
_WIDTHS = {"structure": 40, "commune": 30}


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_structures(rows: list[Any]) -> None:
    """Aligned table: département, idPG, structure, commune (name and code), remaining request
    (posts asked − already granted), proposal of this round, committee lock."""
    from service.application.figures import remaining_request

    if not rows:
        return
    headers = ("dép.", "idPG", "structure", "commune", "demande", "proposé", "verrou")
    table = [
        (
            r.departement,
            str(r.id_pg),
            _cell(r.nom, _WIDTHS["structure"]),
            # the name is cut, never the code
            _cell(r.commune or "?", _WIDTHS["commune"] - len(r.code_commune) - 3)
            + f" ({r.code_commune})",
            str(remaining_request(r.demande, r.deja_accorde)),
            str(r.proposition),
            "" if r.lock is None else f"= {r.lock['nombre']}",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(t[k]) for t in table)) for k, h in enumerate(headers)]
    right = {1, 4, 5}  # numbers

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(widths[k]) if k in right else c.ljust(widths[k]) for k, c in enumerate(cells)
        ).rstrip()

    click.echo(line(headers))
    for t in table:
        click.echo(line(t))
    click.echo(
        "demande : demande restante (postes demandés − déjà attribués) ; proposé : postes de ce "
        "tour ; verrou : nombre fixé par le comité"
    )


@french_command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--debug", is_flag=True, help="Flask debugger and reloader (never in production).")
@writes_letters
def serve(host: str, port: int, debug: bool) -> None:
    """Run the HTTP service (dev server, one thread per request; production:
    gunicorn -c python:service.http.gunicorn_conf 'service:create_app()')."""
    from service import create_app

    _check_listen(host, port)
    try:
        app = create_app()
    except RuntimeError as exc:  # the factory's checks of the settings, in French
        raise CliConfigInvalid(str(exc)) from None
    # threaded: a long round request never blocks /health or the other clients
    app.run(host=host, port=port, debug=debug, threaded=True)


@french_group("token")
def token() -> None:
    """API tokens (stored hashed)."""


@token.command("create")
@click.option(
    "--role", required=True, type=click.Choice(["portail", "agence", "analyste", "admin"])
)
@click.option("--label", default="", help="Who holds the token (shown in round authors).")
@common.handled
def token_create(role: str, label: str) -> None:
    """Print a new token for ROLE (shown once: only its SHA-256 is stored)."""
    from service.store import repository as store

    with common.database().write() as s:
        raw = store.create_token(s, role, label)
    click.echo(raw)


@token.command("list")
@common.handled
def token_list() -> None:
    """List the tokens: id, role, creation, revocation, label (never the secret)."""
    from service.store import repository as store

    click.echo(f"{'id':>5}  {'rôle':<9}  {'créé le':<20}  {'état':<31}  libellé")
    with common.database().read() as s:
        for t in store.list_tokens(s):
            state = f"révoqué le {store.iso(t.revoked_at)}" if t.revoked_at else "actif"
            created = (store.iso(t.created_at) or "")[:19] + "Z"
            click.echo(f"{t.id:>5}  {t.role:<9}  {created:<20}  {state:<31}  {t.label}")


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=IDENTIFIANT)
@common.handled
def token_revoke(token_id: int) -> None:
    """Revoke token ID: the API answers 401 to it and its review-page sessions end."""
    from service.store import repository as store
    from service.store.models import utcnow

    with common.database().write() as s:
        row, revoked = store.revoke_token(s, token_id, utcnow())
        what = f"jeton n° {row.id} ({row.role}) " + ("" if revoked else "déjà ")
        click.echo(f"{what}révoqué le {store.iso(row.revoked_at)}")


@french_group("db")
def db_group() -> None:
    """The store's schema."""


@db_group.command("purge")
@common.handled
def db_purge() -> None:
    """Delete expired Idempotency-Key records and review-page sessions (run it daily)."""
    from service.store import repository as store
    from service.store.models import utcnow

    with common.database().write() as s:
        keys, sessions = store.purge_expired(s, utcnow())
    from service.explanations.wording import pluriel

    click.echo(
        "purgé : "
        + pluriel(keys, "clé d'idempotence expirée", "clés d'idempotence expirées")
        + " et "
        + pluriel(sessions, "session expirée", "sessions expirées")
        + " de l'espace agence"
    )


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the embedded Alembic migrations up to head."""
    database = common.database(upgrade_embedded=False)
    database.upgrade()
    click.echo(f"schéma à jour : révision {database.current_revision()}", err=True)


@french_group("round")
def round_group() -> None:
    """Monthly rounds on the store: draft, review, override, commit."""


@round_group.command("draft")
@click.option("--mois", required=True, help="Month of the round, AAAA-MM.")
@click.option(
    "--quota",
    type=int,
    default=None,
    help="Posts to distribute (default: remaining envelope / months left).",
)
@click.option("--politique", default=None, help="Policy overrides as JSON (see docs/CONTRACT.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole round as JSON.")
@common.handled
@writes_letters
def round_draft(mois: str, quota: int | None, politique: str | None, as_json: bool) -> None:
    """Draft the round of MOIS over the pending structures received by the 15th.

    Pending = CREEE or EXAMEN_COMPLEMENTAIRE_COSELEC (cadence and quota in
    service.application.cycle).
    """
    from service.application import monthly
    from service.contract.documents import MonthlyRoundBody, parse_model
    from service.contract.schemas import FieldError, InvalidRequest, json_error

    payload: dict[str, Any] = {"mois": mois, "quota": quota}
    if politique is not None:
        try:
            payload["politique"] = json.loads(politique)
        except ValueError as exc:
            raise InvalidRequest([FieldError("politique", json_error(exc))]) from None
    body = parse_model(MonthlyRoundBody, payload)
    view = monthly.draft_monthly(
        common.database(),
        mois=body.mois,
        quota=body.quota,
        politique=body.politique,
        author=common.author(),
    )
    _print_round(view, as_json)


@round_group.command("show")
@click.argument("round_id", type=IDENTIFIANT)
@click.option("--json", "as_json", is_flag=True, help="Print the whole round as JSON.")
@click.option(
    "--retenues", is_flag=True, help="Only the structures with posts proposed this round."
)
@common.handled
def round_show(round_id: int, as_json: bool, retenues: bool) -> None:
    """Show a round: parameters, status, locks, and its structures (name, commune,
    département, remaining request, proposal, lock), by département."""
    from service.application import rounds

    database = common.database()
    view = rounds.get_round(database, round_id)
    _print_round(view, as_json, database=database, which="retenues" if retenues else "toutes")


@round_group.command("override")
@click.argument("round_id", type=IDENTIFIANT)
@click.option("--idpg", required=True, type=IDENTIFIANT, help="Structure to lock (or unlock).")
@click.option("--nombre", type=int, default=None, help="Posts this round must grant it.")
@click.option("--lever", is_flag=True, help="Lift the structure's lock instead.")
@click.option("--motif", default=None, help="Reason (mandatory, kept with the round).")
@click.option("--json", "as_json", is_flag=True)
@common.handled
@writes_letters
def round_override(
    round_id: int, idpg: int, nombre: int | None, lever: bool, motif: str | None, as_json: bool
) -> None:
    """Lock a structure at NOMBRE posts in a draft round (or lift its lock with --lever) and
    re-solve. A lock outside the structure's bound is refused (exit 2), nothing recorded."""
    from service.application import rounds
    from service.contract.documents import RoundOverrideBody, parse_model

    payload: dict[str, Any] = {"idPG": idpg, "motif": motif}
    if nombre is not None:
        payload["nombre"] = nombre
    if lever:
        payload["lever"] = True
    body = parse_model(RoundOverrideBody, {k: v for k, v in payload.items() if v is not None})
    view = rounds.override_round(
        common.database(),
        round_id,
        id_pg=body.idPG,
        nombre=body.nombre,
        lever=bool(body.lever),
        motif=body.motif,
        author=common.author(),
    )
    if lever and not as_json:
        click.echo(f"verrou levé pour la structure idPG {idpg} ({body.motif})")
    _print_round(view, as_json)


@round_group.command("commit")
@click.argument("round_id", type=IDENTIFIANT)
@common.handled
@writes_letters
def round_commit(round_id: int) -> None:
    """Commit a draft round: coselec entries, statuses, envelope (one transaction)."""
    from service.application import figures, rounds

    view = rounds.commit_round(common.database(), round_id, author=common.author())
    prog, n = view["programme"] or {}, figures.nombre
    click.echo(
        f"tour n° {view['id']} validé : {n(figures.round_granted(view['resultat']))} "
        f"{figures.FIGURES['attribues'].libelle} ({figures.FIGURES['consommes'].libelle} "
        f"avant validation : {n(prog.get('consomme'))} sur {n(prog.get('enveloppe'))})"
    )


@round_group.command("list")
@common.handled
def round_list() -> None:
    """List the rounds of the store."""
    from service.application import rounds
    from service.application.figures import compte, nombre

    for r in rounds.list_rounds(common.database()):
        unplaced = (
            f" (dont {compte(r['nonLocalises'], 'nonLocalises')})" if r["nonLocalises"] else ""
        )
        click.echo(
            f"{r['id']:>5}  {r['mois']}  quota {nombre(r['quota']):>5}  attribués "
            f"{nombre(r['attribues']):>5}  {r['statut']:<9}  créé {r['creeLe']}"
            + (f"  validé {r['valideLe']}" if r["valideLe"] else "")
            + unplaced
        )


def register(group: click.Group) -> None:
    """Add ``serve``, ``token``, ``db`` and ``round`` to the ``allocator`` group."""
    for command in (serve, token, db_group, round_group):
        group.add_command(command)
