"""Commands of the monthly cycle: ``round import-historique | replay``, ``postes``, ``programme``
and ``simulate``. They call the same functions as the HTTP API (:mod:`service.application.cycle`,
:mod:`service.application.posts`, :mod:`service.application.replay`,
:mod:`service.analysis.simulate`).

Exit codes: 0 done, 2 invalid input or refused by the store's state, 1 a replay that does not
reproduce its round (or an internal failure).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from service.application.posts import EVENT_TYPES
from service.cli import common
from service.cli.admin import round_group
from service.cli.usage import IDENTIFIANT, french_command, french_group, writes_letters
from service.contract.schemas import FieldError, InvalidRequest

EXIT_MISMATCH = 1


def _date(value: str | None) -> datetime:
    """``--date`` (ISO date or datetime, UTC) or the current time."""
    if not value:
        return datetime.now(UTC)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            [FieldError("date", f"date ISO-8601 attendue ; reçu {value!r}")]
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@french_command("import-historique")
@click.option(
    "--avant",
    default=None,
    metavar="AAAA-MM-JJ",
    help="Import only the committees held before this day, and their structures (e.g. "
    "2021-05-19: the last committee's structures can then apply through "
    "'structures import').",
)
@common.handled
def round_import(avant: str | None) -> None:
    """Import the bundled 2021 committees as committed history (idempotent)."""
    from service.application import figures, history
    from service.explanations.wording import pluriel

    if avant is not None:
        _history_cutoff(avant)
    summary = history.import_history(common.database(), author=common.author(), until=avant)
    if not summary["importe"]:
        click.echo(summary["message"])
        return
    for t in summary["tours"]:
        click.echo(
            f"tour n° {t['id']} : {t['numero']} du {t['date']}, {pluriel(t['postes'], 'poste')}"
        )
    p = summary["programme"]
    n, consumed = figures.nombre, figures.FIGURES["consommes"].libelle
    imported = pluriel(summary["structures"], "structure importée", "structures importées")
    click.echo(f"{imported} ; {consumed} : {n(p['consomme'])} sur {n(p['enveloppe'])}")


@french_command("replay")
@click.argument("round_id", type=IDENTIFIANT, required=False)
@click.option("--tous", "all_rounds", is_flag=True, help="Replay every committed round.")
@click.option("--json", "as_json", is_flag=True, help="Print the certificates as JSON.")
@common.handled
@writes_letters
def round_replay(round_id: int | None, all_rounds: bool, as_json: bool) -> None:
    """Re-solve a stored round from its snapshot and print its certificate.

    Exit 1 when the replay does not reproduce the stored decisions byte for byte.
    """
    from service.application import replay

    if (round_id is None) == (not all_rounds):
        raise InvalidRequest([FieldError("ROUND_ID", "un numéro de tour ou --tous")])
    database = common.database()
    certs = (
        replay.replay_all(database)
        if all_rounds
        else [replay.replay_round(database, int(round_id))]  # type: ignore[arg-type]
    )
    if as_json:
        common.echo_json(certs if all_rounds else certs[0])
    else:
        for c in certs:
            click.echo(replay.certificate_text(c))
    bad = [c["roundId"] for c in certs if not c["identique"]]
    if bad:
        from service.explanations.wording import pluriel

        which = ", ".join(str(n) for n in bad)
        click.echo(f"rejeu DIFFÉRENT : {pluriel(len(bad), 'tour')} (n° {which})", err=True)
        sys.exit(EXIT_MISMATCH)


# -- programme ----------------------------------------------------------------------------


@french_group("programme", invoke_without_command=True)
@click.option("--duree", type=int, default=None, help="Convention length in months (<= 36).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@common.handled
def programme(ctx: click.Context, duree: int | None, as_json: bool) -> None:
    """The programme: envelope, posts by state, State cost per round and département."""
    if ctx.invoked_subcommand is not None:  # pragma: no cover - no sub-commands yet
        return
    from service.application import cycle, figures
    from service.contract.documents import ProgrammeQuery, parse_model
    from service.explanations.wording import pluriel

    if duree is not None:  # the API's bounds (GET /v1/programme?duree=), with or without posts
        parse_model(ProgrammeQuery, {"duree": duree})
    state = cycle.programme_state(common.database(), duree_mois=duree)
    if as_json:
        common.echo_json(state)
        return
    for line in figures.text_lines(figures.ProgrammeFigures.from_programme(state)):
        click.echo(line)
    n = figures.nombre
    click.echo(
        f"historique importé : {'oui' if state['historiqueImporte'] else 'non'} ; "
        f"coût pour l'État des postes actifs : {figures.euros(state['coutEtatEur'])}"
    )
    click.echo("postes par état : " + json.dumps(state["postesParStatut"]))
    for t in state["tours"]:
        unplaced = f" (dont {figures.compte(t['nonLocalises'], 'nonLocalises')})"
        click.echo(
            f"  tour {t['id'] or '—'} {t['mois'] or '(import)'} ({t['origine'] or 'admin'}) :"
            f" attribués {n(t['attribues'])}{unplaced if t['nonLocalises'] else ''}, "
            f"rendus {n(t['rendus'])}, actifs {n(t['postes'])}, coût pour l'État "
            f"{figures.euros(t['coutEtatEur'])}"
        )
    deps = sorted(state["departements"], key=lambda d: d["ecart"])
    click.echo("départements les plus en deçà de leur part équitable (postes actifs) :")
    for d in deps[:10]:
        active = pluriel(d["postes"], "poste")
        click.echo(
            f"  {d['departement']} {d['nom']} : {active} / part "
            f"{n(d['partEquitable'])} (écart {'+' if d['ecart'] > 0 else ''}{n(d['ecart'])})"
        )


# -- postes -------------------------------------------------------------------------------


@french_group("postes")
def postes() -> None:
    """Posts after the grant: lifecycle, deadlines, requests of the structures."""


@postes.command("liste")
@click.argument("id_pg", type=IDENTIFIANT)
@click.option("--date", "date_", default=None, help="Reference date (default: now).")
@common.handled
def postes_liste(id_pg: int, date_: str | None) -> None:
    """Posts of a structure, their state and deadlines (JSON)."""
    from service.application import posts

    common.echo_json(posts.list_posts(common.database(), id_pg, _date(date_)))


@postes.command("evenement")
@click.argument("id_pg", type=IDENTIFIANT)
@click.argument("numero", type=IDENTIFIANT)
@click.argument("type_", metavar="TYPE", type=click.Choice(list(EVENT_TYPES)))
@click.option("--date", "date_", default=None, help="Date of the event (default: now).")
@click.option("--commentaire", default=None)
@common.handled
def postes_evenement(
    id_pg: int, numero: int, type_: str, date_: str | None, commentaire: str | None
) -> None:
    """Record a lifecycle event of post NUMERO of structure ID_PG."""
    from service.application import posts

    when = _date(date_) if date_ else None
    common.echo_json(
        posts.report_event(
            common.database(),
            id_pg,
            numero,
            type_=type_,
            now=datetime.now(UTC),
            date=when,
            commentaire=commentaire,
            auteur=common.author(),
        )
    )


@postes.command("demande")
@click.argument("id_pg", type=IDENTIFIANT)
@click.option("--type", "type_", required=True, type=click.Choice(["AJOUT", "RESTITUTION"]))
@click.option("--nombre", required=True, type=click.IntRange(1, 1000))
@click.option("--motif", default="")
@common.handled
def postes_demande(id_pg: int, type_: str, nombre: int, motif: str) -> None:
    """File a structure's request: more posts (next round) or hand free posts back."""
    from service.application import demandes

    common.echo_json(
        demandes.file_request(
            common.database(),
            id_pg,
            type_=type_,
            nombre=nombre,
            motif=motif,
            now=datetime.now(UTC),
            auteur=common.author(),
        )
    )


@postes.command("echeances")
@click.option("--date", "date_", default=None, help="Reference date (default: now).")
@click.option(
    "--appliquer",
    is_flag=True,
    help="Flag grants to re-assess and return posts vacant > 6 months to the pool.",
)
@common.handled
def postes_echeances(date_: str | None, appliquer: bool) -> None:
    """Overdue deadlines (selection, contract, recruitment, vacancy) at DATE."""
    from service.application import figures, posts
    from service.explanations.wording import pluriel

    database = common.database()
    when = _date(date_)
    if appliquer:
        out = posts.apply_deadlines(database, when, common.author())
        p, n, pl = out["programme"], figures.nombre, pluriel
        flagged, returned = len(out["signalesPourReexamen"]), len(out["rendusAuVivier"])
        click.echo(
            f"{pl(flagged, 'poste signalé', 'postes signalés')} pour réexamen, "
            f"{pl(returned, 'rendu')} au vivier ; "
            f"{figures.FIGURES['consommes'].libelle} : {n(p['consomme'])} sur "
            f"{n(p['enveloppe'])}"
        )
        return
    report = posts.deadlines(database, when)
    click.echo(f"échéances dépassées au {report['date']} : {report['compte'] or 'aucune'}")
    for a in report["alertes"][:100]:
        click.echo(
            f"  idPG {a['idPG']} poste {a['numero']} ({a['statut']}) {a['type']} "
            f"échu le {a['echeance']}"
        )


# -- simulate -----------------------------------------------------------------------------


@french_command("simulate")
@click.option(
    "--mois",
    "months",
    default="2021-03..2022-02",
    show_default=True,
    help="Months to simulate, FIRST..LAST (AAAA-MM..AAAA-MM).",
)
@click.option(
    "--politiques",
    default="premier_arrive,enveloppes_departementales,moteur",
    show_default=True,
    help="Comma-separated policies to compare.",
)
@click.option("--graine", "seed", default=2021, show_default=True, type=click.IntRange(0))
@click.option(
    "--synthetiques",
    "synthetic_per_month",
    default=None,
    type=click.IntRange(0, 2000),
    help="Synthetic applications per month after May 2021 (default: documented rule).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/simulation"),
    show_default=True,
)
@click.option("--no-plots", is_flag=True)
@common.handled
def simulate_cmd(
    months: str,
    politiques: str,
    seed: int,
    synthetic_per_month: int | None,
    out_dir: Path,
    no_plots: bool,
) -> None:
    """Replay months of rounds in memory under several policies side by side."""
    from service.analysis import simulate

    first, sep, last = months.partition("..")
    if not sep:
        last = first
    sim = simulate.simulate(
        first,
        last,
        policies=tuple(p.strip() for p in politiques.split(",") if p.strip()),
        seed=seed,
        synthetic_per_month=synthetic_per_month,
    )
    paths = simulate.write_outputs(sim, out_dir, plots=not no_plots)
    click.echo(simulate.summary_text(sim))
    for p in paths:
        click.echo(f"fichier : {p}", err=True)


def _history_cutoff(avant: str) -> None:
    """``--avant``: an ISO date before which at least one bundled committee was held."""
    from datetime import date

    from service.application import history

    try:
        date.fromisoformat(avant)
        if len(avant) != 10:
            raise ValueError
    except ValueError:
        raise InvalidRequest(
            [FieldError("avant", f"date AAAA-MM-JJ attendue ; reçu {avant!r}")]
        ) from None
    first = history.history_committees()[0]["date"]
    if avant <= first:
        raise InvalidRequest(
            [FieldError("avant", f"aucun comité avant le {avant} (le premier date du {first})")]
        )


def register(group: click.Group) -> None:
    """Add the cycle commands to ``allocator``; ``round`` (:mod:`service.cli.admin`) gets two
    more sub-commands."""
    round_group.add_command(round_import)
    round_group.add_command(round_replay)
    for command in (programme, postes, simulate_cmd):
        group.add_command(command)
