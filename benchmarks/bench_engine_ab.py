"""A/B timing of the engine between two checkouts, in the same run (not a test).

Run on demand, e.g. against the base commit checked out in a temporary worktree::

    git worktree add --detach /tmp/base <commit>
    .venv/bin/python benchmarks/bench_engine_ab.py --base /tmp/base [--sizes 1500 5000] [--reps 5]

Each measurement runs in a fresh process importing the engine of one checkout (base or this
one), alternating base / new so that machine noise hits both alike; the instances are the
national rounds of ``bench_allocator.py`` (seeded). Timed: model + greedy, and ``allocate``
(greedy, certificate, explanations, validation) under the default policy, a département cap,
and a budget with unequal costs (the knapsack path, certified by SCIP). Reported: the minimum
over ``--reps`` runs per side and the ratio new / base (below 1: faster).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
SCENARIOS = ("greedy", "allocate", "allocate_cap", "allocate_budget")

_WORKER = r"""
import json, sys, time
root = sys.argv[1]
sys.path.insert(0, root)
sys.path.insert(0, root + "/benchmarks")
import bench_allocator as b
from allocator import RoundPolicy, SolverConfig, allocate
from allocator.model import build_model
try:
    from allocator.greedy import greedy
except ImportError:  # before the split of allocator.model
    from allocator.model import greedy
n, seed, scenario = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ri = b.national_round(n, seed)
policies = {
    "allocate": RoundPolicy(),
    "allocate_cap": RoundPolicy(departement_cap="part_equitable"),
    "allocate_budget": RoundPolicy(budget_eur=ri.quota * 45_000.0),
}
start = time.perf_counter()
if scenario == "greedy":
    greedy(build_model(ri, RoundPolicy()))
else:
    r = allocate(ri, policies[scenario], SolverConfig(time_limit_s=120))
print(json.dumps(time.perf_counter() - start))
"""


def measure(root: Path, n: int, seed: int, scenario: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(root), str(n), str(seed), scenario],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 5000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    print(f"base: {args.base}\nnew:  {HERE}\nmin of {args.reps} runs per side, alternated")
    print(f"{'size':>6}  {'scenario':<16}{'base s':>9}{'new s':>9}{'new/base':>10}")
    for n in args.sizes:
        for scenario in args.scenarios:
            times: dict[str, list[float]] = {"base": [], "new": []}
            for _ in range(args.reps):
                times["base"].append(measure(args.base, n, args.seed, scenario))
                times["new"].append(measure(HERE, n, args.seed, scenario))
            base, new = min(times["base"]), min(times["new"])
            print(f"{n:>6}  {scenario:<16}{base:>9.3f}{new:>9.3f}{new / base:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
