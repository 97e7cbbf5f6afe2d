"""Whole-process time of ``allocator allocate`` on national requests (run on demand, not a test).

Requests of 1,500 / 5,000 / 20,000 structures are drawn (fixed seed) from real COG 2026 communes
of the programme, with types in realistic proportions, requests of 1-5 posts and a quota of a
quarter of the posts asked. Each request is solved by a fresh ``allocator allocate`` process, as
the agency's scripts run it; the baseline measured in the same run is a fresh process that only
imports the project and exits (``allocator --version``), and ratios are printed against it.

The derived national tables are cached on disk (``ALLOCATOR_CACHE_DIR``, see ``geodata.cache``):
the benchmark points the cache at an empty temporary folder, reports the first run of the first
size as *cold* (it builds the cache, as the first run after an install or a data update does)
and the median of the repeats as *warm*.

Each size is also solved at the compact level of explanation (``--explication compacte``: the
opening paragraph and the numbers of each decision instead of its whole letter, warm cache):
its wall time and output size are printed as ratios of the full level's, measured in the same
run (``--no-compact`` skips it).

Where ``PYTHONDONTWRITEBYTECODE`` is set (this workplace's machines), an editable install compiles
the project's sources again in every process (≈0.05 s). A wheel install compiles them once, at
install time: the *warm+pyc* rows are measured so, on a copy of the project's packages in a
temporary folder, compiled ahead (the repository is left untouched).

    .venv/bin/python benchmarks/bench_allocate_cli.py [--sizes 1500 5000 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geodata  # noqa: E402

ALLOCATOR = [sys.executable, "-m", "service.cli.main"]
PACKAGES = ["allocator", "geodata", "service"]


def national_request(n: int, seed: int = 7) -> dict:
    communes = geodata.load_communes()
    communes = communes[communes["zone"] != "com"]
    rng = np.random.default_rng(seed)
    weights = communes["population"].to_numpy(dtype=float) + 200.0
    picks = rng.choice(len(communes), size=n, replace=True, p=weights / weights.sum())
    types = rng.choice(
        ["COMMUNE", "EPCI", "DEPARTEMENT", "COLLECTIVITE", "PRIVATE"],
        size=n,
        p=[0.55, 0.25, 0.03, 0.12, 0.05],
    )
    structures = []
    for i, (idx, typ) in enumerate(zip(picks, types, strict=True)):
        structures.append(
            {
                "idPG": i + 1,
                "type": str(typ),
                "codeCommune": str(communes["code_insee"].iloc[idx]),
                "nombreConseillersSouhaites": int(rng.integers(1, 6)),
                "qualiteProjet": int(rng.integers(30, 101)),
                "createdAt": f"2021-05-{1 + i % 28:02d}T10:00:00Z",
            }
        )
    asked = sum(s["nombreConseillersSouhaites"] for s in structures)
    return {"quota": min(asked // 4, 1800), "mois": "2021-06", "structures": structures}


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-compact", action="store_true", help="skip the compact level (--explication)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ALLOCATOR_CACHE_DIR": str(Path(tmp) / "cache")}
        baseline = statistics.median(
            timed([*ALLOCATOR, "--version"], env) for _ in range(args.repeat)
        )
        print(f"baseline: fresh process importing the project: {baseline:.2f} s (median)")
        print(
            f"{'structures':>10} {'quota':>6} {'status':>8} {'gap':>5} {'cache':>8} "
            f"{'wall s':>8} {'ratio':>6}"
        )
        pyc_cwd = None
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            pyc_cwd = Path(tmp) / "compiled"
            for package in PACKAGES:
                shutil.copytree(
                    ROOT / package,
                    pyc_cwd / package,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", *PACKAGES],
                cwd=pyc_cwd,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        cold_done = False
        for n in args.sizes:
            req = national_request(n)
            path = Path(tmp) / f"req_{n}.json"
            out = Path(tmp) / f"res_{n}.json"
            path.write_text(json.dumps(req), encoding="utf-8")
            cmd = [*ALLOCATOR, "allocate", str(path), "-o", str(out)]
            rows = []
            if not cold_done:
                rows.append(("cold", [timed(cmd, env)]))
                cold_done = True
            rows.append(("warm", [timed(cmd, env) for _ in range(args.repeat)]))
            if pyc_cwd is not None:
                rows.append(("warm+pyc", [timed(cmd, env, pyc_cwd) for _ in range(args.repeat)]))
            full_size = out.stat().st_size
            res = json.loads(out.read_text(encoding="utf-8"))
            out_compact = Path(tmp) / f"compact_{n}.json"
            if not args.no_compact:  # the compact level (--explication compacte), same run
                compact = [*ALLOCATOR, "allocate", str(path), "-o", str(out_compact)]
                compact += ["--explication", "compacte"]
                rows.append(("compacte", [timed(compact, env) for _ in range(args.repeat)]))
            for label, times in rows:
                wall = statistics.median(times)
                print(
                    f"{n:>10} {req['quota']:>6} {res['status']:>8} "
                    f"{res['solveur']['gap']!s:>5} {label:>8} {wall:>8.2f} {wall / baseline:>6.1f}"
                )
            if not args.no_compact:
                warm = statistics.median(dict(rows)["warm"])
                size = out_compact.stat().st_size
                print(
                    f"{n:>10} explication complete {full_size / 1e6:.1f} MB, compacte "
                    f"{size / 1e6:.1f} MB (×{size / full_size:.3f} the bytes, "
                    f"×{statistics.median(dict(rows)['compacte']) / warm:.2f} the wall time)"
                )


if __name__ == "__main__":
    main()
