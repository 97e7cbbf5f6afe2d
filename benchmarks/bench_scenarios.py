"""Throughput of scenario comparison on the national case (1,443 real 2021 hosts in one round).

Run on demand (not a test)::

    .venv/bin/python benchmarks/bench_scenarios.py [--variants 20] [--full]

Measured in the same run:

- *baseline*: each variant solved as an independent round (:func:`service.analysis.rounds.run`
  on the request with the variant's ``politique``, then its equity metrics): geodata
  numbers and engine input rebuilt every time (the per-process geodata caches are warm: a fair
  baseline, not a cold start);
- *scenarios*: :func:`service.analysis.scenarios.compare_prepared` — geodata computed once for the
  applicants, engine inputs shared between variants with the same envelope, only the engine
  re-runs — plus the equity metrics of every variant and the per-structure diffs;
- with ``--full``: the standard variants with causes and fairness prices (more solves).

Prints scenarios per minute, the ratio to the baseline, and checks the issue's target (at least
20 national scenarios per minute on the 2-core machine: everything here runs in one process).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.analysis import rounds, scenarios
from service.contract.schemas import PolitiqueIn, parse_round_request

TARGET_PER_MINUTE = 20.0
ALL_TYPES = ["COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE"]


def variants(n: int, quota: int) -> list[scenarios.Variant]:
    """``n`` distinct, realistic variants: weights, eligibility, caps, préfet rule, quotas."""
    pool: list[scenarios.Variant] = []
    for w in (0.0, 0.5, 2.0, 4.0):
        pool.append(scenarios.Variant(f"equilibre_{w}", {"poidsEquilibre": w}))
        pool.append(scenarios.Variant(f"repartition_{w}", {"poidsRepartition": w}))
        pool.append(scenarios.Variant(f"acces_{w}", {"poidsAcces": w}))
    pool.append(scenarios.Variant("prives", {"typesEligibles": ALL_TYPES}))
    pool.append(scenarios.Variant("plafond", {"plafondDepartement": "part_equitable"}))
    pool.append(scenarios.Variant("avis_penalise", {"avisPrefetNegatif": "penaliser"}))
    pool.append(scenarios.Variant("score_60", {"scoreMinimum": 60.0}))
    for f in (0.8, 0.9, 1.1, 1.2):
        pool.append(scenarios.Variant(f"quota_{f}", quota=round(quota * f)))
    if n > len(pool):
        raise SystemExit(f"at most {len(pool)} variants")
    return pool[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--full", action="store_true", help="also time causes + fairness prices")
    args = parser.parse_args()

    t = time.perf_counter()
    payload = rounds.national_request()
    request = parse_round_request(payload)
    t_parse = time.perf_counter() - t
    vs = variants(args.variants, request.quota)
    print(
        f"national case: {len(request.structures)} structures, quota {request.quota}, "
        f"{len(vs)} variants; cpus {os.cpu_count()}; request built + validated in {t_parse:.2f} s"
    )
    # Warm the per-process caches (national tables, E2SFCA of the base state) for both sides.
    rounds.run(request)

    t = time.perf_counter()
    for v in vs:
        update: dict[str, object] = {}
        if v.politique:
            update["politique"] = PolitiqueIn.model_validate(dict(v.politique))
        if v.quota is not None:
            update["quota"] = v.quota
        variant = request.model_copy(update=update)
        rounds.run(variant).equity()
    t_base = time.perf_counter() - t
    base_rate = len(vs) / t_base * 60

    t = time.perf_counter()
    prepared = rounds.prepare(request)
    comparison = scenarios.compare_prepared(prepared, vs, fairness_prices=False, causes=False)
    t_scen = time.perf_counter() - t
    rate = len(vs) / t_scen * 60
    solves = comparison.report["resolutions"]

    print(f"{'':<44}{'seconds':>9}{'scen/min':>10}{'ratio':>8}")
    print(f"{'baseline: independent run_round per variant':<44}{t_base:>9.2f}{base_rate:>10.1f}")
    print(
        f"{'scenarios: prepared once, engine re-runs':<44}{t_scen:>9.2f}{rate:>10.1f}"
        f"{t_base / t_scen:>7.2f}×"
    )
    print(f"  ({solves} solves incl. the base; equity metrics and diffs included)")
    if args.full:
        std = scenarios.standard_variants(request)
        t = time.perf_counter()
        full = scenarios.compare_prepared(prepared, std)
        t_full = time.perf_counter() - t
        print(
            f"{'standard variants + causes + prices':<44}{t_full:>9.2f}"
            f"{len(std) / t_full * 60:>10.1f}   ({full.report['resolutions']} solves)"
        )
    verdict = "OK" if rate >= TARGET_PER_MINUTE else "BELOW TARGET"
    print(f"target >= {TARGET_PER_MINUTE:.0f} national scenarios/min: {rate:.1f} → {verdict}")


if __name__ == "__main__":
    main()
