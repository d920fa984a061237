"""Pooled PostgreSQL connections are checked only when they sat idle (app/__init__.py).

There is no ping on every checkout (it would cost a round trip per request); a
connection idle for longer than IDLE_PING_SECONDS is pinged first, and one that fails
the ping (the server restarted, a firewall dropped it) is replaced, so the request
that gets it does not fail.
"""

from __future__ import annotations

import psycopg
import pytest

import app as app_module
from app.extensions import db
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.skipif(
    "postgresql" not in DATABASE_URL, reason="the idle ping is for PostgreSQL's pool"
)


def _pooled_backend(app) -> tuple[int, dict]:
    """Check a connection out and in again: its server pid and its pool record's info."""
    with app.app_context():
        pooled = db.engine.raw_connection()
        pid = pooled.driver_connection.info.backend_pid
        info = pooled.info
        pooled.close()
    return pid, info


def _kill(pid: int) -> None:
    url = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_that_died_while_idle_is_replaced_before_use(app, client):
    pid, info = _pooled_backend(app)
    _kill(pid)
    info["idle_since"] -= app_module.IDLE_PING_SECONDS + 1  # as if it sat idle

    response = client.get("/readyz")

    assert response.status_code == 200
    with app.app_context():
        pooled = db.engine.raw_connection()
        assert pooled.driver_connection.info.backend_pid != pid
        pooled.close()


def test_a_connection_that_died_mid_use_fails_one_request_and_the_pool_recovers(app, client):
    # Used a moment ago, so not pinged: the request that gets it fails (Twilio retries a
    # webhook that failed; its MessageSid makes the retry safe), and SQLAlchemy
    # recycles the pool, so the next request gets a live connection.
    pid, _ = _pooled_backend(app)
    _kill(pid)

    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").status_code == 200
