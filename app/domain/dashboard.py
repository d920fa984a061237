"""The figures on the console's first page, each one aggregate asked of the database.

Every query here reads indexed columns and returns a handful of rows, whatever the
size of the tables (100,000 members, 1,000,000 messages): nothing is counted in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, union

from ..extensions import db
from ..models import (
    Broadcast,
    BroadcastStatus,
    Comment,
    Consultation,
    ConsultationStatus,
    Member,
    MemberGroup,
    MemberStatus,
    Message,
    MessageStatus,
    Vote,
    utcnow,
)

SHOWN = 20  # consultations and broadcasts listed; more are counted and linked
IN_FLIGHT = (BroadcastStatus.SENDING, BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED)
FAILED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)


@dataclass
class OpenConsultation:
    """An open consultation and its participation so far."""

    consultation: Consultation
    participants: int  # members who voted or commented
    audience: int  # active members in its audience now


@dataclass
class BroadcastInFlight:
    """A broadcast that is sending, scheduled or paused, with its texts per status."""

    broadcast: Broadcast
    code: str | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        """Texts not yet handed to Twilio (queued, or claimed and being sent)."""
        return self.counts.get("queued", 0) + self.counts.get("sending", 0)

    @property
    def sent(self) -> int:
        """Texts Twilio has (sent, delivered, or in doubt and never resent)."""
        return sum(self.counts.get(s, 0) for s in ("sent", "delivered", "unknown"))

    @property
    def failed(self) -> int:
        return sum(self.counts.get(s, 0) for s in FAILED)

    @property
    def skipped(self) -> int:
        return self.counts.get("skipped", 0) + self.broadcast.skipped_at_start


def open_consultations(limit: int = SHOWN) -> tuple[list[OpenConsultation], int]:
    """The open consultations closing soonest (at most `limit`) and how many are open."""
    status_open = Consultation.status == ConsultationStatus.OPEN
    total = int(
        db.session.execute(
            select(func.count()).select_from(Consultation).where(status_open)
        ).scalar_one()
    )
    rows = list(
        db.session.execute(
            select(Consultation)
            .where(status_open)
            # Soonest closing first; those with no closing time after, newest first.
            .order_by(
                Consultation.closes_at.is_(None), Consultation.closes_at, Consultation.id.desc()
            )
            .limit(limit)
        )
        .scalars()
        .all()
    )
    if not rows:
        return [], total
    ids = [c.id for c in rows]
    people = union(
        select(Vote.consultation_id, Vote.member_id).where(Vote.consultation_id.in_(ids)),
        select(Comment.consultation_id, Comment.member_id).where(Comment.consultation_id.in_(ids)),
    ).subquery()
    participants = {
        consultation_id: int(n)
        for consultation_id, n in db.session.execute(
            select(people.c.consultation_id, func.count()).group_by(people.c.consultation_id)
        )
    }
    sizes: dict[tuple[str, ...], int] = {}
    for consultation in rows:
        key = tuple(sorted(consultation.audience or []))
        if key not in sizes:
            sizes[key] = audience_size(list(key))
    return [
        OpenConsultation(c, participants.get(c.id, 0), sizes[tuple(sorted(c.audience or []))])
        for c in rows
    ], total


def audience_size(groups: list[str]) -> int:
    """Active members in any of `groups` (no groups: every active member)."""
    where = [Member.status == MemberStatus.ACTIVE]
    if groups:
        where.append(
            exists().where(MemberGroup.member_id == Member.id, MemberGroup.name.in_(groups))
        )
    return int(
        db.session.execute(select(func.count()).select_from(Member).where(*where)).scalar_one()
    )


def broadcasts_in_flight(limit: int = SHOWN) -> tuple[list[BroadcastInFlight], int]:
    """Broadcasts sending, scheduled or paused (at most `limit`, newest first) with
    their texts counted per status, and how many there are."""
    in_flight = Broadcast.status.in_(IN_FLIGHT)
    total = int(
        db.session.execute(
            select(func.count()).select_from(Broadcast).where(in_flight)
        ).scalar_one()
    )
    rows = list(
        db.session.execute(
            select(Broadcast, Consultation.code)
            .outerjoin(Consultation, Consultation.id == Broadcast.consultation_id)
            .where(in_flight)
            .order_by(Broadcast.id.desc())
            .limit(limit)
        ).all()
    )
    found = {broadcast.id: BroadcastInFlight(broadcast, code) for broadcast, code in rows}
    if found:
        counted = db.session.execute(
            select(Message.broadcast_id, Message.status, func.count())
            .where(Message.broadcast_id.in_(list(found)))
            .group_by(Message.broadcast_id, Message.status)
        )
        for broadcast_id, status, n in counted:
            found[broadcast_id].counts[str(status)] = int(n)
    return list(found.values()), total


def inbox_count() -> int:
    """Texts meant for staff: free text from a member with nothing open to comment on,
    kept as a comment with no consultation (both inbound paths, app/domain/inbound.py
    and inbound_fast.py, make one for every `comment_to_staff` reply). Read through
    the index on comment.consultation_id, not message.kind (which has none).

    TODO(lead, at merge with the inbox): count only those not handled yet, e.g.
    `.join(Message, Message.id == Comment.message_id).where(Message.handled_at.is_(None))`
    once the inbox's `message.handled_at` exists (web notes have no message: decide how
    they are marked handled).
    """
    return int(
        db.session.execute(
            select(func.count()).select_from(Comment).where(Comment.consultation_id.is_(None))
        ).scalar_one()
    )


def failed_since(since: datetime) -> int:
    """Outbound texts that failed or went undelivered since `since` (by when they
    last changed: the failure). Read through the index on (status, updated_at)."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Message)
            .where(Message.status.in_(FAILED), Message.updated_at >= since)
        ).scalar_one()
    )


def failed_last_day(now: datetime | None = None) -> int:
    """Texts that failed in the last 24 hours."""
    return failed_since((now or utcnow()) - timedelta(days=1))
