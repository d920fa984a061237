"""Closed vocabularies: each is a StrEnum in app/models.py and a CHECK in the database.

The database half is exercised with raw SQL, which no Python-side validation sees, on
whichever database the suite runs against (SQLite, or PostgreSQL in CI).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Enum, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from app.extensions import db
from app.models import (
    ApiToken,
    Broadcast,
    Channel,
    Comment,
    Consultation,
    Member,
    MemberImport,
    MemberStatus,
    Message,
    MessageStatus,
    StaffAccount,
    Vote,
    VoteChange,
    utcnow,
)

ENUM_COLUMNS = sorted(
    (table.name, column.name)
    for table in db.metadata.sorted_tables
    for column in table.columns
    if isinstance(column.type, Enum)
)

# Columns that are closed on purpose, so that dropping one fails here too.
CLOSED = {
    ("member", "status"),
    ("member", "consent_source"),
    ("member", "opt_out_source"),
    ("consultation", "kind"),
    ("consultation", "status"),
    ("consultation", "decision_by"),
    ("vote", "channel"),
    ("vote_change", "channel"),
    ("comment", "channel"),
    ("message", "direction"),
    ("message", "status"),
    ("message", "encoding"),
    ("message", "priority"),
    ("broadcast", "kind"),
    ("broadcast", "audience_filter"),
    ("broadcast", "status"),
    ("staff_account", "role"),
    ("api_token", "role"),
    ("member_import", "status"),
}

# A copied row must not collide with its original on a unique key (SQL expressions).
FRESH = {
    "member": {"phone": "'+447700900999'"},
    "consultation": {"code": "'Z99'"},
    "vote": {"member_id": ":other_member", "receipt": "'ZZZZZZ'"},
    "message": {"twilio_sid": "NULL", "broadcast_id": "NULL"},
    "staff_account": {"email": "'fresh@example.org'"},
    "api_token": {"token_hash": "'fresh'"},
}


def values_of(table: str, column: str) -> list[str]:
    """The values the model allows in `table.column`."""
    return list(db.metadata.tables[table].c[column].type.enums)


def near_miss(value: str) -> str:
    """A value outside the vocabulary that still fits the column: PostgreSQL would refuse
    a longer one as too long (DataError) before any CHECK is looked at."""
    return value.swapcase()


@pytest.fixture
def rows(app) -> dict[str, int]:
    """One row in every table with a closed column, written through the ORM; their ids."""
    with app.app_context():
        member = Member(phone="+447700900001", language="en", consent_source="staff")
        other = Member(phone="+447700900002", language="en", status="opted_out")
        other.opt_out_source = "sms"
        consultation = Consultation(code="P1", kind="yes_no", status="open")
        db.session.add_all([member, other, consultation])
        db.session.flush()
        broadcast = Broadcast(kind="summary", consultation_id=consultation.id)
        db.session.add(broadcast)
        db.session.flush()
        message = Message(
            direction="out",
            member_id=member.id,
            phone=member.phone,
            status="sent",
            twilio_sid="SM" + "1" * 32,
            broadcast_id=broadcast.id,
        )
        vote = Vote(
            consultation_id=consultation.id,
            member_id=member.id,
            choice="yes",
            channel="sms",
            receipt="ABC123",
        )
        db.session.add_all([message, vote])
        db.session.flush()
        change = VoteChange(vote_id=vote.id, choice="yes", channel="sms")
        comment = Comment(member_id=member.id, body="hello", channel="web", language="en")
        account = StaffAccount(
            email="staff@example.org", password_hash="x", role="viewer", session_version=1
        )
        token = ApiToken(name="t", token_hash="0" * 64, role="viewer")
        upload = MemberImport(created_by="staff:someone@example.org")
        db.session.add_all([change, comment, account, token, upload])
        db.session.commit()
        return {
            "member": member.id,
            "other_member": other.id,
            "consultation": consultation.id,
            "broadcast": broadcast.id,
            "message": message.id,
            "vote": vote.id,
            "vote_change": change.id,
            "comment": comment.id,
            "staff_account": account.id,
            "api_token": token.id,
            "member_import": upload.id,
        }


def test_every_closed_vocabulary_is_an_enum_column():
    assert set(ENUM_COLUMNS) == CLOSED


def test_each_check_is_named_after_its_column():
    """The CHECKs are named ck_<table>_<column> by the naming convention, which uses
    the Enum's name: the migration creates them under these names."""
    for table, column in ENUM_COLUMNS:
        assert db.metadata.tables[table].c[column].type.name == column


@pytest.mark.parametrize(("table", "column"), ENUM_COLUMNS)
def test_an_update_outside_the_vocabulary_is_refused(app, rows, table, column):
    """Every allowed value is accepted and a near miss is refused, by the database."""
    update = text(f"UPDATE {table} SET {column} = :value WHERE id = :id")
    values = values_of(table, column)
    with app.app_context(), db.engine.connect() as conn:
        for value in values:
            with conn.begin() as transaction:
                assert conn.execute(update, {"value": value, "id": rows[table]}).rowcount == 1
                transaction.rollback()
        with pytest.raises(IntegrityError), conn.begin():
            conn.execute(update, {"value": near_miss(values[0]), "id": rows[table]})


@pytest.mark.parametrize(("table", "column"), ENUM_COLUMNS)
def test_an_insert_outside_the_vocabulary_is_refused(app, rows, table, column):
    """A copy of a valid row goes in with an allowed value and not with a near miss."""
    columns = [c.name for c in db.metadata.tables[table].columns if c.name != "id"]
    fresh = {**FRESH.get(table, {}), column: ":value"}
    chosen = ", ".join(fresh.get(name, name) for name in columns)
    copy = text(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} FROM {table} WHERE id = :id"
    )
    params = {"id": rows[table], "other_member": rows["other_member"]}
    allowed = values_of(table, column)[-1]
    with app.app_context(), db.engine.connect() as conn:
        with conn.begin() as transaction:
            assert conn.execute(copy, {**params, "value": allowed}).rowcount == 1
            transaction.rollback()
        with pytest.raises(IntegrityError), conn.begin():
            conn.execute(copy, {**params, "value": near_miss(allowed)})


def test_the_orm_refuses_a_value_before_the_database_sees_it(app, rows):
    with app.app_context():
        member = db.session.get(Member, rows["member"])
        member.status = "gone"
        with pytest.raises(StatementError, match="'gone' is not among the defined enum values"):
            db.session.flush()
        db.session.rollback()


def test_values_come_back_as_members_equal_to_their_strings(app, rows):
    with app.app_context():
        member = db.session.get(Member, rows["member"])
        assert member.status is MemberStatus.ACTIVE and member.status == "active"
        assert f"{member.status}" == "active" and str(member.status) == "active"
        status = db.session.execute(select(Message.status)).scalar_one()
        assert status is MessageStatus.SENT and {"sent": 1}[status] == 1
        channels = db.session.execute(select(Comment.channel)).scalars().all()
        assert channels == [Channel.WEB] and channels == ["web"]


def test_a_string_is_stored_as_the_value_not_the_member_name(app, rows):
    """values_callable: the database holds `opted_out`, never `OPTED_OUT`."""
    with app.app_context():
        member = db.session.get(Member, rows["member"])
        member.status = MemberStatus.OPTED_OUT
        member.opted_out_at = utcnow()
        db.session.commit()
        raw = db.session.execute(
            text("SELECT status FROM member WHERE id = :id"), {"id": rows["member"]}
        ).scalar_one()
        assert type(raw) is str and raw == "opted_out"
