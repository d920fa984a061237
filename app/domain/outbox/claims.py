"""One send's steps in the database: claim, re-check, release, record Twilio's answer.

A message is claimed on its own (`UPDATE ... SET status='sending' WHERE id=:id AND
status='queued' AND <member may be texted> AND <its broadcast is sending> AND <no
welcome text to the member is still ahead of it>`): the row count says whether it is
ours. Consent is checked in the claim and once more just before the Twilio call
(`recheck`), so a STOP that arrives mid-broadcast is honoured for every text not yet
handed to Twilio. A member who opted out, was erased or is blocked by the carrier
(Twilio's 21610) gets nothing: their texts are skipped.

A member staff added gets their welcome text before any other: while it is queued or
being sent, their other texts are not claimed but wait WELCOME_WAIT seconds (their
`next_attempt_at`), so neither a broadcast queued right after the member was added nor
a retry of the welcome itself can overtake it.

Every function here only flushes. The sender (`app.tasks.sender`) commits after each
step: the claim is committed before the Twilio call, which happens outside any
transaction, and the answer is recorded in a short transaction of its own.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ...config import Settings
from ...extensions import db
from ...models import Broadcast, Member, Message, MessageStatus, utcnow
from ...sms.backends import FAILED, IN_DOUBT, OPTED_OUT, RETRY, SendError
from .. import links, members
from ..sql import changed
from .status import PENDING, forward_to

#: Seconds a text waits, unclaimed, while the member's welcome text is still ahead of it.
WELCOME_WAIT = 5.0


def _opted_out() -> ColumnElement[bool]:
    """SQL: the text's member (by id, or by number) must get nothing: opted out, erased,
    or blocked by the carrier."""
    return exists().where(
        or_(
            Member.status.in_(("opted_out", "erased")),
            Member.carrier_blocked_at.is_not(None),
        ),
        or_(Member.id == Message.member_id, Member.phone == Message.phone),
    )


def _inactive_broadcast_member() -> ColumnElement[bool]:
    active_member = exists().where(Member.id == Message.member_id, members.textable())
    return and_(Message.broadcast_id.is_not(None), ~active_member)


def _welcome_ahead() -> ColumnElement[bool]:
    """SQL: another text to the same member, their welcome, is still queued or sending."""
    welcome = aliased(Message)
    return exists().where(
        welcome.member_id == Message.member_id,
        welcome.kind == members.WELCOME_KIND,
        welcome.status.in_(PENDING),
        welcome.id != Message.id,
    )


def claim(message_id: int, owner: str | None = None) -> bool:
    """Take a queued message for sending (as `owner`); False if it is not ours to send.

    Skips it (status 'skipped') when its member has opted out, was erased or is
    blocked by the carrier, or, for a broadcast, is no longer active. Leaves it queued
    when its broadcast is paused, and for WELCOME_WAIT seconds when the member's
    welcome text is still ahead of it. Flushed, not committed: commit before calling
    Twilio.
    """
    now = utcnow()
    active_member = exists().where(Member.id == Message.member_id, members.textable())
    sending_broadcast = exists().where(
        Broadcast.id == Message.broadcast_id, Broadcast.status == "sending"
    )
    claimed = changed(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "queued",
            ~_opted_out(),
            or_(Message.broadcast_id.is_(None), and_(active_member, sending_broadcast)),
            ~_welcome_ahead(),
        )
        .values(status="sending", claimed_at=now, claimed_by=owner, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed != 1:
        skipped = changed(
            update(Message)
            .where(
                Message.id == message_id,
                Message.status == "queued",
                or_(_opted_out(), _inactive_broadcast_member()),
            )
            .values(status="skipped", failed_reason="opted out", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not skipped:
            changed(
                update(Message)
                .where(Message.id == message_id, Message.status == "queued", _welcome_ahead())
                .values(next_attempt_at=now + timedelta(seconds=WELCOME_WAIT), updated_at=now)
                .execution_options(synchronize_session=False)
            )
    return claimed == 1


class Claimed(NamedTuple):
    """What the sender needs from a message it has just claimed."""

    phone: str
    body: str
    broadcast_id: int | None
    claimed_at: datetime | None


def claimed(message_id: int) -> Claimed:
    """The phone, body, broadcast and claim time of a message we just claimed.

    Call it in the claim's transaction, before committing: a text that waits for its
    member's personal link (a broadcast with links) gets it here, a new link issued
    and the final body stored, so the claim and the link stand or fall together. Once
    committed, the body is final: a text taken back from a dead worker and claimed
    again is sent with the same link (the sweeper finds it at Twilio by that body), and
    a text that never got this far is still marked and gets its link when claimed.
    """
    # populate_existing: the claim was a Core UPDATE; a copy in the session is stale.
    message = db.session.get(Message, message_id, populate_existing=True)
    assert message is not None
    if (
        links.waiting_for_link(message.body)
        and message.member_id is not None
        and message.consultation_id is not None
    ):
        token = links.issue(message.member_id, message.consultation_id)
        message.body = links.fill(message.body, token)
        db.session.flush()
    return Claimed(message.phone, message.body, message.broadcast_id, message.claimed_at)


def recheck(message_id: int, claimed_at: datetime | None = None) -> bool:
    """The last look before a claimed text goes to Twilio: skip it if its member opted
    out since the claim (a STOP that landed while the send waited for its slot), and
    let it go only while the claim made at `claimed_at` is still this sender's (a
    sender frozen past its lease may find the sweeper gave the text to another).
    True if it may go. Flushed, not committed."""
    skipped = changed(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "sending",
            or_(_opted_out(), _inactive_broadcast_member()),
        )
        .values(status="skipped", failed_reason="opted out", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    ours = True
    if claimed_at is not None and not skipped:
        ours = (
            db.session.execute(
                select(Message.id).where(
                    Message.id == message_id,
                    Message.status == "sending",
                    Message.claimed_at == claimed_at,
                )
            ).first()
            is not None
        )
    return skipped == 0 and ours


def release(message_id: int) -> None:
    """Give a claim back untried: the text is queued again as it was (flushed)."""
    db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "sending")
        .values(status="queued", claimed_at=None, claimed_by=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def record_sent(message_id: int, sid: str) -> None:
    """Twilio accepted it: keep the sid and move it to 'sent', never backwards (flushed)."""
    now = utcnow()
    db.session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(
            twilio_sid=func.coalesce(Message.twilio_sid, sid),
            status=forward_to("sent"),
            sent_at=func.coalesce(Message.sent_at, now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def backoff(attempt: int, settings: Settings) -> float:
    """Seconds before retry number `attempt` (1-based): exponential, capped, jittered."""
    delay = min(settings.outbox_retry_cap, settings.outbox_retry_base * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.5)


def record_failure(message_id: int, error: SendError, settings: Settings) -> None:
    """Apply a SendError to a claimed message (see app.domain.outbox); flushed.

    A message no longer 'sending' (taken back meanwhile) is left alone.
    """
    now = utcnow()
    message = db.session.get(Message, message_id)
    if message is None or message.status != "sending":
        return
    if error.outcome == IN_DOUBT:
        # Keep the claim: a callback will reconcile it, else the sweeper re-queues it.
        message.failed_reason = error.reason
    elif error.outcome == RETRY:
        message.error_count += 1
        message.error_code = error.code
        if message.error_count >= settings.outbox_max_attempts:
            message.status = MessageStatus.FAILED
            message.failed_reason = f"gave up after {message.error_count} tries: {error.reason}"
        else:
            message.status = MessageStatus.QUEUED
            message.failed_reason = error.reason
            delay = backoff(message.error_count, settings)
            message.next_attempt_at = now + timedelta(seconds=delay)
            if message.broadcast_id is not None:
                status = db.session.execute(
                    select(Broadcast.status).where(Broadcast.id == message.broadcast_id)
                ).scalar_one()
                if status == "cancelled":
                    message.status, message.failed_reason = (
                        MessageStatus.SKIPPED,
                        "broadcast cancelled",
                    )
    elif error.outcome == OPTED_OUT:
        message.status = MessageStatus.SKIPPED
        message.error_code = error.code
        message.failed_reason = f"blocked by the carrier (Twilio {error.code or 21610})"
        member = _member_for(message)
        if member is not None:
            members.carrier_blocked(member, error.code or "21610", now)
    else:
        assert error.outcome == FAILED
        message.status = MessageStatus.FAILED
        message.error_code = error.code
        message.failed_reason = error.reason
    message.updated_at = now
    db.session.flush()


def _member_for(message: Message) -> Member | None:
    if message.member_id is not None:
        return db.session.get(Member, message.member_id)
    return db.session.execute(
        select(Member).where(Member.phone == message.phone)
    ).scalar_one_or_none()


def status_callback_url(settings: Settings, message_id: int) -> str | None:
    """Where Twilio reports this message's status (None without PUBLIC_BASE_URL)."""
    base = settings.public_base_url
    return f"{base}/twilio/status?m={message_id}" if base else None
