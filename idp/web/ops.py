"""Operations: liveness, readiness, metrics, request ids and structured access logs."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time

from flask import Blueprint, Flask, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp import metrics
from idp.extensions import db
from idp.services import audit

bp = Blueprint("ops", __name__)
access_log = logging.getLogger("idp.access")
# Request ids need to be unique, not secret: a random prefix per process and a counter (no
# system call per request, unlike secrets.token_hex).
_REQUEST_ID_PREFIX = secrets.token_hex(4) + "-"
_request_numbers = itertools.count(1)


@bp.get("/healthz")
def healthz():
    """Alive: the process answers. Touches nothing else."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready: the database (and Redis, when configured) answer now. 503 until they do."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"unavailable ({type(exc).__name__})"
    if current_app.extensions["idp.settings"].redis_url:
        from idp.kv import kv

        try:
            kv().client.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # any client error means "not ready"
            checks["redis"] = f"unavailable ({type(exc).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), (
        200 if ready else 503
    )


@bp.get("/metrics")
def prometheus():
    body, content_type = metrics.exposition()
    return body, 200, {"Content-Type": content_type}


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Messages never carry secrets: we log paths, not query strings
    or bodies, and no token, code or password is ever passed to a logger."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "method", "path", "status", "ms", "client_ip"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def request_id(incoming: str) -> str:
    """The caller's ``X-Request-ID`` when it is a sane one, else a new id."""
    if 0 < len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):x}"


def observe(endpoint: str, method: str, status: int, elapsed: float, **log_fields) -> None:
    """Metrics for one request, and its access-log line when access logging is on (the
    caller passes ``request_id``, ``path`` and ``client_ip``; never a query string)."""
    metrics.request_counter(endpoint, method, status).inc()
    metrics.latency_histogram(endpoint).observe(elapsed)
    if current_app.extensions["idp.settings"].access_log:
        access_log.info(
            "%s %s %s",
            method,
            log_fields["path"],
            status,
            extra={
                "method": method,
                "status": status,
                "ms": round(elapsed * 1000, 2),
                **log_fields,
            },
        )


# Route arguments that are secrets in the URL itself: the activation, reset and unsubscribe
# links' tokens. An access log line names the route with them masked.
SECRET_ROUTE_ARGS = ("token",)


def loggable_path() -> str:
    """The request's path for the access log, with any secret route argument masked: a reset
    link's token in a log is a password reset for whoever reads the log."""
    path = request.path
    for name in SECRET_ROUTE_ARGS:
        value = (request.view_args or {}).get(name)
        if isinstance(value, str) and value:
            path = path.replace(value, "[redacted]")
    return path


def init_app(app: Flask) -> None:
    settings = app.extensions["idp.settings"]
    if settings.log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(settings.log_level)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))
        g.audit_binding = audit.bind_request(g.request_id)  # audit entries name the request

    @app.teardown_request
    def unbind(_exc):
        binding = g.pop("audit_binding", None)
        if binding is not None:
            audit.unbind_request(binding)

    @app.after_request
    def after(response):
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers["X-Request-ID"] = g.get("request_id", "")
        observe(
            request.endpoint or "unknown",
            request.method,
            response.status_code,
            elapsed,
            request_id=g.get("request_id"),
            path=loggable_path(),
            client_ip=request.remote_addr,
        )
        return response
