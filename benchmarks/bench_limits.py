"""Time of the largest requests the service accepts (the request time budget of the README).

Run on demand (not a test)::

    .venv/bin/python benchmarks/bench_limits.py [--repeat 3] [--skip-scenarios]

In one process, through the Flask test client with the real engine (warm caches after the first
call) on a temporary SQLite store:

- ``POST /v1/allocate`` at ``ALLOCATOR_MAX_STRUCTURES`` (20,000 synthetic national structures)
  against a national round of 1,500 (the baseline of the ratio);
- a scenario comparison at ``ALLOCATOR_MAX_SCENARIO_STRUCTURES``: 20 one-change variants with
  causes and fairness prices on 20,000 structures (24 planned solves = 480,000 structures),
  with its solves per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_allocate_cli import national_request  # noqa: E402

from service import create_app  # noqa: E402
from service.analysis import scenarios  # noqa: E402
from service.contract import documents  # noqa: E402
from service.contract.schemas import DEFAULT_MAX_SCENARIO_STRUCTURES, DEFAULT_MAX_STRUCTURES  # noqa: E402
from tests.service.conftest import make_tokens  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-scenarios", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"})
        headers = make_tokens(app.extensions["allocator.db"])["analyste"]
        client = app.test_client()
        best: dict[int, float] = {}
        for n in (1_500, DEFAULT_MAX_STRUCTURES):
            body = national_request(n)
            client.post("/v1/allocate", json=body, headers=headers)  # warm the caches
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                resp = client.post("/v1/allocate", json=body, headers=headers)
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
            best[n] = min(times)
            print(f"POST /v1/allocate, {n:>6,} structures: best {best[n]:.2f} s of {args.repeat}")
        ratio = best[DEFAULT_MAX_STRUCTURES] / best[1_500]
        print(f"ratio limit / national round: {ratio:.1f}x")
        app.extensions["allocator.db"].dispose()
    if args.skip_scenarios:
        return
    variants = [{"nom": f"v{j}", "politique": {"poidsAcces": 1 + j / 10}} for j in range(20)]
    doc = documents.parse_scenarios(
        {"requete": national_request(DEFAULT_MAX_STRUCTURES), "variantes": variants}
    )
    planned = scenarios.planned_resolutions(doc)
    scenarios.check_batch_size(doc, DEFAULT_MAX_SCENARIO_STRUCTURES)
    t0 = time.perf_counter()
    report = scenarios.compare_document(doc)
    elapsed = time.perf_counter() - t0
    print(
        f"comparison, 20 variants on {DEFAULT_MAX_STRUCTURES:,} structures: {elapsed:.0f} s, "
        f"{report['resolutions']} solves (planned {planned}, "
        f"{DEFAULT_MAX_STRUCTURES * planned:,} of {DEFAULT_MAX_SCENARIO_STRUCTURES:,} allowed), "
        f"{elapsed / report['resolutions'] / DEFAULT_MAX_STRUCTURES * 1e3:.2f} ms per structure "
        "and solve"
    )


if __name__ == "__main__":
    main()
