"""Webster fair shares: the divisor start against the former one-seat-at-a-time loop.

Run on demand (not a test)::

    .venv/bin/python benchmarks/bench_webster.py [--repeat 5]

101 keys (the départements) with fixed pseudo-random needs spanning two orders of magnitude,
apportioned for several house sizes, with and without caps. For each size: the best time of
:func:`allocator.apportionment.webster_capped` and of the former implementation (the queue
handing out every seat, kept in ``tests/allocator/test_apportionment_fast.py`` as the oracle),
their ratio, and a check that both give the same shares. The former loop is skipped above
10^6 seats (14 s at 10^7 in issue 14); the new one also runs at 10^19 and 10^100.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocator.apportionment import webster_capped  # noqa: E402
from tests.allocator.test_apportionment_fast import (  # noqa: E402
    webster_capped_one_seat_at_a_time,
)

OLD_MAX_SEATS = 10**6


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(14)
    needs = {f"{d:03d}": rng.lognormvariate(11.0, 1.0) for d in range(101)}
    caps = {k: int(v / 2_000) + 1 for k, v in needs.items()}
    print(f"{'seats':>8} {'caps':>5} {'new (ms)':>10} {'old (ms)':>10} {'ratio':>8}  same")
    for seats in (100, 4_000, 100_000, 10**6, 10**7, 10**19, 10**100):
        for capped in (False, True):
            c = caps if capped else None
            new_t, new = best_time(lambda c=c, s=seats: webster_capped(needs, s, c), args.repeat)
            label = f"10^{len(str(seats)) - 1}" if seats >= 10**7 else f"{seats:,}"
            if seats <= OLD_MAX_SEATS:
                old_t, old = best_time(
                    lambda c=c, s=seats: webster_capped_one_seat_at_a_time(needs, s, c),
                    1 if seats >= 100_000 else args.repeat,
                )
                print(
                    f"{label:>8} {'yes' if capped else 'no':>5} {new_t * 1e3:10.3f} "
                    f"{old_t * 1e3:10.1f} {old_t / new_t:8.2f}x  {new == old}"
                )
                if new != old:
                    raise SystemExit("MISMATCH between the divisor start and the reference loop")
            else:
                print(
                    f"{label:>8} {'yes' if capped else 'no':>5} {new_t * 1e3:10.3f} "
                    f"{'(skipped)':>10} {'—':>8}  —"
                )


if __name__ == "__main__":
    main()
