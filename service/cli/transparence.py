"""Transparency commands of the ``allocator`` CLI: ``notice`` and ``round export``.

``round export`` is added to the ``round`` group of :mod:`service.cli.admin`. Both call the same
functions as the HTTP API (:mod:`service.application.notice`, :mod:`service.application.export`).
"""

from __future__ import annotations

from pathlib import Path

import click

from service.cli import common
from service.cli.admin import round_group
from service.cli.usage import DEPARTEMENT, IDENTIFIANT, french_command, writes_letters


@french_command("notice")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html"]),
    default="md",
    show_default=True,
    help="Markdown or a standalone HTML page.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the notice (default: stdout).",
)
def notice(fmt: str, output: Path | None) -> None:
    """The public notice of the algorithm, generated from the code's policy objects."""
    from service.application import notice as notice_module

    common.write_text(notice_module.render(fmt), output, "notice")


@french_command("export")
@click.argument("round_id", type=IDENTIFIANT)
@click.option(
    "--xlsx/--no-xlsx",
    default=True,
    show_default=True,
    help="The committee workbook (CSV and JSON are always written).",
)
@click.option("--cartes", is_flag=True, help="Also draw the national and département maps.")
@click.option(
    "--departement",
    "departements",
    multiple=True,
    type=DEPARTEMENT,
    help="Département maps for these codes only (default: every département with grants).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: out/tour_<ID>).",
)
@common.handled
@writes_letters
def round_export(
    round_id: int,
    xlsx: bool,
    cartes: bool,
    departements: tuple[str, ...],
    out_dir: Path | None,
) -> None:
    """Committee pack of a round: Excel workbook, CSV, JSON (and maps)."""
    from service.application import export

    pack = export.load_round(common.database(), round_id)
    paths = export.export_round(
        pack,
        out_dir or Path("out") / pack.name,
        xlsx=xlsx,
        cartes=cartes or bool(departements),
        departements=list(departements) or None,
    )
    for path in paths:
        click.echo(str(path))


def register(group: click.Group) -> None:
    """Add ``notice`` to ``group`` and ``export`` to its ``round`` sub-group."""
    group.add_command(notice)
    round_group.add_command(round_export)
