"""Crash recovery: the database side of taking back claims whose worker died.

A claim goes stale when its worker died between claiming and recording Twilio's
answer (or stopped beating, see `app.jobs.Jobs.dead`). If a status callback has since
recorded its sid, it was sent. Otherwise the sweeper asks Twilio (see
`app.tasks.outbox.recover_stale`) and settles each claim with `settle`. Every
function here only flushes; the sweeper commits after each step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, or_, select, update

from ...extensions import db
from ...models import Broadcast, Message
from ..sql import changed


class StaleClaim(NamedTuple):
    """A stale claim with no sid: what to ask Twilio about it."""

    message_id: int
    phone: str
    body: str
    claimed_at: datetime


def claim_owners() -> list[str]:
    """The processes named on claims now in flight."""
    owners = db.session.execute(
        select(Message.claimed_by)
        .where(Message.status == "sending", Message.claimed_by.is_not(None))
        .distinct()
    ).scalars()
    return [owner for owner in owners if owner is not None]


def stale(now: datetime, lease: timedelta, dead: Sequence[str] = ()) -> ColumnElement[bool]:
    """SQL: a claim older than the lease, or any claim of a process that stopped beating."""
    if dead:
        return and_(
            Message.status == "sending",
            or_(Message.claimed_at < now - lease, Message.claimed_by.in_(dead)),
        )
    return and_(Message.status == "sending", Message.claimed_at < now - lease)


def settle_known(where: ColumnElement[bool], now: datetime) -> int:
    """Mark stale claims whose sid a callback recorded as sent; how many (flushed)."""
    return changed(
        update(Message)
        .where(where, Message.twilio_sid.is_not(None))
        .values(status="sent", updated_at=now)
        .execution_options(synchronize_session=False)
    )


def unknown(where: ColumnElement[bool], limit: int, now: datetime) -> list[StaleClaim]:
    """Stale claims with no sid, oldest first, whose next look is due: Twilio must be
    asked about these."""
    rows = db.session.execute(
        select(Message.id, Message.phone, Message.body, Message.claimed_at)
        .where(
            where,
            Message.twilio_sid.is_(None),
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        .order_by(Message.id)
        .limit(limit)
    ).all()
    return [StaleClaim(*row) for row in rows]


def new_sids(sids: list[str]) -> list[str]:
    """The sids (in order) that no message of ours holds yet; asked 500 at a time."""
    known: set[str | None] = set()
    for start in range(0, len(sids), 500):
        chunk = sids[start : start + 500]
        known.update(
            db.session.scalars(select(Message.twilio_sid).where(Message.twilio_sid.in_(chunk)))
        )
    return [sid for sid in sids if sid not in known]


def settle(claim: StaleClaim, sid: str | None, now: datetime) -> tuple[int, int]:
    """Settle one stale claim, if it is still the same claim: sent with `sid` when Twilio
    has it, else back to the queue. (reconciled, re-queued), each 0 or 1 (flushed)."""
    same_claim = _same_claim(claim)
    if sid is not None:
        done = changed(
            update(Message)
            .where(same_claim)
            .values(status="sent", twilio_sid=sid, sent_at=claim.claimed_at, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return done, 0
    requeued = changed(
        update(Message)
        .where(same_claim)
        .values(
            status="queued",
            next_attempt_at=now,
            error_count=Message.error_count + 1,
            failed_reason="re-queued: its worker stopped before Twilio answered",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return 0, requeued


def _same_claim(claim: StaleClaim) -> ColumnElement[bool]:
    return and_(
        Message.id == claim.message_id,
        Message.status == "sending",
        Message.claimed_at == claim.claimed_at,
        Message.twilio_sid.is_(None),
    )


def ask_later(claim: StaleClaim, now: datetime, reason: str) -> int:
    """Twilio could not be asked about this claim: ask again after a while that grows
    with the claim's age (half of it, at least 30 s). 1 if it was still ours (flushed)."""
    wait = max(timedelta(seconds=30), (now - claim.claimed_at) / 2)
    return changed(
        update(Message)
        .where(_same_claim(claim))
        .values(
            next_attempt_at=now + wait,
            failed_reason=f"in doubt, Twilio could not be asked: {reason}"[:200],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def give_up(claim: StaleClaim, now: datetime, reason: str) -> int:
    """In doubt for too long: `unknown`, never sent again (a late status callback still
    settles it). 1 if it was still ours (flushed)."""
    return changed(
        update(Message)
        .where(_same_claim(claim))
        .values(
            status="unknown",
            failed_reason=f"in doubt too long, not sent again: {reason}"[:200],
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def skip_cancelled(now: datetime) -> int:
    """Skip queued texts of cancelled broadcasts (re-queued after the cancel); flushed."""
    return changed(
        update(Message)
        .where(
            Message.status == "queued",
            Message.broadcast_id.in_(select(Broadcast.id).where(Broadcast.status == "cancelled")),
        )
        .values(status="skipped", failed_reason="broadcast cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    )
