"""`/healthz` (the process is up), `/readyz` (it can do its work), `/metrics`."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import exc, text

from ..config import settings
from ..extensions import db
from ..jobs import jobs
from .metrics import exposition

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches nothing else, so a database outage does
    not make a load balancer restart healthy web processes."""
    return {"status": "ok"}


def _migration_head() -> str | None:
    cached = current_app.extensions.get("chorus_migration_head")
    if cached is None:
        directory = current_app.extensions["migrate"].directory
        cached = ScriptDirectory(directory).get_current_head() or ""
        current_app.extensions["chorus_migration_head"] = cached
    return cached or None


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """Readiness: the database answers and is migrated to head; Redis answers when used."""
    checks: dict[str, str] = {}
    try:
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as error:  # any failure means not ready; say which
        checks["database"] = f"unreachable: {type(error).__name__}"
        checks["migrations"] = "unknown"
    else:
        checks["database"] = "ok"
        head = _migration_head()
        checks["migrations"] = (
            "ok" if version == head else f"at {version}, code needs {head}: run db upgrade"
        )
    finally:
        db.session.rollback()
    redis = jobs().redis
    if redis is not None:
        try:
            redis.ping()
            checks["redis"] = "ok"
        except Exception as error:  # any failure means not ready; say which
            checks["redis"] = f"unreachable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics; with METRICS_TOKEN set, only for `Authorization: Bearer` it."""
    token = settings().metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(401)
    return exposition()


@bp.app_errorhandler(exc.OperationalError)
@bp.app_errorhandler(psycopg.OperationalError)  # raw connections (the inbound fast path)
@bp.app_errorhandler(exc.InterfaceError)
@bp.app_errorhandler(exc.TimeoutError)
def database_unavailable(error: Exception) -> tuple[Any, int, dict[str, str]]:
    """The database cannot be reached: 503 at once, nothing written (the transaction is
    gone with the connection). Twilio does not retry a webhook; the text is still in
    its Messages list. The API answers in its own error format."""
    log.warning("database unavailable: %s", type(error).__name__)
    db.session.remove()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    message = "the database is unavailable; try again shortly"
    if request.path.startswith("/api/"):
        return {"error": message}, 503, headers
    return message + "\n", 503, {**headers, "Content-Type": "text/plain; charset=utf-8"}
