"""Benchmark of geodata: layer loading, national E2SFCA, round_geodata, memory, fresh processes.

Run: ``.venv/bin/python benchmarks/bench_geodata.py [--repeat 5]``. Not a test: prints timings,
and ratios against baselines measured in the same run:

- in process (disk cache off): a naive pandas full distance matrix E2SFCA on a subset of
  communes, compared with :func:`geodata.access.e2sfca` on the same subset;
- fresh processes (``import geodata.round`` + :func:`round_geodata` on 5,000 national sites, as a
  fresh ``allocator allocate`` does): without the disk cache (``ALLOCATOR_CACHE_DIR=off``, the
  baseline), with a cold cache (empty directory: computed, then stored) and with a warm cache
  (loaded). Medians of ``--repeat`` processes, each cache in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The in-process measurements compute everything (as before the disk cache existed).
os.environ["ALLOCATOR_CACHE_DIR"] = "off"

from geodata import layers  # noqa: E402
from geodata.access import AccessParams, commune_accessibility, e2sfca  # noqa: E402
from geodata.context import round_context  # noqa: E402
from geodata.coverage import advisors_column, bundled_existing  # noqa: E402
from geodata.round import ApplicantSite, round_geodata  # noqa: E402

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


FRESH = """
import json, sys, time
sites = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
from geodata.round import ApplicantSite, round_geodata
t1 = time.perf_counter()
res = round_geodata([ApplicantSite(*s) for s in sites])
t2 = time.perf_counter()
heavy = ("pandas", "scipy", "pyproj", "pyarrow", "geopandas", "shapely", "matplotlib")
print(json.dumps({"import": t1 - t0, "round": t2 - t1, "n": len(res.applicants),
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""


def national_sites(n: int = 5000, seed: int = 11) -> list[list]:
    """``n`` sites on programme communes, types in the proportions of a national call."""
    rng = np.random.default_rng(seed)
    codes = round_context().codes
    kinds = ["COMMUNE", "EPCI", "COLLECTIVITE", "PRIVATE", "DEPARTEMENT", "GIP", "REGION"]
    share = np.array([0.53, 0.26, 0.12, 0.05, 0.025, 0.01, 0.005])
    kind = rng.choice(len(kinds), size=n, p=share / share.sum())
    seats = rng.choice(codes, size=n)
    posts = rng.integers(1, 6, size=n)
    return [
        [i + 1, kinds[k], str(c), None, int(p)]
        for i, (k, c, p) in enumerate(zip(kind, seats, posts, strict=True))
    ]


def fresh_processes(repeat: int) -> None:
    """Fresh-process round_geodata on 5,000 sites: no cache (baseline), cold and warm cache."""
    with tempfile.TemporaryDirectory() as tmp:
        sites = Path(tmp) / "sites.json"
        sites.write_text(json.dumps(national_sites()))

        def run(cache: str) -> dict:
            env = {**os.environ, "ALLOCATOR_CACHE_DIR": cache}
            out = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(FRESH), str(sites)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(out.stdout)

        runs: dict[str, list[dict]] = {"no cache (baseline)": [], "cold cache": [], "warm": []}
        warm_dir = Path(tmp) / "warm"
        run(str(warm_dir))
        for i in range(repeat):
            runs["no cache (baseline)"].append(run("off"))
            runs["cold cache"].append(run(str(Path(tmp) / f"cold{i}")))
            runs["warm"].append(run(str(warm_dir)))
    print(f"fresh process: import geodata.round + round_geodata(5,000 sites), median of {repeat}")
    base = statistics.median(r["import"] + r["round"] for r in runs["no cache (baseline)"])
    for name, rs in runs.items():
        total = statistics.median(r["import"] + r["round"] for r in rs)
        imp = statistics.median(r["import"] for r in rs)
        label = "warm cache" if name == "warm" else name
        print(
            f"  {label:<20} {total:6.3f} s (import {imp:5.3f} s)   ×{base / total:5.2f} vs baseline"
            f"   loaded: {', '.join(rs[-1]['loaded']) or 'numpy only'}"
        )


def load_layers() -> Any:
    """Time the national layers (cold, warm) and the per-process context; return the context."""
    t_cold, _ = timed(layers.load_all)
    t_warm, _ = timed(layers.load_all, repeat=3)
    print(f"load all national layers     cold {t_cold:7.3f} s   warm {t_warm:7.3f} s")
    t_ctx, ctx = timed(lambda: (round_context(), round_context().trees)[0])
    print(f"national tables + need + KD-trees (cold, once per process) {t_ctx:7.3f} s")
    return ctx


def national_e2sfca(
    ctx: Any, params: AccessParams, rng: np.random.Generator
) -> tuple[pd.Series, pd.Series, float]:
    """Time the national E2SFCA on the 2021 sites and on 2,000 synthetic sites (drawn from
    ``rng``), and its peak memory; return the 2021 advisors, the synthetic sites and their time."""
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
    return advisors, synthetic, t_2000


def naive_baseline(
    table: pd.DataFrame, advisors: pd.Series, params: AccessParams, t_2000: float
) -> None:
    """Baseline on a subset: the communes of région Auvergne-Rhône-Alpes (84) and its sites."""
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


def round_timings(table: pd.DataFrame, synthetic: pd.Series, rng: np.random.Generator) -> None:
    """Time :func:`round_geodata` on 1,500 applicants (drawn from ``rng``)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per cache state")
    args = parser.parse_args()
    params = AccessParams()
    print("geodata benchmark")
    print("=================")

    ctx = load_layers()
    rng = np.random.default_rng(0)  # one stream: the synthetic sites, then the applicants
    advisors, synthetic, t_2000 = national_e2sfca(ctx, params, rng)
    naive_baseline(ctx.table, advisors, params, t_2000)
    round_timings(ctx.table, synthetic, rng)

    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {peak_rss:7.1f} MiB")

    fresh_processes(args.repeat)


if __name__ == "__main__":
    main()
