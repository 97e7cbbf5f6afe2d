"""A/B timing of the engine between two checkouts, in the same run (not a test).

Run on demand, e.g. against the base commit checked out in a temporary worktree::

    git worktree add --detach /tmp/base <commit>
    .venv/bin/python benchmarks/bench_engine_ab.py --base /tmp/base [--sizes 1500 5000] [--reps 5]

Each measurement runs in a fresh process importing the engine of one checkout (base or this
one), alternating base / new so that machine noise hits both alike, and times ``--inner`` calls
after a warm-up call; the instances are the
national rounds of ``bench_allocator.py`` (seeded). Timed: model + greedy, and ``allocate``
(greedy, certificate, explanations, validation) under the default policy, a département cap,
and a budget with unequal costs (the knapsack path, certified by SCIP). Reported: the minimum
over every call of each side, wall clock and CPU time (the process's; steadier on a loaded
machine), and the ratio new / base (below 1: faster).
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
n, seed, scenario, inner = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ri = b.national_round(n, seed)
policies = {
    "allocate": RoundPolicy(),
    "allocate_cap": RoundPolicy(departement_cap="part_equitable"),
    "allocate_budget": RoundPolicy(budget_eur=ri.quota * 45_000.0),
}


def run():
    if scenario == "greedy":
        greedy(build_model(ri, RoundPolicy()))
    else:
        allocate(ri, policies[scenario], SolverConfig(time_limit_s=120))


run()  # warm-up: lazy imports and caches are not what is compared
wall, cpu = [], []
for _ in range(inner):
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(json.dumps([min(wall), min(cpu)]))
"""


def measure(root: Path, n: int, seed: int, scenario: str, inner: int) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, str(root), str(n), str(seed), scenario, str(inner)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 5000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reps", type=int, default=5, help="processes per side")
    parser.add_argument("--inner", type=int, default=3, help="timed calls per process")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    print(f"base: {args.base}\nnew:  {HERE}")
    print(f"min over {args.reps} processes per side (alternated) x {args.inner} warm calls")
    print(f"{'':24}{'wall clock':^28}{'CPU (process time)':^28}")
    print(f"{'size':>6}  {'scenario':<16}" + f"{'base s':>9}{'new s':>9}{'new/base':>10}" * 2)
    for n in args.sizes:
        for scenario in args.scenarios:
            times: dict[str, list[tuple[float, float]]] = {"base": [], "new": []}
            for _ in range(args.reps):
                times["base"].append(measure(args.base, n, args.seed, scenario, args.inner))
                times["new"].append(measure(HERE, n, args.seed, scenario, args.inner))
            line = f"{n:>6}  {scenario:<16}"
            for k in (0, 1):
                base = min(t[k] for t in times["base"])
                new = min(t[k] for t in times["new"])
                line += f"{base:>9.3f}{new:>9.3f}{new / base:>10.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
