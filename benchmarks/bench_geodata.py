"""Benchmark of geodata: layer loading, national E2SFCA, round_geodata, memory.

Run: ``.venv/bin/python benchmarks/bench_geodata.py``. Not a test: prints timings, and ratios
against a naive baseline measured in the same run (a pandas full distance matrix E2SFCA on a
subset of communes, compared with :func:`geodata.access.e2sfca` on the same subset).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geodata import layers
from geodata.access import AccessParams, commune_accessibility, e2sfca
from geodata.coverage import advisors_column, bundled_existing
from geodata.round import ApplicantSite, _context, round_geodata

TYPES = ("COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE")


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Best wall time (s) over ``repeat`` runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def naive_e2sfca(
    dxy: np.ndarray, demand: np.ndarray, sxy: np.ndarray, supply: np.ndarray, p: AccessParams
) -> np.ndarray:
    """Baseline: full demand × site distance matrix as a DataFrame, no spatial index."""
    dist = pd.DataFrame(
        np.hypot(dxy[:, None, 0] - sxy[None, :, 0], dxy[:, None, 1] - sxy[None, :, 1])
    )
    w = dist.apply(lambda col: pd.Series(p.weight(col.to_numpy()), index=col.index))
    weighted_demand = w.mul(demand, axis=0).sum(axis=0)
    ratio = pd.Series(supply, index=w.columns) / weighted_demand.where(weighted_demand > 0)
    return w.mul(ratio.fillna(0.0), axis=1).sum(axis=1).to_numpy()


def main() -> None:
    params = AccessParams()
    print("geodata benchmark")
    print("=================")

    t_cold, _ = timed(layers.load_all)
    t_warm, _ = timed(layers.load_all, repeat=3)
    print(f"load all national layers     cold {t_cold:7.3f} s   warm {t_warm:7.3f} s")
    t_ctx, ctx = timed(_context)
    print(f"national tables + need + KD-trees (cold, once per process) {t_ctx:7.3f} s")

    table = ctx.table
    advisors = advisors_column(table, bundled_existing())
    n_sites_2021 = int((advisors > 0).sum())
    t_2021, _ = timed(
        lambda: commune_accessibility(table, advisors, params, demand_trees=ctx.trees), repeat=5
    )
    t_2021_nocache, _ = timed(lambda: commune_accessibility(table, advisors, params), repeat=3)
    print(
        f"national E2SFCA, 2021 sites ({n_sites_2021} communes, {advisors.sum()} advisors): "
        f"{t_2021 * 1e3:7.1f} ms (cached trees), {t_2021_nocache * 1e3:7.1f} ms (trees built)"
    )

    rng = np.random.default_rng(0)
    pick = rng.choice(len(table), size=2000, replace=False)
    synthetic = pd.Series(rng.integers(1, 4, size=2000), index=table.index[pick])
    t_2000, _ = timed(
        lambda: commune_accessibility(table, synthetic, params, demand_trees=ctx.trees), repeat=5
    )
    print(f"national E2SFCA, 2,000 synthetic sites:        {t_2000 * 1e3:7.1f} ms")

    tracemalloc.start()
    commune_accessibility(table, synthetic, params, demand_trees=ctx.trees)
    _, peak_e2sfca = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"tracemalloc peak of one national E2SFCA:       {peak_e2sfca / 2**20:7.1f} MiB")

    # Baseline on a subset: the communes of région Auvergne-Rhône-Alpes (84) and its sites.
    sub = table[table["region"] == "84"]
    sub_adv = advisors[sub.index]
    sxy = sub.loc[sub_adv[sub_adv > 0].index, ["x", "y"]].to_numpy()
    sup = sub_adv[sub_adv > 0].to_numpy(float)
    dxy = sub[["x", "y"]].to_numpy()
    dem = sub["fragile_population"].to_numpy()
    t_naive, a_naive = timed(lambda: naive_e2sfca(dxy, dem, sxy, sup, params))
    t_tree, r_tree = timed(lambda: e2sfca(dxy, dem, sxy, sup, params), repeat=5)
    assert np.allclose(a_naive, r_tree.accessibility, rtol=1e-9, atol=1e-15)
    print(
        f"baseline on région 84 ({len(sub)} communes × {len(sup)} sites): naive pandas "
        f"{t_naive * 1e3:8.1f} ms, cKDTree {t_tree * 1e3:6.1f} ms, ratio {t_naive / t_tree:6.1f}×"
    )
    scale = (len(table) * 2000) / (len(sub) * len(sup))
    print(
        f"  naive extrapolated to 2,000 national sites ≈ {t_naive * scale:6.1f} s "
        f"(×{t_naive * scale / t_2000:,.0f} the cKDTree time; matrix "
        f"{len(table) * 2000 * 8 / 2**20:,.0f} MiB per float table)"
    )

    codes = table.index.to_numpy()
    sites = [
        ApplicantSite(
            i,
            TYPES[i % len(TYPES)],
            str(codes[rng.integers(len(codes))]),
            None,
            int(rng.integers(1, 6)),
        )
        for i in range(1500)
    ]
    existing = {str(c): int(n) for c, n in synthetic.items()}
    t_round_cold, _ = timed(lambda: round_geodata(sites, existing=existing))
    t_round_warm, res = timed(lambda: round_geodata(sites, existing=existing), repeat=5)
    t_round_bundled, _ = timed(lambda: round_geodata(sites), repeat=5)
    print(
        f"round_geodata, 1,500 applicants: first call on a new existing state "
        f"{t_round_cold * 1e3:6.1f} ms, warm {t_round_warm * 1e3:6.1f} ms "
        f"(bundled state warm {t_round_bundled * 1e3:6.1f} ms)"
    )
    n_gains = sum(len(a.gains) for a in res.applicants)
    print(f"  {len(res.applicants)} applicants, {n_gains} marginal gains")

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {peak_rss:7.1f} MiB")


if __name__ == "__main__":
    main()
