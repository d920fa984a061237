"""Texts that reached Twilio while Chorus could not take them, recovered from its list.

Twilio does not retry an inbound webhook that failed (Chorus down, restarting, or
answering 503 while the database was away), but the text stays in Twilio's Messages
list. The sweeper calls `recover` now and then: it lists what members sent since the
last look, and every text whose MessageSid Chorus does not have goes through the
ordinary inbound path (`handle_inbound`: the MessageSid unique key makes it exactly
once, whoever gets there first). The reply, which a webhook would have carried back as
TwiML, is queued as an ordinary text instead, so it is sent, consent-checked and
status-tracked like any other.

Window. Texts newer than `GRACE` are left for their webhook, which Twilio is still
trying; otherwise a member could get a reply by text and then the same reply again in
the late webhook's answer. The next look starts `OVERLAP` before where the last one
ended (Twilio's list can lag a little behind). Where that mark was kept is Redis, or
the process without Redis; when it is lost, the look goes back to the newest text
stored before it (or `LOOKBACK`, whichever is earlier), at most `MAX_LOOKBACK`: texts
already stored are skipped by their sid, so looking further back costs only the list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..config import Settings
from ..extensions import db
from ..jobs import KEY_PREFIX, jobs
from ..models import Message, MessageStatus
from ..sms.backends import Backend, Received
from .inbound import handle_inbound
from .outbox import recovery

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=2)
OVERLAP = timedelta(minutes=10)
LOOKBACK = timedelta(days=1)
MAX_LOOKBACK = timedelta(days=7)
CHECKPOINT_KEY = KEY_PREFIX + "inbound-recovered-until"


@dataclass
class Recovered:
    """What one text's recovery did: its inbound row and the texts to enqueue once committed."""

    message_id: int | None
    queued: list[int] = field(default_factory=list)


def checkpoint() -> datetime | None:
    """Where the last complete look ended, if that is still known."""
    redis = jobs().redis
    if redis is not None:
        raw = redis.get(CHECKPOINT_KEY)
        return datetime.fromisoformat(raw.decode()) if raw else None
    stored = jobs().app.extensions.get("chorus_inbound_recovered_until")
    return stored if isinstance(stored, datetime) else None


def save_checkpoint(until: datetime) -> None:
    """Remember that every text sent before `until` has been looked at."""
    redis = jobs().redis
    if redis is not None:
        redis.set(CHECKPOINT_KEY, until.isoformat())
    else:
        jobs().app.extensions["chorus_inbound_recovered_until"] = until


def window(now: datetime, grace: timedelta = GRACE) -> tuple[datetime, datetime]:
    """(since, until): the texts sent in this range are looked at now; newer ones than
    `grace` are left to their webhook."""
    until = now - grace
    mark = checkpoint()
    if mark is None:
        newest = db.session.scalar(
            select(func.max(Message.created_at)).where(Message.direction == "in")
        )
        mark = min(newest, now - LOOKBACK) if newest is not None else now - LOOKBACK
    since = max(mark - OVERLAP, now - MAX_LOOKBACK)
    return min(since, until), until


def recover_one(settings: Settings, received: Received) -> Recovered:
    """Handle one recovered text as the webhook would, its reply queued as a text.

    Flushed, not committed: the caller commits, then enqueues `queued`. Safe to run
    twice: a text stored already (by its webhook, or an earlier recovery) does nothing.
    """
    # Begin the session's transaction first, so that the inbound path writes inside it
    # (not on a connection of its own) and the reply can be turned into a queued text
    # in the same commit.
    db.session.execute(select(1))
    result = handle_inbound(settings, received.sid, received.from_, received.to, received.body)
    if result.duplicate or result.message_id is None:
        return Recovered(None)
    queued = list(result.queued)
    reply = db.session.scalar(
        select(Message)
        .where(Message.reply_to_id == result.message_id, Message.direction == "out")
        .order_by(Message.id)
        .limit(1)
    )
    if reply is not None and reply.twilio_sid is None and reply.status == "sent":
        # Stored as a TwiML answer; nobody carried it back: send it as a text.
        reply.status = MessageStatus.QUEUED
        reply.sent_at = None
        reply.error_count = 0
        db.session.flush()
        queued.insert(0, reply.id)
    return Recovered(result.message_id, queued)


def to_recover(backend: Backend, since: datetime, until: datetime) -> list[Received]:
    """The texts in Twilio's list sent in [since, until) that Chorus does not have."""
    listed = [
        received
        for received in backend.list_received(since)
        if received.sent_at is None or received.sent_at < until
    ]
    new = set(recovery.new_sids([received.sid for received in listed]))
    return [received for received in listed if received.sid in new]
