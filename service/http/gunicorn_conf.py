"""gunicorn settings of the service (the documented production command)::

    gunicorn -c python:service.http.gunicorn_conf 'service:create_app()'

Worker model: ``ALLOCATOR_WORKERS`` processes (default 2) × ``ALLOCATOR_THREADS`` threads each
(default 4), gunicorn's ``gthread`` worker. A request holds one thread while it runs (a national
``POST /v1/allocate`` takes seconds, a scenario comparison up to minutes: CPU-bound Python), so
one oversized request never blocks ``/health`` or the other clients: the remaining threads, and
the other processes, keep answering. Inputs are bounded (structures per request, variants per
comparison, every number: README, "Limits"), which bounds each request's work.

``ALLOCATOR_WORKER_TIMEOUT`` (default 300 s) is gunicorn's ``timeout``: a worker process whose
main loop stops answering the arbiter for that long (a hung process) is killed and replaced.
With threads it is a liveness check, not a per-request limit. Any setting given on the command
line wins over this file.
"""

from __future__ import annotations

import os


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise RuntimeError(f"{name} : entier ≥ 1 attendu ; reçu {raw!r}")
    return int(raw)


worker_class = "gthread"
workers = _positive("ALLOCATOR_WORKERS", 2)
threads = _positive("ALLOCATOR_THREADS", 4)
timeout = _positive("ALLOCATOR_WORKER_TIMEOUT", 300)
graceful_timeout = 30
