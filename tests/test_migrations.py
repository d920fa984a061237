"""The migrations: they build the schema the models declare, and move a database that
holds rows up and down without losing any.

The round trips run on a scratch database of their own: a file next to the test
database on SQLite, a schema of the test database on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import Connection, Enum, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.config import ROOT
from app.extensions import db
from tests.conftest import DATABASE_URL, make_settings

SCRATCH_SCHEMA = "migration_scratch"
# The newest revision in migrations/versions (what "head" means).
HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()

# A small community as revision 0001 stored it, in plain SQL: each table with a closed
# column, every consent source, and a member with groups (on SQLite a table rebuild with
# foreign keys enforced would cascade-delete those).
ROWS_0001 = [
    """INSERT INTO member (id, phone, name, language, status, consent_at, consent_source,
        opted_out_at, opt_out_source, created_at, updated_at) VALUES
        (1, '+447700900001', 'Ann', 'en', 'active', CURRENT_TIMESTAMP, 'sms', NULL, NULL,
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (2, '+447700900002', NULL, 'cy', 'opted_out', CURRENT_TIMESTAMP, 'staff',
         CURRENT_TIMESTAMP, 'twilio-21610', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (3, '+447700900003', 'Cai', 'ar', 'pending', NULL, NULL, NULL, NULL,
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (4, '+447700900004', 'Dee', 'en', 'active', CURRENT_TIMESTAMP, 'api', NULL, NULL,
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (5, '+447700900005', 'Eve', 'en', 'opted_out', CURRENT_TIMESTAMP, 'demo',
         CURRENT_TIMESTAMP, 'sms', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)""",
    """INSERT INTO member_group (member_id, name) VALUES
        (1, 'community'), (2, 'community'), (2, 'allies'), (4, 'staff')""",
    """INSERT INTO consultation (id, code, kind, status, title, summary, body, options,
        audience, decision_by, quorum, threshold, results_public, created_at) VALUES
        (1, 'P1', 'yes_no', 'open', '{"en": "Garden"}', '{}', '{}', '[]', '["community"]',
         'community', 5, 0.5, TRUE, CURRENT_TIMESTAMP),
        (2, 'P2', 'choice', 'decided', '{}', '{}', '{}', '[{"label": {"en": "A"}}]', '[]',
         'allies', NULL, NULL, FALSE, CURRENT_TIMESTAMP),
        (3, 'P3', 'open', 'draft', '{}', '{}', '{}', '[]', '[]', 'staff', NULL, NULL, TRUE,
         CURRENT_TIMESTAMP)""",
    """INSERT INTO broadcast (id, kind, consultation_id, bodies, audience, audience_filter,
        status, total, skipped_at_start, created_at) VALUES
        (1, 'summary', 1, '{"en": "Vote"}', '[]', 'all', 'completed', 2, 0, CURRENT_TIMESTAMP),
        (2, 'reminder', 1, '{}', '[]', 'not_voted', 'paused', 0, 0, CURRENT_TIMESTAMP),
        (3, 'outcome', 2, '{}', '[]', 'participants', 'scheduled', 0, 0, CURRENT_TIMESTAMP)""",
    """INSERT INTO message (id, direction, member_id, phone, body, kind, twilio_sid, status,
        segments, encoding, broadcast_id, batch, consultation_id, reply_to_id, priority,
        error_count, created_at, updated_at) VALUES
        (1, 'in', 1, '+447700900001', 'yes but Sundays', 'vote', 'SM1', 'received', 1,
         'GSM-7', NULL, NULL, NULL, NULL, 'high', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (2, 'out', 1, '+447700900001', 'Thanks', 'vote_recorded', NULL, 'delivered', 1,
         'UCS-2', NULL, NULL, 1, 1, 'high', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (3, 'out', 2, '+447700900002', 'Vote', 'summary', 'SM3', 'failed', 2, 'GSM-7', 1, 0,
         1, NULL, 'bulk', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (4, 'out', 4, '+447700900004', 'Vote', 'summary', NULL, 'queued', 1, 'GSM-7', 1, 0,
         1, NULL, 'bulk', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)""",
    """INSERT INTO vote (id, consultation_id, member_id, choice, channel, entered_by, receipt,
        created_at, updated_at) VALUES
        (1, 1, 1, 'yes', 'sms', NULL, 'R1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
        (2, 1, 4, 'no', 'assisted', 'Kit', 'R2', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)""",
    """INSERT INTO vote_change (id, vote_id, choice, previous, channel, entered_by, message_id,
        created_at) VALUES
        (1, 1, 'yes', NULL, 'sms', NULL, 1, CURRENT_TIMESTAMP),
        (2, 2, 'no', NULL, 'web', NULL, NULL, CURRENT_TIMESTAMP)""",
    """INSERT INTO comment (id, consultation_id, member_id, body, channel, language, visible,
        hidden_reason, message_id, created_at) VALUES
        (1, 1, 1, 'Sundays', 'sms', 'en', TRUE, NULL, 1, CURRENT_TIMESTAMP),
        (2, NULL, 4, 'Hello staff', 'web', 'en', FALSE, 'off topic', NULL, CURRENT_TIMESTAMP)""",
    """INSERT INTO outcome (id, consultation_id, text, decided_by, created_at, broadcast_id)
        VALUES (1, 2, '{"en": "A it is"}', 'allies', CURRENT_TIMESTAMP, 3)""",
]


def scratch_url(tmp_path) -> str:
    """A database of this test's own, with nothing in it."""
    if "postgresql" not in DATABASE_URL:
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    engine = create_engine(DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
    engine.dispose()
    separator = "&" if "?" in DATABASE_URL else "?"
    return f"{DATABASE_URL}{separator}options=-csearch_path%3D{SCRATCH_SCHEMA}"


@pytest.fixture
def scratch(tmp_path) -> Iterator[None]:
    """An app context on an empty scratch database (dropped afterwards on PostgreSQL)."""
    app = create_app(make_settings(DATABASE_URL=scratch_url(tmp_path)))
    with app.app_context():
        yield
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {SCRATCH_SCHEMA} CASCADE"))
        db.engine.dispose()


def upgrade(revision: str = "head") -> None:
    """Upgrade the current app's database (errors propagate; `flask db upgrade` would
    log them and exit)."""
    command.upgrade(current_app.extensions["migrate"].migrate.get_config(), revision)


def downgrade(revision: str) -> None:
    """Downgrade the current app's database."""
    command.downgrade(current_app.extensions["migrate"].migrate.get_config(), revision)


def revision_now() -> str | None:
    """The revision the current app's database is at."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def snapshot(like: dict[str, list[tuple]] | None = None) -> dict[str, list[tuple]]:
    """Every row of every table the database has, in key order. With `like` (an earlier
    snapshot), only that snapshot's tables and columns: tables and columns added by
    later migrations are not changed rows."""
    with db.engine.connect() as conn:
        inspector = inspect(conn)
        present = set(inspector.get_table_names())
        out = {}
        for table in db.metadata.sorted_tables:
            if table.name not in present or (like is not None and table.name not in like):
                continue
            if like is None:
                _COLUMNS[table.name] = [c["name"] for c in inspector.get_columns(table.name)]
            columns = ", ".join(_COLUMNS[table.name])
            keys = ", ".join(c.name for c in table.primary_key.columns)
            query = f"SELECT {columns} FROM {table.name} ORDER BY {keys}"
            out[table.name] = [tuple(r) for r in conn.execute(text(query))]
    return out


_COLUMNS: dict[str, list[str]] = {}  # the columns of the last snapshot taken without `like`


def schema_differences(conn: Connection) -> list:
    """What autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, db.metadata)


def checks_in_database(conn: Connection) -> dict[tuple[str, str], set[str]]:
    """{(table, constraint name): the quoted values in its CHECK}, as reflected."""
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    return {
        (table.name, check["name"]): set(re.findall(r"'([^']*)'", check["sqltext"]))
        for table in db.metadata.sorted_tables
        if table.name in present
        for check in inspector.get_check_constraints(table.name)
    }


def checks_in_models() -> dict[tuple[str, str], set[str]]:
    """The same, from the models: each Enum column's CHECK, named by the convention."""
    return {
        (table.name, f"ck_{table.name}_{column.type.name}"): set(column.type.enums)
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Enum)
    }


def test_the_migrated_test_database_matches_the_models(app):
    """The suite's database is built by the migrations; the models must agree with it,
    column types and CHECK constraints included (autogenerate does not compare CHECKs)."""
    with app.app_context(), db.engine.connect() as conn:
        assert schema_differences(conn) == []
        assert checks_in_database(conn) == checks_in_models()


def test_a_database_with_rows_goes_up_down_and_up_again(scratch):
    upgrade("0001")
    with db.engine.begin() as conn:
        for statement in ROWS_0001:
            conn.execute(text(statement))
    before = snapshot()
    assert all(before[table] for table in ("member_group", "vote_change", "outcome"))

    upgrade()
    assert revision_now() == HEAD
    assert snapshot(before) == before
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # the migration's connection, back in the pool
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert schema_differences(conn) == []
        assert checks_in_database(conn) == checks_in_models()
    with db.engine.connect() as conn, pytest.raises(IntegrityError), conn.begin():
        conn.execute(text("UPDATE message SET status = 'SENT' WHERE id = 2"))

    downgrade("0001")
    assert revision_now() == "0001"
    assert snapshot(before) == before
    with db.engine.begin() as conn:
        assert checks_in_database(conn) == {}
        conn.execute(text("UPDATE message SET status = 'SENT' WHERE id = 2"))
        conn.execute(text("UPDATE message SET status = 'delivered' WHERE id = 2"))

    upgrade()
    assert revision_now() == HEAD
    assert snapshot(before) == before
    with db.engine.connect() as conn:
        assert checks_in_database(conn) == checks_in_models()


def test_a_value_outside_a_vocabulary_stops_the_upgrade_before_any_change(scratch):
    upgrade("0001")
    with db.engine.begin() as conn:
        for statement in ROWS_0001:
            conn.execute(text(statement))
        conn.execute(text("UPDATE member SET opt_out_source = 'twilio:21610' WHERE id = 2"))
        conn.execute(text("UPDATE broadcast SET status = 'done' WHERE id = 1"))
    before = snapshot()

    with pytest.raises(RuntimeError) as refused:
        upgrade()
    assert "member.opt_out_source = 'twilio:21610'" in str(refused.value)
    assert "broadcast.status = 'done'" in str(refused.value)
    assert revision_now() == "0001"
    assert snapshot(before) == before
    with db.engine.connect() as conn:
        assert checks_in_database(conn) == {}

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE member SET opt_out_source = 'twilio-21610' WHERE id = 2"))
        conn.execute(text("UPDATE broadcast SET status = 'completed' WHERE id = 1"))
    upgrade()
    assert revision_now() == HEAD


def test_imports_still_checking_are_discarded_by_the_downgrade_from_0012(scratch):
    """An upload waiting for its check is working data: going back before 0012 (no
    status `checking`, no file column) discards it, and its rows' table stays intact."""
    upgrade("0012")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO member_import (id, status, created_by, created_at, total_rows,
                    to_add, to_add_opted_out, error_rows, cursor, added, skipped, data)
                VALUES (1, 'checking', 'staff:a', CURRENT_TIMESTAMP, 1, 0, 0, 0, 0, 0, 0,
                        :data),
                       (2, 'preview', 'staff:a', CURRENT_TIMESTAMP, 1, 1, 0, 0, 0, 0, 0, NULL)"""
            ),
            {"data": b"phone\n07400 123456\n"},
        )
        conn.execute(
            text(
                """INSERT INTO member_import_row (import_id, line, phone, language, groups,
                    opted_out) VALUES (2, 2, '+447400123456', 'en', '', FALSE)"""
            )
        )
    downgrade("0005")
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, finished_at IS NOT NULL FROM member_import ORDER BY id")
        ).all()
        assert [tuple(row) for row in rows] == [(1, "discarded", True), (2, "preview", False)]
        assert conn.execute(text("SELECT count(*) FROM member_import_row")).scalar() == 1
        assert "data" not in {c["name"] for c in inspect(conn).get_columns("member_import")}
    with db.engine.connect() as conn, pytest.raises(IntegrityError), conn.begin():
        conn.execute(text("UPDATE member_import SET status = 'checking' WHERE id = 2"))
    upgrade()
    assert revision_now() == HEAD
