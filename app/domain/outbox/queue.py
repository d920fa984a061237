"""Queueing outbound texts, and finding the ones that are due (flushed, never committed)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, or_, select

from ...extensions import db
from ...models import Message, utcnow
from ...sms import segments


def queue_message(
    *,
    phone: str,
    body: str,
    kind: str,
    member_id: int | None = None,
    consultation_id: int | None = None,
    reply_to_id: int | None = None,
    priority: str = "high",
) -> Message:
    """Add an outbound text to the outbox (flushed, not committed).

    After committing, call `app.tasks.outbox.send_soon(message.id)`; or use
    `app.tasks.outbox.send_text`, which does both.
    """
    info = segments.count(body)
    message = Message(
        direction="out",
        member_id=member_id,
        phone=phone,
        body=body,
        kind=kind,
        status="queued",
        segments=max(1, info.segments),
        encoding=info.encoding,
        consultation_id=consultation_id,
        reply_to_id=reply_to_id,
        priority=priority,
        error_count=0,
    )
    db.session.add(message)
    db.session.flush()
    return message


def due(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: the message has no retry pending, or its retry is due."""
    return or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= (now or utcnow()))


class SendState(NamedTuple):
    """What the one-to-one send job needs to know about a message."""

    status: str
    segments: int
    priority: str
    next_attempt_at: datetime | None


def send_state(message_id: int) -> SendState | None:
    """The message's status, cost, priority and retry time (None if there is none)."""
    row = db.session.execute(
        select(Message.status, Message.segments, Message.priority, Message.next_attempt_at).where(
            Message.id == message_id
        )
    ).first()
    return None if row is None else SendState(*row)


def due_singles(now: datetime, limit: int) -> list[tuple[int, str]]:
    """Due queued one-to-one texts (retries, texts whose job was lost), oldest first,
    with their priority (`high`, or `bulk` for an import's welcome texts)."""
    rows = db.session.execute(
        select(Message.id, Message.priority)
        .where(
            Message.direction == "out",
            Message.broadcast_id.is_(None),
            Message.status == "queued",
            due(now),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return [(message_id, str(priority)) for message_id, priority in rows]
