"""The ``allocator`` command line: an edge like HTTP, wiring geodata and the engine.

Exit codes (``docs/CONTRACT.md``): 0 a solved round (INFEASIBLE included: it is an answer),
2 invalid input (the message names the field), 1 internal failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from service.cli.common import (
    database,
    failures,
    handled,
    max_structures,
    read_json,
)
from service.cli.usage import DEPARTEMENT, CliInvalid, FrenchGroup, writes_letters

if TYPE_CHECKING:
    from service.application.pipeline import SolvedRound


class _LazyGroup(FrenchGroup):
    """The root group: commands of the other service modules are registered on first need.

    ``allocator allocate`` is the agency's hot path (a national round in a fresh process): it must
    not import Flask, SQLAlchemy or Alembic through the store commands. The commands defined in
    this module are found directly; any other name, ``--help`` or completion registers the rest.
    Every group and command of the tree is a :class:`~service.cli.usage.FrenchGroup` /
    :class:`~service.cli.usage.FrenchCommand`: usage errors are one French line, exit 2.
    """

    group_class = FrenchGroup
    _registered = False

    def _register_all(self) -> None:
        if not self._registered:
            type(self)._registered = True
            _register_commands()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._register_all()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._register_all()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValueError:
            # a command writing letters without @writes_letters: a wrong ALLOCATOR_PUBLIC_URL is
            # still one French line, exit 2 (cli_usage.public_url raises CliConfigInvalid)
            from service.cli.usage import public_url

            public_url()
            raise


@click.group(cls=_LazyGroup)
@click.version_option(package_name="conseillers-numeriques-allocator")
def main() -> None:
    """Allocation of conseillers numériques posts: rounds, territories, service."""


@main.command()
@click.argument("request_file", type=click.File("rb"))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    callback=lambda _ctx, _param, value: _writable_output(value),
    help="Where to write the result JSON (default: stdout).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes explaining the decisions (default: 2 when the machine has 2 cores or more;"
    " the result is byte-identical whatever the number).",
)
@click.option(
    "--explication",
    "niveau",
    type=click.Choice(["complete", "compacte"]),
    default="complete",
    show_default=True,
    help="Level of the decisions' explanations: the whole letter, or its opening paragraph and"
    " numbers (as POST /v1/allocate?explication=).",
)
@writes_letters
def allocate(request_file, output: Path | None, jobs: int | None, niveau: str) -> None:
    """Solve one round statelessly: REQUEST_FILE is the round request JSON ('-' = stdin)."""
    from service import speed
    from service.application.pipeline import result_summary, solve_round
    from service.contract.schemas import parse_round_request

    payload = read_json(request_file)
    # One batch in a short-lived process: the cyclic collector's passes over the whole heap
    # (geodata, engine, explanations) cost ~0.1 s on a national round and free nothing that
    # reference counting does not (peak memory measured the same).
    with failures(), speed.gc_paused():
        request = parse_round_request(payload, max_structures())
        solved = solve_round(request)
        _emit(solved, output, jobs or min(2, os.cpu_count() or 1), niveau)
    click.echo(result_summary(solved.outline, solved.request), err=True)
    leave = click.get_current_context().find_object(speed.QuickExit)
    if leave is not None:  # run by the program (not by a test runner): nothing left to release
        leave.request()


def _emit(solved: SolvedRound, output: Path | None, processes: int, niveau: str) -> None:
    """Write the round's JSON to ``output`` (stdout when ``None``) as it is built."""
    from service.application.pipeline import encoded_round

    with encoded_round(solved, processes=processes, niveau=niveau) as parts:
        # written as built: the result of a national round is tens of MB
        if output is None:
            sys.stdout.buffer.writelines(parts)
            sys.stdout.flush()
            return
        try:
            with output.open("wb") as out:
                out.writelines(parts)
        except BaseException:
            output.unlink(missing_ok=True)  # no half-written result (a full disk, say)
            raise


def _writable_output(path: Path | None) -> Path | None:
    """``-o``: checked before the round is solved (a usage error, exit 2, not a lost result)."""
    if path is None:
        return None
    folder = path.parent
    if not folder.is_dir():
        raise CliInvalid("--output", f"dossier inexistant : {folder}")
    if not path.exists() and not os.access(folder, os.W_OK):
        raise CliInvalid("--output", f"dossier non modifiable : {folder}")
    return path


@main.group()
def territoire() -> None:
    """Territorial diagnosis: need, existing coverage, accessibility."""


@territoire.command()
@click.option(
    "--departement",
    type=DEPARTEMENT,
    default=None,
    help="One département, by code (01, 2A, 974) or name (Nord); default: the national table.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/diagnostic"),
    show_default=True,
    help="Folder for the table (CSV and xlsx) and the choropleth maps (PNG).",
)
@click.option("--no-maps", is_flag=True, help="Only print and write the table.")
def diagnostic(departement: str | None, out_dir: Path, no_maps: bool) -> None:
    """Print need, coverage and accessibility; write the table and the maps."""
    from geodata import diagnostic as diag
    from geodata import maps

    table = diag.table_fr(diag.diagnostic_table(departement=departement))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / (f"diagnostic_{departement}" if departement else "diagnostic_national")
    files = _write_table(table, stem)
    click.echo(_table_text(table, departement, files))
    for path in files:
        click.echo(f"table : {path}", err=True)
    if not no_maps:
        constant = maps.constant_indicators(departement)
        for indicator, path in zip(
            maps.INDICATORS, maps.diagnostic_maps(out_dir, departement=departement), strict=True
        ):
            note = f" — {constant[indicator]}" if indicator in constant else ""
            click.echo(f"carte : {path}{note}", err=True)


#: Rows printed in full; a longer table is printed as a stated head (the files hold it whole).
PRINTED_ROWS = 120
HEAD_ROWS = 40


def _write_table(table: Any, stem: Path) -> list[Path]:
    """The whole table as CSV (French: ``;`` between fields, decimal comma, UTF-8 with BOM
    for spreadsheet software) and as an xlsx workbook."""
    csv_path, xlsx_path = stem.with_suffix(".csv"), stem.with_suffix(".xlsx")
    table.to_csv(csv_path, sep=";", decimal=",", encoding="utf-8-sig")
    table.to_excel(xlsx_path, sheet_name="diagnostic")
    return [csv_path, xlsx_path]


def _table_text(table: Any, departement: str | None, files: list[Path]) -> str:
    """The table for the terminal: whole, or its first rows and where the rest is."""
    import pandas as pd

    from service.application.figures import nombre

    shown = table if len(table) <= PRINTED_ROWS else table.head(HEAD_ROWS)
    with pd.option_context(
        "display.max_rows",
        None,
        "display.max_columns",
        None,
        "display.width",
        None,
        "display.max_colwidth",
        None,
        "display.float_format",
        lambda x: nombre(x, 1),
    ):
        text = shown.to_string()
    if shown is not table:
        what = "communes" if departement else "lignes"
        text += (
            f"\n… {HEAD_ROWS} premières {what} sur {len(table)} (par code) ; table complète : "
            + " et ".join(str(f) for f in files)
        )
    return text


@main.group()
def cache() -> None:
    """The on-disk cache of derived national tables (ALLOCATOR_CACHE_DIR, 'off' disables it)."""


_CACHE_OFF = "cache désactivé (ALLOCATOR_CACHE_DIR=off ou pas de HOME)"


def _cache_files() -> tuple[Path | None, list[Path]]:
    """The cache folder (``None`` when the cache is off) and its entry files."""
    from geodata import cache as disk_cache

    where = disk_cache.cache_dir()
    files = sorted(where.glob("*.npz")) if where is not None and where.is_dir() else []
    return where, files


@cache.command("prepare")
def cache_prepare() -> None:
    """Build the entries a fresh `allocator allocate` reads (install scripts, data updates)."""
    import time

    from geodata.round import prepare_cache

    start = time.perf_counter()
    names = prepare_cache()
    where, _ = _cache_files()
    if where is None:
        click.echo(f"{_CACHE_OFF} : rien n'est écrit")
        return
    from service.application.figures import nombre

    seconds = nombre(time.perf_counter() - start, 1)
    click.echo(f"{', '.join(names)} prêts dans {where} ({seconds} s)")


@cache.command("info")
def cache_info() -> None:
    """Print the cache folder and its entry files."""
    where, files = _cache_files()
    if where is None:
        click.echo(_CACHE_OFF)
        return
    from service.application.figures import nombre
    from service.explanations.wording import pluriel

    click.echo(f"{where} : {pluriel(len(files), 'fichier')}")

    for f in files:
        click.echo(f"  {f.name}  {nombre(f.stat().st_size / 1e6, 1)} Mo")


@cache.command("clear")
def cache_clear() -> None:
    """Delete the cache's entry files (they are rebuilt on next use)."""
    _, files = _cache_files()
    for f in files:
        f.unlink(missing_ok=True)
    from service.explanations.wording import pluriel

    click.echo(pluriel(len(files), "fichier supprimé", "fichiers supprimés"))


@main.command()
@click.option(
    "--quota",
    type=click.IntRange(0),
    default=None,
    help="Posts to distribute (default: 70 % of what the round's applicants ask).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/demo"),
    show_default=True,
)
@writes_letters
def demo(quota: int | None, out_dir: Path) -> None:
    """The main job: a full monthly round on the store (embedded SQLite by default).

    Committees of 2021 before the last one are imported as committed history; the last
    committee's structures apply to the June 2021 round (synthetic project scores and préfet
    opinions, fixed seed), which is drafted, solved, committed, replayed and summarised.
    The summary goes to stdout; progress and warnings to stderr.
    """
    from service.cli.demo import run_demo

    handled(run_demo)(
        database(),
        out_dir=out_dir,
        quota=quota,
        echo=click.echo,
        progress=lambda m: click.echo(m, err=True),
    )


def _register_commands() -> None:
    """Commands of the other service modules, each module adding its own (``register(group)``)."""
    from service.cli import admin as cli_admin
    from service.cli import intake as cli_intake  # structures import
    from service.cli import rounds as cli_cycle
    from service.cli import scenarios as cli_scenarios
    from service.cli import transparence as cli_transparence  # notice, round export

    for module in (cli_admin, cli_cycle, cli_scenarios, cli_transparence, cli_intake):
        module.register(main)


def run() -> None:
    """The ``allocator`` program: :func:`main`, leaving at once after ``allocate``.

    ``allocate`` asks, through the :class:`service.speed.QuickExit` this function hands to the
    commands, to end without the interpreter's teardown once its output is written and flushed
    (:func:`service.speed.leave_now`; ``ALLOCATOR_FAST=0`` turns that off). Any other command,
    and any failure, exits the normal way. Tests call :func:`main` through click's runner and
    are unaffected.
    """
    from service import speed

    leave = speed.QuickExit()
    try:
        main(obj=leave)
    except SystemExit as exc:
        if leave.requested and exc.code in (0, None):
            speed.leave_now(0)
        raise


if __name__ == "__main__":  # pragma: no cover
    run()
