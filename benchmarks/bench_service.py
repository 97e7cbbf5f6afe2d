"""Load benchmark of the HTTP service under gunicorn (loopback only, bounded loops).

Starts ``gunicorn 'service:create_app()'`` on a free 127.0.0.1 port with a temporary store,
seeds it, then measures latency (p50 / p99) and throughput of:

- ``GET /health`` (baseline: the WSGI stack without database or engine);
- ``GET /v1/structures/{idPG}`` with 50 concurrent clients for 60 s (token check + 3 queries);
- ``POST /v1/allocate`` with a 1,500-structure round (real 2021 hosts, real commune codes), at
  both levels of explanation (``?explication=compacte`` against the default full level): the
  answer's size and one client's time, then each level under load; ratios against the full
  level measured in the same run.

Every phase runs for a fixed duration and stops; any non-2xx answer or transport error is
counted as an error (0 expected). Usage::

    .venv/bin/python benchmarks/bench_service.py [--workers 4] [--clients 50] [--duration 60]
        [--allocate-clients 4] [--allocate-duration 60] [--level-repeat 3]
        [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STRUCTURES_2021 = ROOT / "geodata" / "data" / "conseillers_numeriques_structures_2021.csv"


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self) -> str:
        n = len(self.latencies)
        if not n:
            return f"{self.name:<34} no request completed, errors {self.errors}"
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(n - 1, int(0.99 * n))] * 1000
        return (
            f"{self.name:<34} {n:>7} req  {n / self.elapsed:>8.1f} req/s  p50 {p50:>8.1f} ms  "
            f"p99 {p99:>8.1f} ms  max {lat[-1] * 1000:>8.1f} ms  errors {self.errors}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[int, bytes]:
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
        return resp.status, data
    except (OSError, http.client.HTTPException):
        conn.close()
        raise


def run_phase(
    phase: Phase,
    port: int,
    clients: int,
    duration: float,
    make_request: Any,
) -> Phase:
    """``clients`` threads, each looping ``make_request(i)`` until the deadline."""
    deadline = time.monotonic() + duration
    start = threading.Barrier(clients + 1)

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start.wait()
        i = k
        while time.monotonic() < deadline:
            method, path, body, headers = make_request(i)
            i += clients
            t0 = time.perf_counter()
            try:
                status, data = request(conn, method, path, body, headers)
                ok = 200 <= status < 300
                why = f"{status} {data[:200]!r}"
            except Exception as exc:
                ok, why = False, repr(exc)
            dt = time.perf_counter() - t0
            with phase.lock:
                if ok:
                    phase.latencies.append(dt)
                else:
                    phase.errors += 1
                    if len(phase.error_samples) < 3:
                        phase.error_samples.append(why)
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join(duration + 600)
    phase.elapsed = time.monotonic() - t0
    return phase


def structures_1500(n: int = 1500) -> list[dict[str, Any]]:
    """The 2021 hosts (real names, SIRET, commune codes), cycled to ``n`` applications."""
    rows = []
    with STRUCTURES_2021.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["code_insee_2026"]:
                rows.append(r)
    rows.sort(key=lambda r: int(r["id"]))
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        out.append(
            {
                "idPG": 10_000 + i,
                "type": "COMMUNE" if r["type"] == "publique" else "PRIVATE",
                "nom": r["raison_sociale"],
                "codeCommune": r["code_insee_2026"],
                "nombreConseillersSouhaites": max(1, int(r["nb_cnfs"] or 1)),
                "qualiteProjet": 40 + (i * 37) % 61,
                "estZRR": r["zrr"] == "oui",
                "createdAt": "2021-05-02T10:00:00Z",
            }
        )
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline-duration", type=float, default=15.0)
    parser.add_argument("--allocate-clients", type=int, default=4)
    parser.add_argument("--allocate-duration", type=float, default=60.0)
    parser.add_argument("--structures", type=int, default=1500)
    parser.add_argument(
        "--level-repeat",
        type=int,
        default=3,
        help="sequential requests per level of explanation (sizes and one-client times)",
    )
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--gunicorn-arg", action="append", default=[], help="extra gunicorn argument (repeatable)"
    )
    return parser.parse_args()


def admin_headers(url: str) -> dict[str, str]:
    """Upgrade the store at ``url`` and create an admin token: the headers of the requests."""
    from service.store import repository as store
    from service.store.db import Database

    database = Database(url)
    database.upgrade()
    with database.write() as s:
        token = store.create_token(s, "admin", "bench")
    database.dispose()
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def start_gunicorn(args: argparse.Namespace, url: str, instance: str, port: int) -> Any:
    env = {
        **os.environ,
        "ALLOCATOR_DATABASE_URL": url,
        "ALLOCATOR_INSTANCE_PATH": instance,
        "ALLOCATOR_LOG_LEVEL": "WARNING",
    }
    cmd = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", "gthread",
        "--threads", str(args.threads),
        "--timeout", "300",
        "--log-level", "warning",
        *args.gunicorn_arg,
        "service:create_app()",
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def wait_for_health(port: int, proc: Any) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            if request(c, "GET", "/health", None, {})[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)


def seed(port: int, structures: list[dict[str, Any]], auth: dict[str, str]) -> None:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for s in structures:
        status, data = request(
            conn, "PUT", f"/v1/structures/{s['idPG']}", json.dumps(s).encode(), auth
        )
        if status not in (200, 201):
            raise SystemExit(f"seeding failed: {status} {data[:300]!r}")
    print(
        f"seeded {len(structures)} structures by PUT in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )


def read_phases(
    args: argparse.Namespace, port: int, ids: list[int], auth: dict[str, str]
) -> list[Phase]:
    """``GET /health`` (the baseline), then ``GET /v1/structures/{id}``."""
    health = run_phase(
        Phase(f"GET /health ({args.clients} clients)"),
        port,
        args.clients,
        args.baseline_duration,
        lambda i: ("GET", "/health", None, {}),
    )
    print(health.report(), flush=True)
    structure = run_phase(
        Phase(f"GET /v1/structures/{{id}} ({args.clients} cl.)"),
        port,
        args.clients,
        args.duration,
        lambda i: ("GET", f"/v1/structures/{ids[i % len(ids)]}", None, auth),
    )
    print(structure.report(), flush=True)
    return [health, structure]


#: The two levels of explanation of ``POST /v1/allocate``.
LEVELS = {"complete": "/v1/allocate", "compacte": "/v1/allocate?explication=compacte"}


def level_alone(port: int, body: bytes, auth: dict[str, str], repeat: int) -> None:
    """The same round at both levels, one client: answer size and median time."""
    alone: dict[str, tuple[int, float]] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    request(conn, "POST", LEVELS["complete"], body, auth)  # warm the workers' caches
    for level, path in LEVELS.items():
        times, size = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            status, data = request(conn, "POST", path, body, auth)
            times.append(time.perf_counter() - t0)
            if status != 200:
                raise SystemExit(f"{path}: {status} {data[:300]!r}")
            size = len(data)
        alone[level] = (size, statistics.median(times))
    conn.close()
    full_size, full_time = alone["complete"]
    for level, (size, seconds) in alone.items():
        print(
            f"explication={level:<9} answer {size / 1e6:7.2f} MB (×{size / full_size:.3f})  "
            f"one client {seconds:6.2f} s (×{seconds / full_time:.2f}, median of "
            f"{repeat})",
            flush=True,
        )


def level_load(
    args: argparse.Namespace, port: int, body: bytes, auth: dict[str, str]
) -> list[Phase]:
    """Each level of explanation under load, and the compact level's ratios to the full one."""
    by_level = {}
    for level, path in LEVELS.items():
        by_level[level] = run_phase(
            Phase(f"POST /v1/allocate {level} ({args.allocate_clients} cl.)"),
            port,
            args.allocate_clients,
            args.allocate_duration,
            lambda i, path=path: ("POST", path, body, auth),
        )
        print(by_level[level].report(), flush=True)
    full, compact = by_level["complete"], by_level["compacte"]
    if full.latencies and compact.latencies:
        p50 = statistics.median(compact.latencies) / statistics.median(full.latencies)
        rate = (len(compact.latencies) / compact.elapsed) / (len(full.latencies) / full.elapsed)
        print(
            f"compacte / complete under load: p50 ×{p50:.2f}, throughput ×{rate:.2f}",
            flush=True,
        )
    return list(by_level.values())


def print_summary(results: list[Phase]) -> None:
    print("\nsummary")
    for r in results:
        print(r.report())
        for e in r.error_samples:
            print(f"    error sample: {e}")


def stop(proc: Any) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    args = parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-service-")
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    auth = admin_headers(url)
    port = free_port()
    proc = start_gunicorn(args, url, tmp.name, port)
    try:
        wait_for_health(port, proc)
        structures = structures_1500(args.structures)
        print(
            f"gunicorn: {args.workers} workers × {args.threads} threads (gthread), "
            f"store {url.split(':')[0]}, {os.cpu_count()} CPUs",
            flush=True,
        )
        seed(port, structures, auth)
        results = read_phases(args, port, [s["idPG"] for s in structures], auth)
        body = json.dumps({"quota": 1000, "mois": "2021-06", "structures": structures}).encode()
        print(f"allocate body: {len(body) / 1e6:.2f} MB, {len(structures)} structures", flush=True)
        level_alone(port, body, auth, args.level_repeat)
        results += level_load(args, port, body, auth)
        print_summary(results)
        if any(r.errors for r in results):
            raise SystemExit(1)
    finally:
        stop(proc)
        tmp.cleanup()


if __name__ == "__main__":
    main()
