"""``allocator scenario compare | robustesse``: the analysts' commands (an edge like HTTP).

Both read a file or build a demo round from the bundled real data (``--demo tour``, the default
without a file: the last 2021 committee replayed, 190 structures; ``--demo national``: every
2021 host in one round, 1,443 structures), call :mod:`service.analysis.scenarios` /
:mod:`service.analysis.robustness`, write the JSON report (``-o``, default stdout) and print a short
French summary on stderr.

Exit codes (as ``allocator allocate``): 0 done, 2 invalid input (the message names the field),
1 internal failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from service.cli.common import (
    failures,
    max_structures,
    read_json,
    write_text,
)
from service.cli.usage import DEPARTEMENT, CliInvalid, french_group, writes_letters

DEMOS = ("tour", "national")


def _source(file: Any, demo: str | None, argument: str) -> str | None:
    """Which round to study: the file, or a demo round (``tour`` when neither is given)."""
    if file is not None and demo is not None:
        raise CliInvalid(argument, f"un fichier ou --demo {demo}, pas les deux")
    if file is None and demo is None:
        click.echo("sans fichier : tour de démonstration (--demo tour)", err=True)
        return "tour"
    return demo


def _demo_payload(demo: str) -> dict[str, Any]:
    if demo == "national":
        from service.analysis.rounds import national_request

        return national_request()
    from service.application.history import demo_request

    return demo_request()


def _write(report: dict[str, Any], output: Path | None) -> None:
    write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", output, "rapport")


def _fmt(value: float | None, digits: int = 4) -> str:
    """A signed difference, the French way (``+0,0125``)."""
    from service.application.figures import nombre

    return "—" if value is None else ("+" if value >= 0 else "") + nombre(value, digits)


def comparison_summary(report: dict[str, Any]) -> str:
    """A short French summary of a comparison report (stderr of the CLI)."""
    from service.application.figures import euros
    from service.explanations.wording import pluriel

    b = report["base"]
    lines = [
        f"base : {b['statut']}, {pluriel(b['attribues'], 'poste')} / quota {b['quota']}, "
        f"{pluriel(b['structuresRetenues'], 'structure')}, coût État {euros(b['coutEtatEur'])}",
    ]
    for v in report["variantes"]:
        e = v["ecarts"]
        changes = ", ".join(f"{c['champ']}={c['variante']}" for c in v["changements"]) or "aucun"
        lines.append(
            f"- {v['nom']} ({changes}) : {v['resultat']['statut']}, postes {e['attribues']:+d}, "
            f"{pluriel(v['gagnants'], 'gagnant')} / {pluriel(v['perdants'], 'perdant')}, "
            f"Gini {_fmt(e.get('gini'))}, hors besoin {_fmt(e.get('partHorsBesoin'))}, "
            f"à portée {_fmt(e.get('populationFragileAPortee'), 0)}"
        )
    for p in report["prixEquite"]:
        pr = p["prix"]
        lines.append(
            f"prix de « {p['libelle']} » : objectif {_fmt(pr.get('perteObjectif'), 1)}, "
            f"couverture {_fmt(pr.get('perteCouverture'), 0)} hab., Gini gagné "
            f"{_fmt(pr.get('gainGini'))} ; sans la règle "
            f"{pluriel(p['sansRegle']['gagnants'], 'gagnant')} / "
            f"{pluriel(p['sansRegle']['perdants'], 'perdant')}"
        )
    return "\n".join(lines)


def robustness_summary(report: dict[str, Any]) -> str:
    from service.application.figures import nombre, pourcentage
    from service.explanations.wording import pluriel

    r = report["resume"]
    p = report["parametres"]
    return "\n".join(
        [
            f"{pluriel(r['tirages'], 'tirage')} (graine {p['graine']}, "
            f"indice ±{pourcentage(p['bruitIndiceFragilite'], 0)}, "
            f"poids ±{pourcentage(p['bruitPoids'], 0)}) : "
            f"stabilité moyenne {nombre(r['stabiliteMoyenne'], 3)}",
            f"{pluriel(r['aRevoir'], 'décision')} sur {nombre(r['structures'])} à revoir "
            f"(stabilité < {nombre(p['seuilStabilite'], 2)}) ; postes déplacés par tirage : "
            f"moyenne {nombre(r['postesDeplacesMoyenne'], 1)}, "
            f"p95 {nombre(r['postesDeplacesP95'], 1)}",
        ]
    )


@french_group("scenario")
def scenario() -> None:
    """Policy scenarios: comparison of variants, robustness of a round."""


@scenario.command("compare")
@click.argument("scenarios_file", type=click.File("rb"), required=False)
@click.option(
    "--demo",
    type=click.Choice(DEMOS),
    default=None,
    help="A demo round and the standard variants (default without a file: tour).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--cartes",
    "maps_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write PNG choropleths and an interactive HTML map in this folder.",
)
@click.option(
    "--departement",
    type=DEPARTEMENT,
    default=None,
    help="Communes maps of this département (code or name).",
)
@click.option("--sans-prix", is_flag=True, help="Do not price the fairness rules.")
@click.option("--sans-causes", is_flag=True, help="Do not attribute moves to fields.")
@writes_letters
def compare(
    scenarios_file: Any,
    demo: str | None,
    output: Path | None,
    maps_dir: Path | None,
    departement: str | None,
    sans_prix: bool,
    sans_causes: bool,
) -> None:
    """Compare a baseline round with policy variants.

    SCENARIOS_FILE: {"requete": <round request>, "variantes": [{"nom", "politique",
    "quota"}], "prixEquite": true, "causes": true} ('-' = stdin).
    """
    demo = _source(scenarios_file, demo, "SCENARIOS_FILE")
    with failures():
        comparison = _comparison(scenarios_file, demo, sans_prix=sans_prix, sans_causes=sans_causes)
    _write(comparison.report, output)
    click.echo(comparison_summary(comparison.report), err=True)
    if maps_dir is not None:
        _write_maps(comparison, maps_dir, departement)


def _comparison(
    scenarios_file: Any, demo: str | None, *, sans_prix: bool, sans_causes: bool
) -> Any:
    """The comparison of the file's scenarios, or of a demo round with the standard variants."""
    from service.analysis import scenarios
    from service.contract.documents import parse_scenarios
    from service.contract.schemas import parse_round_request
    from service.explanations.wording import pluriel

    if scenarios_file is not None:
        doc = parse_scenarios(read_json(scenarios_file), max_structures())
        request, variants = doc.requete, scenarios.variants_of(doc)
        prices, causes = doc.prixEquite, doc.causes
    else:
        request = parse_round_request(_demo_payload(demo or "tour"))
        variants = scenarios.standard_variants(request)
        prices, causes = True, True
    click.echo(
        f"{pluriel(len(request.structures), 'structure')}, {pluriel(len(variants), 'variante')}",
        err=True,
    )
    return scenarios.compare(
        request,
        variants,
        fairness_prices=prices and not sans_prix,
        causes=causes and not sans_causes,
    )


def _write_maps(comparison: Any, maps_dir: Path, departement: str | None) -> None:
    """``--cartes``: the PNG choropleths, then one interactive HTML map per variant."""
    from service.analysis.maps import scenario_map, scenario_maps

    paths = scenario_maps(comparison, maps_dir, departement=departement)
    for v in comparison.variants:
        paths.append(scenario_map(comparison, maps_dir / f"carte_{v.nom}.html", variant=v.nom))
    for p in paths:
        click.echo(f"carte : {p}", err=True)


@scenario.command("robustesse")
@click.argument("request_file", type=click.File("rb"), required=False)
@click.option(
    "--demo",
    type=click.Choice(DEMOS),
    default=None,
    help="A demo round (default without a file: tour).",
)
@click.option("--tirages", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--graine", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--scheduler",
    default="local",
    show_default=True,
    help="'local' (Dask LocalCluster), 'serial', or an address tcp://host:8786.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--seuil",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Stability threshold under which a decision is flagged (default 0.9).",
)
@click.option("--bruit-indice", type=click.FloatRange(0, 1, max_open=True), default=None)
@click.option("--bruit-poids", type=click.FloatRange(0, 1, max_open=True), default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sans-progression", is_flag=True, help="No progress bar.")
def robustesse(
    request_file: Any,
    demo: str | None,
    tirages: int,
    graine: int,
    scheduler: str,
    workers: int,
    seuil: float | None,
    bruit_indice: float | None,
    bruit_poids: float | None,
    output: Path | None,
    sans_progression: bool,
) -> None:
    """Monte-Carlo robustness of a round: stability of each decision under perturbation.

    REQUEST_FILE: a round request ('-' = stdin).
    """
    from service.analysis import robustness as rb
    from service.contract.schemas import parse_round_request
    from service.explanations.wording import pluriel

    _check_scheduler(scheduler)
    demo = _source(request_file, demo, "REQUEST_FILE")
    with failures():
        payload = read_json(request_file) if request_file else _demo_payload(demo or "tour")
        request = parse_round_request(payload)
        click.echo(
            f"{pluriel(len(request.structures), 'structure')}, "
            f"{pluriel(tirages, 'tirage')} ({scheduler})",
            err=True,
        )
        result = rb.robustness(
            request,
            tirages,
            graine,
            threshold=rb.STABILITY_THRESHOLD if seuil is None else seuil,
            need_noise=rb.NEED_NOISE if bruit_indice is None else bruit_indice,
            weight_noise=rb.WEIGHT_NOISE if bruit_poids is None else bruit_poids,
            scheduler=scheduler,
            workers=workers,
            progress=not sans_progression,
        )
    _write({**result.report, "execution": result.execution}, output)
    click.echo(robustness_summary(result.report), err=True)
    execution = result.execution
    click.echo(
        f"calcul : {execution['scheduler']}, {execution['workers']} workers, "
        f"{execution['seconds']} s",
        err=True,
    )


def _check_scheduler(scheduler: str) -> None:
    """``--scheduler``: ``local``, ``serial`` or an address with a scheme."""
    if scheduler not in ("local", "serial") and "://" not in scheduler:
        raise CliInvalid(
            "--scheduler",
            f"« local », « serial » ou une adresse comme tcp://hote:8786 ; reçu {scheduler!r}",
        )


def register(group: click.Group) -> None:
    """Add the ``scenario`` group (``compare``, ``robustesse``) to the ``allocator`` CLI."""
    group.add_command(scenario)
