"""Production server: Granian (a Rust HTTP server) running the WSGI app, one worker process per
core. Chosen by the benchmark (README, Performance): on one core it serves a minimal Flask
answer about 3x faster than gunicorn's sync workers (5,000 vs 1,700 req/s), and the provider's
hot paths are short enough that the server's own cost decides their speed.

Settings (environment): ``IDP_BIND`` (host:port, default 0.0.0.0:8000), ``IDP_WORKERS``
(processes, default one per core), ``IDP_THREADS`` (threads per worker running the app, default
4: while some wait on PostgreSQL or Redis, one computes; the benchmark measured 4 ahead of 2 on
every scenario, and 8 no better than 4). The app keeps no state of its own,
so workers and machines scale out the same way. Run: ``python deploy/granian_serve.py``."""

import os
import tempfile

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from idp.kv import require_shared_store


def main() -> None:
    host, _, port = os.environ.get("IDP_BIND", "0.0.0.0:8000").rpartition(":")
    workers = int(os.environ.get("IDP_WORKERS") or os.cpu_count() or 1)
    require_shared_store(workers, os.environ.get("IDP_REDIS_URL"))
    # Prometheus metrics from every worker process add up through this directory (idp/metrics.py).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="idp-metrics-"))
    Granian(
        "idp.wsgi:app",
        address=host or "0.0.0.0",  # noqa: S104 (a server listens on all interfaces unless told)
        port=int(port),
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=int(os.environ.get("IDP_THREADS", "4")),
        backlog=2048,
        respawn_failed_workers=True,
        workers_lifetime=int(os.environ.get("IDP_WORKER_LIFETIME", "86400")),
        log_level=LogLevels.warning,
        log_access=False,  # the app writes structured JSON access logs itself (IDP_ACCESS_LOG)
    ).serve()


if __name__ == "__main__":
    main()
