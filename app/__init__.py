"""Chorus: a community decides together by text message.

`create_app` wires configuration, extensions and one blueprint per area
(webhooks, api, staff, public). Domain logic lives in `app.domain` and never
touches the Flask request.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask, request
from sqlalchemy import event, exc

from . import logs, security
from .catalogs import ensure_compiled
from .config import LANGUAGES, ROOT, Settings, settings
from .extensions import babel, csrf, db, limiter, migrate


def select_locale() -> str:
    """Pick a page language: ?lang=, then the `lang` cookie, then Accept-Language."""
    wanted = request.args.get("lang") or request.cookies.get("lang")
    if wanted in LANGUAGES:
        return wanted
    return request.accept_languages.best_match(LANGUAGES) or settings().default_language


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the Flask app from `settings` (default: the environment) plus config overrides."""
    load_dotenv(ROOT / ".env", override=False)
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    settings = settings or Settings.from_env(instance_path=Path(app.instance_path))
    translations = ensure_compiled(
        ROOT / "translations", LANGUAGES, spare=Path(app.instance_path) / "translations"
    )
    app.config.update(
        CHORUS=settings,
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        BABEL_TRANSLATION_DIRECTORIES=str(translations),
        BABEL_DEFAULT_LOCALE=settings.default_language,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(
            settings.public_base_url and settings.public_base_url.startswith("https://")
        ),
        # Jobs without Redis run in a background thread; tests may ask for them inline.
        JOBS_EAGER=False,
        # Rate limits are shared by every web process through Redis when there is one.
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        # Staff form tokens last as long as a staff session may.
        WTF_CSRF_TIME_LIMIT=8 * 3600,
    )
    app.config.update(overrides)
    logs.configure(settings.log_format)

    logs.init_app(app)
    security.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    csrf.init_app(app)
    if settings.database_url.startswith("sqlite"):
        _sqlite_pragmas(app)
    else:
        _ping_when_idle(app)

    # The areas are imported here, not at the top, so that importing one module of
    # the package (a test helper, a benchmark child process) stays cheap.
    from . import jobs, worker
    from .api import init_app as init_api
    from .cli import register
    from .ops import bp as ops_bp
    from .ops import metrics
    from .public import bp as public_bp
    from .staff import bp as staff_bp
    from .staff import init_app as init_staff
    from .webhooks import bp as webhooks_bp

    jobs.init_app(app)
    worker.init_app(app)

    app.register_blueprint(webhooks_bp)
    init_api(app)
    init_staff(app)
    app.register_blueprint(staff_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(ops_bp)
    # Only staff forms carry Flask-WTF's token: Twilio signs the webhooks, the API takes
    # bearer tokens, and the public forms carry a signed form key of their own.
    for area in (webhooks_bp, public_bp, ops_bp):
        csrf.exempt(area)
    csrf.exempt(app.blueprints["api"])
    metrics.init_app(app)

    register(app)

    return app


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pre-ping on every checkout (a round trip per request): _ping_when_idle instead.
    # A database that is down answers at once (refused); one that does not answer at all
    # fails the connection after 2 s (libpq's smallest timeout) instead of hanging.
    return {"pool_size": 10, "max_overflow": 20, "connect_args": {"connect_timeout": 2}}


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(app: Flask) -> None:
    """Check a pooled connection before use only when it sat idle for a while.

    A connection used a moment ago is as good as a ping would say; one that sat idle
    may have been closed by a database restart or a firewall. Such a connection is
    pinged on checkout, and a failed ping makes the pool replace it (DisconnectionError).
    A connection that breaks while busy fails its request; SQLAlchemy then recycles
    the whole pool, so the next request gets a fresh one.
    """
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as error:  # any failure: the pool retries with a new connection
            raise exc.DisconnectionError(str(error)) from error


def _sqlite_pragmas(app: Flask) -> None:
    """WAL and foreign keys for SQLite, and savepoints inside a real transaction.

    Python's sqlite3 driver opens a transaction only before the first INSERT/UPDATE,
    so a SAVEPOINT that comes first would commit on release and a request would stop
    being one transaction. Opening the transaction ourselves just before such a
    SAVEPOINT fixes that and keeps the driver's lazy BEGIN everywhere else (a BEGIN
    on every read would make concurrent writers fail on stale snapshots).
    """
    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _on_savepoint(connection, _name):
            dbapi_connection = connection.connection.dbapi_connection
            if dbapi_connection is not None and not dbapi_connection.in_transaction:
                connection.exec_driver_sql("BEGIN")
