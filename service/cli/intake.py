"""``allocator structures import FILE``: the portal's export into the store
(:mod:`service.application.intake`).

Exit codes: 0 every line valid (written, or only simulated with ``--simulation``), 2 a file that
cannot be read (one French line) or any refused line (nothing written), 1 internal failure.
"""

from __future__ import annotations

import sys

import click

from service.cli import common
from service.cli.usage import EXIT_INVALID, french_group

#: Longest structure name shown in a report line (the rest is cut with an ellipsis).
_NOM = 42


def _short(text: str | None, width: int) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and ``word`` agreed by the one rule, :func:`service.explanations.wording.pluriel`."""
    from service.explanations.wording import pluriel

    return pluriel(n, word, plural)


def _print_report(report: object) -> None:
    from service.application import intake

    assert isinstance(report, intake.IntakeReport)
    width = max((len(str(o.id_pg or "")) for o in report.lignes), default=1)
    number = max(len(str(o.ligne)) for o in report.lignes)
    for o in report.lignes:
        head = (
            f"ligne {o.ligne:>{number}}  idPG {o.id_pg if o.id_pg is not None else '?':<{width}}  "
            f"{o.etat:<11}"
        )
        if o.erreurs:
            first, *rest = o.erreurs
            click.echo(f"{head}  {first.champ} : {first.message}")
            for e in rest:
                click.echo(f"{'':{len(head)}}  {e.champ} : {e.message}")
        else:
            click.echo(f"{head}  {_short(o.nom, _NOM)}")
        for r in o.remarques:
            click.echo(f"{'':{len(head)}}  ({r})")
    c = report.compte()
    counts = (
        f"{_plural(len(report.lignes), 'ligne')} : {_plural(c[intake.CREEE], 'créée')}, "
        f"{_plural(c[intake.MISE_A_JOUR], 'mise à jour', 'mises à jour')}, "
        f"{_plural(c[intake.INCHANGEE], 'inchangée')}, {_plural(c[intake.REFUSEE], 'refusée')}"
    )
    click.echo(counts)
    if report.hors_attente:
        click.echo(
            "attention : "
            + _plural(
                report.hors_attente,
                "structure du fichier n'est pas en attente (déjà examinée par le comité ou "
                "retirée) : aucun tour ne la considère",
                "structures du fichier ne sont pas en attente (déjà examinées par le comité ou "
                "retirées) : aucun tour ne les considère",
            )
        )
    if report.colonnes_ignorees:
        click.echo(
            f"colonnes ignorées (inconnues du service) : {', '.join(report.colonnes_ignorees)}"
        )
    if report.refusees:
        click.echo(
            "rien n'est écrit : corrigez les lignes refusées puis relancez (l'import est "
            "tout ou rien)"
        )
    elif report.simulation:
        click.echo("simulation : rien n'est écrit ; relancez sans --simulation pour importer")
    elif not (c[intake.CREEE] or c[intake.MISE_A_JOUR]):
        click.echo("rien à écrire : le store contient déjà ces candidatures telles quelles")
    else:
        click.echo("import enregistré")


@french_group("structures")
def structures() -> None:
    """Applications of the host structures (the portal's export)."""


@structures.command("import")
@click.argument("fichier", metavar="FICHIER")
@click.option(
    "--simulation",
    "--dry-run",
    "simulation",
    is_flag=True,
    help="Validate every line and report what would be created, updated or refused; write nothing.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["texte", "json"]),
    default="texte",
    show_default=True,
    help="Report as aligned text lines or as JSON (scripts).",
)
@click.option(
    "--encodage",
    type=click.Choice(["utf-8", "cp1252"]),
    default="utf-8",
    show_default=True,
    help="Encoding of a CSV file (cp1252: 'CSV (point-virgule)' saved by Windows spreadsheets).",
)
@common.handled
def structures_import(fichier: str, simulation: bool, output_format: str, encodage: str) -> None:
    """Import the portal's export FICHIER (.csv with ';' or .xlsx): all lines or none.

    Each line goes through the validation of PUT /v1/structures/{idPG}; the report gives,
    per line, créée / mise à jour / inchangée / refusée and why. Columns and value formats:
    service.application.intake and the README. Exit 2 when any line is refused (nothing is
    written).
    """
    from service.application import intake, portal_file

    try:
        table = portal_file.read_export(fichier, encoding=encodage)
    except portal_file.ExportFileError as exc:
        click.echo(f"fichier refusé : {exc}", err=True)
        sys.exit(EXIT_INVALID)
    database = common.database()
    try:
        report = intake.import_structures(
            database, table, fichier=fichier, simulation=simulation, auteur=common.author()
        )
    finally:
        database.dispose()
    if output_format == "json":
        common.echo_json(report.as_json())
    else:
        _print_report(report)
    if report.refusees:
        sys.exit(EXIT_INVALID)


def register(group: click.Group) -> None:
    """Add ``structures import`` to ``allocator``."""
    group.add_command(structures)
