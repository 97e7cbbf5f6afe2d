"""Benchmark of the allocation engine on national instances drawn from real communes.

Run on demand (not a test)::

    .venv/bin/python benchmarks/bench_allocator.py [--sizes 1500 5000 20000] [--seed 7]

Instances: applicants are communes drawn (seeded) from ``geodata/data/communes_2026.parquet``;
gains are synthetic, proportional to population with diminishing returns; the need of a
département / EPCI-part is its population scaled to the 13 M fragile inhabitants. Timed: the greedy
(model build + greedy), each certification backend on the same coefficients, a straightforward
PuLP/CBC formulation of the same model, the full ``allocate`` (greedy + certificate +
explanations + validation), and the two baselines. Ratios are against the greedy measured in the
same run. Quality: share of posts away from the need-proportional département split, and total
gain (fragile inhabitants gaining access, unweighted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script from a checkout: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import pulp

from allocator import (
    Applicant,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    StructureType,
    Territory,
    allocate,
    webster,
)
from allocator.baselines import first_come_first_served, need_proportional
from allocator.greedy import greedy
from allocator.model import SCALE, build_model, free_problem, objective
from allocator.solve import runs, solve

COMMUNES = Path(__file__).resolve().parents[1] / "geodata" / "data" / "communes_2026.parquet"
FRAGILE_TOTAL = 13_000_000
QUOTAS = {1_500: 400, 5_000: 1_500, 20_000: 4_000}


def national_round(n: int, seed: int) -> RoundInput:
    """Draw ``n`` applicant communes (seeded) with synthetic gains proportional to population."""
    df = pd.read_parquet(
        COMMUNES,
        columns=["code_insee", "departement", "region", "epci_siren", "population", "zone"],
    )
    df = df[df["population"].fillna(0) > 0].sort_values("code_insee").reset_index(drop=True)
    pop = df["population"].astype("int64")
    fragile = FRAGILE_TOTAL / pop.sum()
    rng = np.random.default_rng(seed)

    dept_pop = pop.groupby(df["departement"]).sum().sort_index()
    departements = tuple(
        Territory(code, float(p * fragile), int(rng.integers(0, 20)))
        for code, p in dept_pop.items()
    )
    with_epci = df[df["epci_siren"].notna()]
    part_pop = with_epci.groupby([with_epci["departement"], with_epci["epci_siren"]])[
        "population"
    ].sum()
    epcis = tuple(
        Territory(f"{d}:{s}", float(p * fragile), int(rng.integers(0, 3)))
        for (d, s), p in part_pop.sort_index().items()
    )

    rows = rng.choice(len(df), size=min(n, len(df)), replace=False)
    applicants = []
    for id_pg, r in enumerate(sorted(rows.tolist()), start=1):
        c = df.iloc[r]
        p = int(c["population"])
        requested = int(min(4, 1 + rng.poisson(np.log10(p + 1) / 2)))
        base = 0.02 * p * fragile * rng.uniform(0.5, 1.5)
        gains = tuple(float(base * 0.6**k) for k in range(requested))
        overseas = str(c["departement"]).startswith("97")
        applicants.append(
            Applicant(
                id_pg=id_pg,
                type=StructureType.COMMUNE,
                code_commune=str(c["code_insee"]),
                departement=str(c["departement"]),
                region=str(c["region"]),
                epci=None if pd.isna(c["epci_siren"]) else str(c["epci_siren"]),
                requested=requested,
                gains=gains,
                quality=float(rng.integers(30, 101)),
                created_at=f"2021-05-{int(rng.integers(1, 29)):02d}T10:00:00Z",
                cost_eur=70_000.0 if overseas else 50_000.0,
            )
        )
    return RoundInput(
        quota=QUOTAS.get(n, n // 5),
        applicants=tuple(applicants),
        departements=departements,
        epcis=epcis,
    )


def pulp_model_value(
    round_input: RoundInput, policy: RoundPolicy, time_limit: float
) -> tuple[float, float]:
    """The same model written straightforwardly in PuLP and solved by CBC: (seconds, F)."""
    start = time.perf_counter()
    m = build_model(round_input, policy)
    fp = free_problem(m)
    prob = pulp.LpProblem("allocation", pulp.LpMaximize)
    x = {
        i: pulp.LpVariable(f"alloc_{m.ids[i]}", 0, len(fp.app_profits[j]), cat="Integer")
        for j, i in enumerate(fp.apps)
    }
    terms = []

    def concave(name: str, profits: tuple[int, ...], members: list[int]) -> None:
        units = []
        for r, (p, count) in enumerate(runs(profits)):
            u = pulp.LpVariable(f"{name}_{r}", 0, count)
            units.append(u)
            terms.append(p / SCALE * u)
        prob.addConstraint(pulp.lpSum(x[i] for i in members) == pulp.lpSum(units), name)

    for j, i in enumerate(fp.apps):
        concave(f"acces_{m.ids[i]}", fp.app_profits[j], [i])
    for g, profits in enumerate(fp.group_profits):
        members = [i for i in fp.apps if m.app_group[i] == g]
        if any(profits) and members:
            concave(f"epci_{g}", profits, members)
    for d, profits in enumerate(fp.dept_profits):
        members = [i for i in fp.apps if m.app_dept[i] == d]
        if members:
            concave(f"dept_{d}", profits, members)
    prob.addConstraint(pulp.lpSum(x.values()) <= fp.quota, "quota")
    prob += pulp.lpSum(terms)
    prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    value = pulp.value(prob.objective) or 0.0
    return time.perf_counter() - start, value + fp.constant / SCALE


def away_from_need(round_input: RoundInput, grants: dict[int, int]) -> float:
    """Share of posts to move to match the need-proportional département split (Webster)."""
    total = sum(grants.values())
    if total == 0:
        return 0.0
    target = webster({t.code: t.need for t in round_input.departements}, total)
    actual = dict.fromkeys(target, 0)
    for a in round_input.applicants:
        actual[a.departement] += grants[a.id_pg]
    return sum(abs(actual[k] - target[k]) for k in target) / 2 / total


def total_gain(round_input: RoundInput, grants: dict[int, int]) -> float:
    return sum(sum(a.gains[: grants[a.id_pg]]) for a in round_input.applicants)


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def bench(n: int, seed: int, *, cp_sat_limit: float, pulp_limit: float) -> None:
    round_input = national_round(n, seed)
    policy = RoundPolicy()
    size = len(round_input.applicants)
    print(f"\n=== {size} applicants, quota {round_input.quota} (seed {seed}) ===")
    t_greedy, (m, outcome) = timed(
        lambda: (lambda mm: (mm, greedy(mm)))(build_model(round_input, policy))
    )
    value = objective(m, outcome.x)
    fp = free_problem(m)
    print(f"{'step':<28}{'seconds':>10}{'x greedy':>10}  result")
    print(f"{'greedy (build + greedy)':<28}{t_greedy:>10.3f}{1.0:>10.1f}  F = {value / SCALE:,.3f}")
    for backend, limit in (
        ("min_cost_flow", 60.0),
        ("glop", 120.0),
        ("scip", 120.0),
        ("cp_sat", cp_sat_limit),
    ):
        t, sol = timed(
            solve, m, fp, backend, time_limit_s=limit, workers=1, seed=0, with_budget=False
        )
        verdict = (
            "no solution"
            if sol.objective is None
            else f"{'proven ' if sol.proven_optimal else ''}F = {sol.objective / SCALE:,.3f}"
            f" (greedy {'==' if sol.objective == value else '!='} backend)"
        )
        print(f"{'certify: ' + backend:<28}{t:>10.3f}{t / t_greedy:>10.1f}  {verdict}")
    if pulp_limit > 0:
        t, v = pulp_model_value(round_input, policy, pulp_limit)
        print(f"{'PuLP/CBC same model':<28}{t:>10.3f}{t / t_greedy:>10.1f}  F = {v:,.3f}")
    t, result = timed(allocate, round_input, policy, SolverConfig())
    print(
        f"{'allocate (engine, default)':<28}{t:>10.3f}{t / t_greedy:>10.1f}  "
        f"{result.status.value}, gap {result.gap}, backend {result.solver.backend}"
    )
    engine = {d.id_pg: d.granted for d in result.decisions}
    t_fcfs, fcfs = timed(first_come_first_served, round_input, policy)
    t_prop, prop = timed(need_proportional, round_input, policy)
    print(f"{'baseline: FCFS':<28}{t_fcfs:>10.3f}{t_fcfs / t_greedy:>10.1f}")
    print(f"{'baseline: need-proportional':<28}{t_prop:>10.3f}{t_prop / t_greedy:>10.1f}")
    print(f"\n{'allocation':<28}{'posts':>8}{'away from need':>16}{'total gain':>16}{'F':>16}")
    for name, grants in (
        ("engine (greedy)", engine),
        ("first come first served", fcfs),
        ("need-proportional", prop),
    ):
        x = tuple(grants[i] for i in m.ids)
        print(
            f"{name:<28}{sum(grants.values()):>8}{away_from_need(round_input, grants):>16.1%}"
            f"{total_gain(round_input, grants):>16,.0f}{objective(m, x) / SCALE:>16,.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_500, 5_000, 20_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cp-sat-limit", type=float, default=60.0)
    parser.add_argument("--pulp-limit", type=float, default=120.0, help="0 skips PuLP/CBC")
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.seed, cp_sat_limit=args.cp_sat_limit, pulp_limit=args.pulp_limit)


if __name__ == "__main__":
    main()
