"""The common texts, in two round trips: one read, one atomic write.

Most inbound texts are an active member voting, commenting or asking for HELP. For
those, `handle_common` does what `inbound.handle_inbound` would do with two
statements instead of 5-11 ORM statements:

1. **Read** (one SELECT): the member by phone, their groups, and every open
   consultation, each with the member's vote on it and the id of the last text about
   it that reached them (the current-consultation rule of `current.py`, evaluated in
   Python on these rows). Only open consultations: a text naming any other code gets
   its refusal from the full path. (The read has no parameter but the phone, so
   PostgreSQL keeps one generic plan for it instead of planning it for every text.)
2. **Decide** in Python, with the same functions as the full path (`confirm_vote`,
   `render`).
3. **Write** everything at once and commit: the inbound Message (its unique MessageSid
   decides whether this is a repeat), the vote and its history, the comment, and the
   reply. On PostgreSQL that is one statement with data-modifying CTEs, run in
   autocommit, so the write and the commit are a single round trip; on SQLite it is
   the same rows one INSERT at a time inside one transaction.

Anything else, or anything unusual (not an active member, a code that is unknown,
closed or not theirs, a choice that does not fit, nothing open, a repeated
MessageSid), returns None before anything is written, and the caller takes the full
path, which owns every other answer. The two paths share their decisions, so they
answer alike; the inbound test suite runs through this one for the common texts and
through the full path for the rest.

Concurrency: a first vote is a plain INSERT, so if the same member's vote appeared
in between (two texts at once) or the receipt was drawn twice, the unique keys fail
the whole write (nothing of it is kept) and the text is handled again from the read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import psycopg
from flask import current_app
from sqlalchemy import Connection, and_, bindparam, case, func, literal, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from ..config import Settings
from ..extensions import db
from ..models import (
    Comment,
    Consultation,
    Member,
    MemberGroup,
    Message,
    Vote,
    VoteChange,
    choices_for,
    option_label,
    utcnow,
)
from ..sms import segments
from ..sms.render import render
from . import comments, grammar
from .current import REACHED
from .replies import confirm_vote
from .votes import new_receipt

log = logging.getLogger(__name__)

COMMON = ("vote", "text", "help")
ATTEMPTS = 4  # a write that lost a race is decided again from a fresh read
# A write that lost a race to a unique key, through SQLAlchemy or through psycopg.
RACES = (IntegrityError, psycopg.IntegrityError)
MAX_STORED = 5000  # longer bodies are cut before storage (Twilio itself stops at 1,600)

_m = Member.__table__
_c = Consultation.__table__
_v = Vote.__table__
_msg = Message.__table__
_g = MemberGroup.__table__

_last_texted = (
    select(func.max(_msg.c.id))
    .where(
        _msg.c.member_id == _m.c.id,
        _msg.c.consultation_id == _c.c.id,
        _msg.c.direction == "out",
        _msg.c.status.in_(REACHED),
    )
    .scalar_subquery()
)
_groups = (
    select(func.aggregate_strings(_g.c.name, ","))
    .where(_g.c.member_id == _m.c.id)
    .scalar_subquery()
)
# A member blocked by the carrier reads as not active: the full path handles their texts
# (and sends them no reply).
_status = case(
    (_m.c.carrier_blocked_at.is_not(None), literal("carrier_blocked")), else_=_m.c.status
)
READ = (
    select(
        _m.c.id,
        _status.label("status"),
        _m.c.language,
        _groups.label("groups"),
        _c.c.id.label("c_id"),
        _c.c.code,
        _c.c.kind,
        _c.c.status.label("c_status"),
        _c.c.options,
        _c.c.audience,
        _c.c.opened_at,
        _last_texted.label("last_texted"),
        _v.c.id.label("vote_id"),
        _v.c.choice,
        _v.c.receipt,
    )
    .select_from(
        _m.outerjoin(_c, _c.c.status == "open").outerjoin(
            _v, and_(_v.c.consultation_id == _c.c.id, _v.c.member_id == _m.c.id)
        )
    )
    .where(_m.c.phone == bindparam("phone"))
)


@dataclass
class Row:
    """A consultation as the read found it, with the member's vote on it."""

    id: int
    code: str
    kind: str
    status: str
    options: list[dict[str, Any]]
    audience: list[str]
    opened_at: datetime | None
    last_texted: int | None
    vote_id: int | None
    vote_choice: str | None
    receipt: str | None

    def option_label(self, number: int, language: str, fallback: str = "en") -> str:
        """As Consultation.option_label."""
        return option_label(self.options, number, language, fallback)

    @property
    def choices(self) -> list[str]:
        """As Consultation.choices."""
        return choices_for(self.kind, self.options)


@dataclass
class Seen:
    """What the read returned: the member and the consultations they could mean."""

    member_id: int
    status: str
    language: str
    groups: set[str]
    rows: list[Row] = field(default_factory=list)

    def reaches(self, row: Row) -> bool:
        """True when the member is in the consultation's audience (empty = everyone)."""
        return not row.audience or bool(set(row.audience) & self.groups)

    def current(self) -> list[Row]:
        """Open consultations the member could mean, the current one first (current.py)."""
        mine = [r for r in self.rows if r.status == "open" and self.reaches(r)]
        texted = sorted((r for r in mine if r.last_texted), key=lambda r: -(r.last_texted or 0))
        if texted:
            return texted
        never = datetime.min.replace(tzinfo=None)
        return sorted(
            mine,
            key=lambda r: (r.opened_at is not None, _naive(r.opened_at) or never, r.id),
            reverse=True,
        )


def _naive(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=None) if moment is not None else None


@dataclass
class Plan:
    """Every row the text writes, decided before the write."""

    member_id: int
    language: str
    reply: str
    reply_kind: str
    reply_consultation_id: int | None = None
    vote: str | None = None  # "insert" | "update" | None
    vote_id: int | None = None
    consultation_id: int | None = None
    choice: str | None = None
    previous: str | None = None
    receipt: str | None = None
    comment: str | None = None
    comment_consultation_id: int | None = None


def handle_common(
    settings: Settings, sid: str, phone: str, body: str, intent: grammar.Intent
) -> tuple[int, str, str, bool] | None:
    """Handle a common text: (inbound id, reply, reply kind, committed), or None when the
    full path must (nothing has been written then).

    At the start of a request (no transaction in the session) on PostgreSQL, the text
    gets a pooled connection of its own in autocommit: the read needs no BEGIN and the
    one-statement write commits itself, so `committed` is True. Otherwise it runs on
    the session's connection, inside the caller's transaction, each write in a
    savepoint, `committed` is False and the caller commits (as with the full path).
    """
    if intent.kind not in COMMON:
        return None
    busy = _session_busy()
    if db.engine.dialect.name == "postgresql":
        core = _core_read()
        if not busy:
            done = _own_connection(settings, sid, phone, body, intent, core)
            return None if done is None else (*done, True)
        session = db.session()

        def read() -> list[Any]:
            if core:
                return list(session.connection().execute(READ, {"phone": phone}))
            return list(session.connection().exec_driver_sql(PG_READ, {"phone": phone}))

        def write(plan: Plan, values: dict[str, Any]) -> int | None:
            with session.begin_nested():  # the SAVEPOINT is emitted by connection()
                return session.connection().exec_driver_sql(PG_WRITE[plan.vote], values).scalar()

    else:
        session = db.session()

        def read() -> list[Any]:
            return list(session.connection().execute(READ, {"phone": phone}))

        def write(plan: Plan, values: dict[str, Any]) -> int | None:
            if busy:  # the caller's transaction: a savepoint undoes a lost race
                with session.begin_nested():  # the SAVEPOINT is emitted by connection()
                    return _write_one_by_one(session.connection(), plan, values)
            try:  # our own transaction (the caller commits it)
                return _write_one_by_one(session.connection(), plan, values)
            except RACES:
                session.rollback()
                raise

    done = _attempts(settings, sid, phone, body, intent, read, write)
    return None if done is None else (*done, False)


def _session_busy() -> bool:
    """True when this context's session holds a transaction (without making a session)."""
    return db.session.registry.has() and db.session().in_transaction()


def _core_read() -> bool:
    """True when the app's FAST_PATH_SQL is "core": PostgreSQL reads with the Core READ
    (as SQLite does) instead of PG_READ's text. A switch so that `make bench` can
    measure both; "text" (the default) until it has."""
    choice = current_app.config.get("FAST_PATH_SQL", "text")
    if choice not in ("text", "core"):
        raise ValueError(f"FAST_PATH_SQL must be text or core, not {choice!r}")
    return bool(choice == "core")


def _own_connection(
    settings: Settings, sid: str, phone: str, body: str, intent: grammar.Intent, core: bool
) -> tuple[int, str, str] | None:
    """PostgreSQL, outside any transaction: psycopg directly, in autocommit (the read
    through SQLAlchemy when `core`)."""
    if core:
        return _own_core_connection(settings, sid, phone, body, intent)
    pooled = db.engine.raw_connection()
    # Only ever a live psycopg 3 connection here: PostgreSQL through psycopg is the caller's test.
    pg = cast("psycopg.Connection[tuple[Any, ...]]", pooled.driver_connection)
    try:
        pg.autocommit = True
        cursor = pg.cursor()

        def read() -> list[Any]:
            return cursor.execute(PG_READ, {"phone": phone}, prepare=True).fetchall()

        def write(plan: Plan, values: dict[str, Any]) -> int | None:
            row = cursor.execute(PG_WRITE[plan.vote], values, prepare=True).fetchone()
            inbound_id: int | None = row[0] if row else None
            return inbound_id

        return _attempts(settings, sid, phone, body, intent, read, write)
    except psycopg.OperationalError:
        pooled.invalidate()  # broken: the pool must not hand it out again
        raise
    finally:
        if not pg.closed:
            pg.autocommit = False
        pooled.close()


def _own_core_connection(
    settings: Settings, sid: str, phone: str, body: str, intent: grammar.Intent
) -> tuple[int, str, str] | None:
    """As `_own_connection`, with the Core READ run by SQLAlchemy on the same autocommit
    connection; the write is the same PG_WRITE statement through psycopg."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        pg = conn.connection.driver_connection
        assert pg is not None  # a checked-out connection always has its driver's
        cursor = pg.cursor()

        def read() -> list[Any]:
            return list(conn.execute(READ, {"phone": phone}))

        def write(plan: Plan, values: dict[str, Any]) -> int | None:
            row = cursor.execute(PG_WRITE[plan.vote], values, prepare=True).fetchone()
            return row[0] if row else None

        try:
            return _attempts(settings, sid, phone, body, intent, read, write)
        except psycopg.OperationalError:
            conn.invalidate()  # broken under SQLAlchemy's feet: the pool must not reuse it
            raise


def _attempts(
    settings: Settings,
    sid: str,
    phone: str,
    body: str,
    intent: grammar.Intent,
    read: Callable[[], list[Any]],
    write: Callable[[Plan, dict[str, Any]], int | None],
) -> tuple[int, str, str] | None:
    """Read, decide, write; again from the read when the write lost a race."""
    for _ in range(ATTEMPTS):
        seen = _seen(read())
        plan = _decide(settings, seen, intent, body) if seen is not None else None
        if plan is None:
            return None
        try:
            inbound_id = write(plan, _values(sid, phone, body, intent, plan))
        except RACES as exc:
            # A concurrent first vote by this member, or a receipt drawn twice:
            # nothing of this write was kept; decide again from a fresh read.
            log.info("inbound %s: write lost a race (%s); again", sid, exc)
            continue
        if inbound_id is None:
            return None  # a repeated MessageSid: the full path replays the first answer
        return inbound_id, plan.reply, plan.reply_kind
    return None


def _seen(rows: list[Any]) -> Seen | None:
    """The read's rows (the columns of READ, in order) as a Seen."""
    if not rows:
        return None
    member_id, status, language, groups = rows[0][:4]
    seen = Seen(member_id, status, language, {g for g in (groups or "").split(",") if g})
    for r in rows:
        if r[4] is not None:
            row = Row(*r[4:8], r[8] or [], r[9] or [], *r[10:])  # type: ignore[call-arg]  # mypy miscounts a *slice before plain args
            seen.rows.append(row)
    return seen


def _decide(settings: Settings, seen: Seen, intent: grammar.Intent, body: str) -> Plan | None:
    """The same answers as inbound._dispatch for an active member's vote, comment or HELP;
    None for every case that path answers differently (refusals, menus, strangers)."""
    if seen.status != "active":
        return None
    language = seen.language
    if intent.kind == "help":
        reply = render("help", language, org=settings.org_name)
        return Plan(seen.member_id, language, reply, "help")
    current = seen.current()
    if intent.code is not None:
        target = next((r for r in seen.rows if r.code == intent.code), None)
        if target is None or target.status != "open" or not seen.reaches(target):
            return None  # unknown, draft, closed or not theirs: the full path says which
        other = None
    elif current:
        target = current[0]
        other = current[1].code if len(current) > 1 else None
    else:
        target, other = None, None

    if intent.kind == "text":
        comment = (intent.comment or body).strip()
        if target is None:
            reply = render("comment_to_staff", language)
            return Plan(seen.member_id, language, reply, "comment_to_staff", comment=comment)
        return _comment_plan(seen, target, other, comment)

    # A vote.
    if target is None or target.kind == "open" or intent.choice not in target.choices:
        return None  # nothing open, comments only, or a choice that does not fit
    plan = Plan(
        seen.member_id,
        language,
        reply="",
        reply_kind="",
        reply_consultation_id=target.id,
        consultation_id=target.id,
        choice=intent.choice,
    )
    if target.vote_id is None:
        plan.vote, plan.receipt = "insert", new_receipt()
    else:
        plan.receipt, plan.previous = target.receipt, target.vote_choice
        if target.vote_choice != intent.choice:
            plan.vote, plan.vote_id = "update", target.vote_id
    assert plan.receipt is not None  # a vote row always has its receipt
    changed = plan.vote == "update"
    if intent.comment:
        plan.comment = intent.comment
        plan.comment_consultation_id = target.id
    plan.reply_kind, plan.reply = confirm_vote(
        target,
        language,
        choice=intent.choice,
        previous=plan.previous,
        receipt=plan.receipt,
        other=other,
        with_comment=bool(intent.comment),
        changed=changed,
        typed=intent.typo,
    )
    return plan


def _comment_plan(seen: Seen, target: Row, other: str | None, comment: str) -> Plan:
    kind = "comment_recorded_other" if other else "comment_recorded"
    values = {"code": target.code}
    if other:
        values["other"] = other
    return Plan(
        seen.member_id,
        seen.language,
        render(kind, seen.language, **values),
        kind,
        reply_consultation_id=target.id,
        comment=comment,
        comment_consultation_id=target.id,
    )


# --- the write ---------------------------------------------------------------------------


def _comment(plan: Plan, now: datetime) -> dict[str, Any]:
    """The comment's columns (app.domain.comments shapes them) as `comment_*` parameters."""
    row = comments.row(
        consultation_id=plan.comment_consultation_id,
        member_id=plan.member_id,
        body=(plan.comment or "")[:MAX_STORED],
        channel="sms",
        language=plan.language,
        now=now,
    )
    return {"comment_" + column: value for column, value in row.items()}


# The PostgreSQL statement names every parameter, comment or not.
_NO_COMMENT: dict[str, Any] = {
    "comment_" + column: None
    for column in comments.row(consultation_id=None, member_id=0, body="", channel="", language="")
}


def _values(sid: str, phone: str, body: str, intent: grammar.Intent, plan: Plan) -> dict[str, Any]:
    """The write's parameters."""
    now = utcnow()
    text_info = segments.count(body)
    reply_info = segments.count(plan.reply)
    return {
        "member_id": plan.member_id,
        "phone": phone,
        "body": body,
        "kind": intent.kind,
        "sid": sid,
        "segments": max(text_info.segments, 1),
        "encoding": text_info.encoding,
        "now": now,
        "vote_id": plan.vote_id,
        "consultation_id": plan.consultation_id,
        "choice": plan.choice,
        "receipt": plan.receipt,
        "has_comment": plan.comment is not None,
        **(_NO_COMMENT if plan.comment is None else _comment(plan, now)),
        "reply": plan.reply,
        "reply_kind": plan.reply_kind,
        "reply_segments": reply_info.segments,
        "reply_encoding": reply_info.encoding,
        "reply_consultation_id": plan.reply_consultation_id,
    }


# --- PostgreSQL: the read and the one-statement write, in psycopg's parameter style -----

PG_READ = """
SELECT m.id,
       CASE WHEN m.carrier_blocked_at IS NOT NULL THEN 'carrier_blocked' ELSE m.status END,
       m.language,
       (SELECT string_agg(g.name, ',') FROM member_group g WHERE g.member_id = m.id),
       c.id, c.code, c.kind, c.status, c.options, c.audience, c.opened_at,
       (SELECT max(t.id) FROM message t
         WHERE t.member_id = m.id AND t.consultation_id = c.id AND t.direction = 'out'
           AND t.status IN ('sending', 'sent', 'delivered', 'undelivered')),
       v.id, v.choice, v.receipt
FROM member m
LEFT JOIN consultation c ON c.status = 'open'
LEFT JOIN vote v ON v.consultation_id = c.id AND v.member_id = m.id
WHERE m.phone = %(phone)s"""

_PG_INBOUND = """
ins AS (
  INSERT INTO message (direction, status, member_id, phone, body, kind, twilio_sid,
                       segments, encoding, priority, error_count, created_at, updated_at)
  VALUES ('in', 'received', %(member_id)s, %(phone)s, %(body)s, %(kind)s, %(sid)s,
          %(segments)s, %(encoding)s, 'high', 0, %(now)s, %(now)s)
  ON CONFLICT (twilio_sid) DO NOTHING
  RETURNING id
)"""
_PG_VOTE = {
    "insert": """
v AS (
  INSERT INTO vote (consultation_id, member_id, choice, channel, receipt, created_at, updated_at)
  SELECT %(consultation_id)s::integer, %(member_id)s::integer, %(choice)s, 'sms', %(receipt)s,
         %(now)s, %(now)s
  FROM ins
  RETURNING id
)""",
    "update": """
v AS (
  UPDATE vote SET choice = %(choice)s, channel = 'sms', entered_by = NULL, updated_at = %(now)s
  WHERE id = %(vote_id)s AND EXISTS (SELECT 1 FROM ins)
  RETURNING id
)""",
}
# The history's `previous` is read from the statement's snapshot, before the update.
_PG_HISTORY = """
h AS (
  INSERT INTO vote_change (vote_id, choice, previous, channel, message_id, created_at)
  SELECT v.id, %(choice)s, (SELECT p.choice FROM vote p WHERE p.id = v.id), 'sms', ins.id,
         %(now)s
  FROM v, ins
)"""
_PG_REST = """
c AS (
  INSERT INTO comment (consultation_id, member_id, body, channel, language, visible,
                       message_id, created_at)
  SELECT %(comment_consultation_id)s::integer, %(comment_member_id)s::integer,
         %(comment_body)s, %(comment_channel)s, %(comment_language)s, %(comment_visible)s,
         ins.id, %(comment_created_at)s
  FROM ins WHERE %(has_comment)s
),
r AS (
  INSERT INTO message (direction, status, member_id, phone, body, kind, segments, encoding,
                       priority, error_count, consultation_id, reply_to_id, sent_at,
                       created_at, updated_at)
  SELECT 'out', 'sent', %(member_id)s::integer, %(phone)s, %(reply)s, %(reply_kind)s,
         %(reply_segments)s::integer, %(reply_encoding)s, 'high', 0,
         %(reply_consultation_id)s::integer, ins.id, %(now)s, %(now)s, %(now)s
  FROM ins
)
SELECT id FROM ins"""


def _pg_write(vote: str | None) -> str:
    parts = [_PG_INBOUND]
    if vote is not None:
        parts += [_PG_VOTE[vote], _PG_HISTORY]
    return "WITH " + ",".join(parts) + "," + _PG_REST


# One statement per kind of vote write: the inbound text, the vote and its history, the
# comment and the reply, all or nothing, and nothing at all for a repeated MessageSid.
PG_WRITE = {vote: _pg_write(vote) for vote in (None, "insert", "update")}


# --- SQLite (and any other database): the same rows through SQLAlchemy Core -----------


_SQLITE_INBOUND = (
    sqlite.insert(_msg)
    .on_conflict_do_nothing(index_elements=[_msg.c.twilio_sid])
    .returning(_msg.c.id)
)
_SQLITE_VOTE = _v.insert().returning(_v.c.id)
_SQLITE_CHANGE = _v.update().where(_v.c.id == bindparam("vote_id"))
_SQLITE_HISTORY = VoteChange.__table__.insert()
_SQLITE_COMMENT = Comment.__table__.insert()
_SQLITE_REPLY = _msg.insert()


def _write_one_by_one(conn: Connection, plan: Plan, values: dict[str, Any]) -> int | None:
    """The same rows, one INSERT at a time, in the transaction the caller holds."""
    now = values["now"]
    inbound_id: int | None = conn.execute(
        _SQLITE_INBOUND,
        {
            "direction": "in",
            "status": "received",
            "member_id": plan.member_id,
            "phone": values["phone"],
            "body": values["body"],
            "kind": values["kind"],
            "twilio_sid": values["sid"],
            "segments": values["segments"],
            "encoding": values["encoding"],
            "priority": "high",
            "error_count": 0,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar()
    if inbound_id is None:
        return None
    vote_id = plan.vote_id
    if plan.vote == "insert":
        vote_id = conn.execute(
            _SQLITE_VOTE,
            {
                "consultation_id": plan.consultation_id,
                "member_id": plan.member_id,
                "choice": plan.choice,
                "channel": "sms",
                "receipt": plan.receipt,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
    elif plan.vote == "update":
        conn.execute(
            _SQLITE_CHANGE,
            {
                "vote_id": vote_id,
                "choice": plan.choice,
                "channel": "sms",
                "entered_by": None,
                "updated_at": now,
            },
        )
    if plan.vote is not None:
        conn.execute(
            _SQLITE_HISTORY,
            {
                "vote_id": vote_id,
                "choice": plan.choice,
                "previous": plan.previous if plan.vote == "update" else None,
                "channel": "sms",
                "message_id": inbound_id,
                "created_at": now,
            },
        )
    if plan.comment is not None:
        conn.execute(
            _SQLITE_COMMENT,
            {
                **{
                    column[len("comment_") :]: value
                    for column, value in values.items()
                    if column.startswith("comment_")
                },
                "message_id": inbound_id,
            },
        )
    conn.execute(
        _SQLITE_REPLY,
        {
            "direction": "out",
            "status": "sent",
            "member_id": plan.member_id,
            "phone": values["phone"],
            "body": plan.reply,
            "kind": plan.reply_kind,
            "segments": values["reply_segments"],
            "encoding": values["reply_encoding"],
            "priority": "high",
            "error_count": 0,
            "consultation_id": plan.reply_consultation_id,
            "reply_to_id": inbound_id,
            "sent_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    return inbound_id
