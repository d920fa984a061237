"""Shared fixtures.

Backends: `TEST_DATABASE_URL` (PostgreSQL in CI) or a private SQLite file;
`TEST_REDIS_URL` (CI), else a private `redis-server`, else fakeredis. The choice is
printed in the report header and again at the end of the run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from app.config import Settings
from app.extensions import db

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://chorus.example.org"
TWILIO_FROM = "+447700100200"

_state: dict[str, str] = {}
_tmp = Path(tempfile.mkdtemp(prefix="chorus-tests-"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _state["database"] = f"PostgreSQL ({url.split('@')[-1]})" if "postgres" in url else url
        return url
    _state["database"] = "SQLite (private file; set TEST_DATABASE_URL for PostgreSQL)"
    return f"sqlite:///{_tmp / 'test.sqlite3'}"


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        _state["redis"] = f"Redis at {url}"
        return url
    binary = shutil.which("redis-server")
    if binary:
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _state["redis_pid"] = str(proc.pid)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        _state["redis"] = f"private redis-server on port {port}"
        return f"redis://127.0.0.1:{port}/0"
    _state["redis"] = "fakeredis (no redis-server found)"
    return None


DATABASE_URL = _database_url()
REDIS_URL = _redis_url()


def pytest_report_header(config):
    """Say which backends this run uses."""
    return [f"chorus backends: database={_state['database']}; redis={_state['redis']}"]


def pytest_terminal_summary(terminalreporter):
    """Repeat the backends at the end, where people look."""
    terminalreporter.write_line(
        f"chorus backends: database={_state['database']}; redis={_state['redis']}"
    )


def pytest_sessionfinish(session, exitstatus):
    """Stop the private redis-server, if we started one."""
    pid = _state.get("redis_pid")
    if pid:
        os.kill(int(pid), 15)


def make_settings(**env: str) -> Settings:
    """Settings for a test app: the test database, Twilio pointed at nothing unless given."""
    base = {
        "DATABASE_URL": DATABASE_URL,
        "SECRET_KEY": "test-secret",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": TWILIO_FROM,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
        "QUIET_HOURS": "",
    }
    base.update(env)
    return Settings.from_env({k: v for k, v in base.items() if v is not None}, instance_path=_tmp)


@pytest.fixture(scope="session")
def _schema() -> Iterator[None]:
    """Build the schema once per run with the real migrations."""
    engine = create_engine(DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app(make_settings())
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield


def _truncate(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(_schema):
    """Factory for apps on the clean test database: make_app(ENV=value, config=...)."""
    made = []

    tunables = {field.name for field in dataclasses.fields(Settings)}

    def factory(config: dict | None = None, **env: str):
        overrides = {"TESTING": True, "JOBS_EAGER": True, **(config or {})}
        # A tunable given as config (OUTBOX_RETRY_BASE=...) is a Settings field.
        tuned = {k.lower(): overrides.pop(k) for k in list(overrides) if k.lower() in tunables}
        settings = dataclasses.replace(make_settings(**env), **tuned)
        app = create_app(settings, **overrides)
        made.append(app)
        return app

    yield factory
    if made:
        _truncate(made[0])
        for other in made[1:]:
            with other.app_context():
                db.engine.dispose()


@pytest.fixture
def fake():
    """A FakeTwilio answering at once (tests/fake_twilio.py), stopped afterwards."""
    from tests.outbox_helpers import start_fake

    running = start_fake()
    yield running
    running.stop()


@pytest.fixture
def app(make_app):
    """The app with Twilio settings for signed webhooks and jobs run inline."""
    return make_app()


@pytest.fixture
def sending_app(make_app, fake):
    """An app sending through FakeTwilio, jobs inline; its outbox closed afterwards.
    Modules that send override `app` with it."""
    from tests.outbox_helpers import finish, twilio_env

    made = make_app(**twilio_env(fake))
    yield made
    finish(made)


@pytest.fixture
def staff(app):
    """The staff API on the module's `app` (tests/outbox_helpers.py: Staff)."""
    from tests.outbox_helpers import Staff

    return Staff(app)


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def token(runner) -> str:
    """A staff API token made with the real command."""
    result = runner.invoke(args=["api-token", "create", "tests"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def api(client, token):
    """Call the staff API with a valid token: api.post(path, json=...)."""

    class Api:
        def __init__(self):
            self.headers = {"Authorization": f"Bearer {token}"}

        def get(self, path, **kw):
            return client.get("/api/v1" + path, headers=self.headers, **kw)

        def post(self, path, **kw):
            return client.post("/api/v1" + path, headers=self.headers, **kw)

    return Api()


@pytest.fixture
def signed_post(client):
    """POST form params as Twilio would: signed_post(path, params, query=, token=, base=).

    The signature is made with tests.fake_twilio.sign over base (PUBLIC_BASE_URL by
    default) + path + the raw query string, exactly what Twilio signs.
    """
    from tests.fake_twilio import sign

    def post(path, params, *, query="", token=AUTH_TOKEN, base=PUBLIC_BASE_URL, headers=None):
        target = f"{path}?{query}" if query else path
        all_headers = {"X-Twilio-Signature": sign(base + target, params, token)}
        all_headers.update(headers or {})
        return client.post(target, data=params, headers=all_headers)

    return post


@pytest.fixture
def world(request, app, api, signed_post):
    """Members, consultations and a signed texter on the test app (inbound_helpers.World),
    told about the FakeTwilio when the app sends through one."""
    from tests.inbound_helpers import World

    fake = request.getfixturevalue("fake") if "fake" in request.fixturenames else None
    return World(app, api, signed_post, fake)


@pytest.fixture
def rq_setup():
    """(env, config) for make_app so that jobs go to RQ instead of running inline.

    The test Redis (flushed before and after), or fakeredis when there is none
    (REDIS_URL is None). Run the queued jobs in this process with a burst worker:
    `app.worker.make_worker(app).work(burst=True)`.
    """
    if REDIS_URL:
        from redis import Redis

        connection = Redis.from_url(REDIS_URL)
        connection.flushdb()
        yield {"REDIS_URL": REDIS_URL}, {"JOBS_EAGER": False}
        connection.flushdb()
        connection.close()
    else:
        import fakeredis

        yield {}, {"JOBS_EAGER": False, "REDIS_CONNECTION": fakeredis.FakeRedis()}
