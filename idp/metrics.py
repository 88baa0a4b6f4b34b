"""Prometheus metrics: requests, latencies, sign-ins, tokens issued. With several worker
processes, set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/granian_serve.py and deploy/gunicorn.conf.py
do) so /metrics adds up every worker."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("idp_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "idp_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SIGNINS = Counter("idp_signins_total", "Password sign-ins", ["result"])
TOKENS = Counter("idp_tokens_issued_total", "Tokens issued", ["grant_type"])
STATEMENTS = Counter(
    "idp_token_store_statements_total",
    "SQL statements the token endpoint sent (idp/oauth/token_store.py)",
    ["statement"],
)


_children: dict = {}


def request_counter(endpoint: str, method: str, status: int):
    """``REQUESTS`` for these labels, looked up once per process (``labels()`` takes a lock and
    builds a key on every call)."""
    key = (endpoint, method, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUESTS.labels(endpoint, method, str(status))
    return child


def statement_counter(statement: str):
    child = _children.get(("statement", statement))
    if child is None:
        child = _children[("statement", statement)] = STATEMENTS.labels(statement)
    return child


def latency_histogram(endpoint: str):
    child = _children.get(endpoint)
    if child is None:
        child = _children[endpoint] = LATENCY.labels(endpoint)
    return child


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
