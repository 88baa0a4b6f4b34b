"""Production server: gunicorn, sync workers (one request at a time per process: the work is
CPU-bound Python, so threads would only add contention), one worker per core.

Chosen by the benchmark (bench/README.md): with sync workers each core runs one Python
interpreter flat out and latency stays predictable; the provider keeps no state in the process,
so workers and machines scale out the same way."""

import multiprocessing
import os
import tempfile

bind = os.environ.get("IDP_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("IDP_WORKERS", multiprocessing.cpu_count()))
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
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="idp-metrics-"))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
