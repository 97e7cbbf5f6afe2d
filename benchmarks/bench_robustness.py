"""Robustness draws on the national case (1,443 real 2021 hosts): scaling and the 1,000-draw run.

Run on demand (not a test)::

    .venv/bin/python benchmarks/bench_robustness.py [--scaling-draws 100] [--draws 1000]

Measured in the same run, on the same seed:

1. *serial* (in this process, no Dask) — the baseline of the ratios;
2. Dask ``LocalCluster`` with 1 worker process, then with 2 (one thread each): the scaling from
   1 to 2 workers (cluster start-up and the workers' imports are timed separately from the
   draws). On a busy machine (other processes on the 2 cores) the scaling is lower: check
   ``uptime`` first;
3. the headline: ``--draws`` draws on 2 workers, start-up included, against the issue's target
   (1,000 draws in at most 5 minutes on 2 cores).

Every parallel run must return exactly the serial grants (checked: draw ``k`` depends on the
master seed and ``k`` only).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from service.analysis import robustness as rb
from service.analysis import rounds

TARGET_SECONDS = 300.0
SEED = 2021


def _cluster_run(
    base: rb.RobustnessBase, draws: int, workers: int
) -> tuple[np.ndarray, float, float]:
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        # no dashboard; the scheduler's HTTP server on a free port (8787 may be taken)
        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    client.run(
        importlib.import_module, "service.analysis.robustness"
    )  # worker imports: start-up time
    startup = time.perf_counter() - t
    try:
        t = time.perf_counter()
        grants, _ = rb.run_draws(base, draws, SEED, scheduler=client, workers=workers)
        return grants, startup, time.perf_counter() - t
    finally:
        client.close()
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaling-draws", type=int, default=100)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()

    prepared = rounds.load(rounds.national_request())
    request = prepared.request
    base = rb.build_base(prepared)
    n = args.scaling_draws
    print(
        f"national case: {len(request.structures)} structures, quota {request.quota}; "
        f"cpus {os.cpu_count()}; scaling on {n} draws, seed {SEED}"
    )

    t = time.perf_counter()
    serial, _ = rb.run_draws(base, n, SEED)
    t_serial = time.perf_counter() - t
    one, start1, t_one = _cluster_run(base, n, 1)
    two, start2, t_two = _cluster_run(base, n, 2)
    assert np.array_equal(serial, one) and np.array_equal(serial, two), "grants differ"

    print(f"{'':<34}{'start s':>9}{'draws s':>9}{'draws/s':>9}{'vs serial':>11}")
    print(f"{'serial (no Dask)':<34}{'':>9}{t_serial:>9.2f}{n / t_serial:>9.2f}{1.0:>10.2f}×")
    for name, s, d in (
        ("LocalCluster, 1 worker", start1, t_one),
        ("LocalCluster, 2 workers", start2, t_two),
    ):
        print(f"{name:<34}{s:>9.2f}{d:>9.2f}{n / d:>9.2f}{t_serial / d:>10.2f}×")
    print(f"scaling 1 → 2 workers: {t_one / t_two:.2f}× (ideal 2.00×); grants identical to serial")

    t = time.perf_counter()
    result = rb.robustness_prepared(
        prepared, args.draws, SEED, scheduler="local", workers=2, progress=True
    )
    total = time.perf_counter() - t
    rep = result.report["resume"]
    verdict = "OK" if total <= TARGET_SECONDS * args.draws / 1000 else "BELOW TARGET"
    print(
        f"{args.draws} draws on 2 workers, start-up included: {total:.1f} s "
        f"(target <= {TARGET_SECONDS * args.draws / 1000:.0f} s) → {verdict}"
    )
    print(
        f"stability: mean {rep['stabiliteMoyenne']:.4f}, {rep['aRevoir']} of {rep['structures']} "
        f"decisions to review (< {rb.STABILITY_THRESHOLD}), posts moved per draw: mean "
        f"{rep['postesDeplacesMoyenne']:.1f}, p95 {rep['postesDeplacesP95']:.1f}"
    )
    first = min(n, args.draws)
    assert np.array_equal(result.grants[:first], serial[:first]), "headline run differs"


if __name__ == "__main__":
    main()
