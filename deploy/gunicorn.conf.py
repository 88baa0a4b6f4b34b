"""The alternative server: gunicorn, sync workers, one per core. The default is Granian
(deploy/granian_serve.py), which the benchmark found faster on every path (README, Performance:
``IDP_BENCH_SERVER=gunicorn make bench`` measures this one). Kept for operators who standardise on
gunicorn: ``gunicorn -c deploy/gunicorn.conf.py idp.wsgi:app``."""

import multiprocessing
import os
import tempfile

from idp.kv import require_shared_store

bind = os.environ.get("IDP_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("IDP_WORKERS", multiprocessing.cpu_count()))
require_shared_store(workers, os.environ.get("IDP_REDIS_URL"))
worker_class = "sync"
backlog = 2048
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 20000  # recycle workers now and then (bounded memory growth)
max_requests_jitter = 2000
accesslog = None  # the app writes structured JSON access logs itself (IDP_ACCESS_LOG)
preload_app = False  # each worker connects to the database itself

# Prometheus metrics from every worker (idp/metrics.py).
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="idp-metrics-")
)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
