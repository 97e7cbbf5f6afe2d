"""Whole-program A/B: ``allocator allocate`` of this checkout against another one (run on demand).

Run against an earlier commit checked out in a worktree, e.g. the base of a redesign::

    git worktree add --detach /tmp/base <commit>
    .venv/bin/python benchmarks/bench_house_ab.py --base /tmp/base [--sizes 1500 5000] [--reps 5]

Each measurement is a fresh process running the ``allocator`` program of one checkout (its
``[project.scripts]`` entry point, with that checkout first on ``PYTHONPATH``) on the same national
request (drawn as ``bench_allocate_cli.national_request``: real communes, fixed seed), at both
levels of explanation, alternating base / new so that the machine's noise hits both alike. Each
checkout's geodata cache is built by a first, unmeasured run. Printed per size and level: the
minimum wall time and the minimum CPU time (the process and its forked helper) of each side and
the ratio new / base (below 1: faster), and whether the two outputs are the same bytes (apart
from ``solveur.secondes``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "benchmarks"))

from bench_allocate_cli import national_request  # noqa: E402

LEVELS = ("complete", "compacte")


def program(checkout: Path) -> list[str]:
    """The command running ``checkout``'s ``allocator`` entry point with this interpreter."""
    scripts = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["allocator"].split(":")
    return [sys.executable, "-c", f"import sys; import {module} as m; sys.exit(m.{function}())"]


def run(checkout: Path, request: Path, output: Path, level: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one ``allocate``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [*program(checkout), "allocate", str(request), "-o", str(output), "--jobs", "2"]
    cmd += ["--explication", level]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{checkout}: allocate failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def without_seconds(path: Path) -> bytes:
    return re.sub(rb'"secondes":\s*[0-9.e-]+', b'"secondes":0', path.read_bytes())


def measure(base: Path, size: int, reps: int, work: Path) -> list[str]:
    request = work / f"request-{size}.json"
    request.write_text(json.dumps(national_request(size)), encoding="utf-8")
    lines = []
    for level in LEVELS:
        out = {"base": work / f"base-{size}-{level}.json", "new": work / f"new-{size}-{level}.json"}
        sides = {"base": base, "new": HERE}
        times: dict[str, list[tuple[float, float]]] = {"base": [], "new": []}
        for _ in range(reps):
            for side in ("base", "new"):
                times[side].append(run(sides[side], request, out[side], level))
        same = without_seconds(out["base"]) == without_seconds(out["new"])
        wall = {s: min(t[0] for t in times[s]) for s in times}
        cpu = {s: min(t[1] for t in times[s]) for s in times}
        lines.append(
            f"{size:>6}  {level:<10}{wall['base']:>9.3f}{wall['new']:>9.3f}"
            f"{wall['new'] / wall['base']:>8.3f}{cpu['base']:>9.3f}{cpu['new']:>9.3f}"
            f"{cpu['new'] / cpu['base']:>8.3f}  {'yes' if same else 'no'}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 5000])
    parser.add_argument("--reps", type=int, default=5, help="processes per side and level")
    args = parser.parse_args()
    base = args.base.resolve()
    print(f"base: {base}\nnew:  {HERE}")
    print(
        f"{'size':>6}  {'level':<10}{'base s':>9}{'new s':>9}{'ratio':>8}"
        f"{'base cpu':>9}{'new cpu':>9}{'ratio':>8}  same bytes"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        warm = work / "warm.json"
        warm.write_text(json.dumps(national_request(50)), encoding="utf-8")
        for side in (base, HERE):  # each checkout builds its geodata cache once, unmeasured
            run(side, warm, work / "warm-out.json", "complete")
        for size in args.sizes:
            for line in measure(base, size, args.reps, work):
                print(line, flush=True)


if __name__ == "__main__":
    main()
