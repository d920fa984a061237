"""Which consultation a member means when a text names none.

The current consultation is the open one most recently texted to the member (a
broadcast or a reply about it: outbound Message rows carry `consultation_id`); if
none was texted to them, the most recently opened open consultation whose audience
includes them. When the member could mean more than one, `Current.others` lists the
rest so the reply can say how to pick another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import Consultation, Member, Message
from .votes import in_audience

# Outbound rows that reached (or are reaching) the member's phone.
REACHED = ("sending", "sent", "delivered", "undelivered")


@dataclass
class Current:
    """The consultation a member means, and the other open ones they could mean."""

    consultation: Consultation | None
    others: list[Consultation] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        """True when the member could mean more than one open consultation."""
        return bool(self.others)


def _texted(member: Member) -> list[Consultation]:
    """Consultations texted to the member, most recent first (any status)."""
    last = func.max(Message.id).label("last")
    sent = (
        select(Message.consultation_id, last)
        .where(
            Message.member_id == member.id,
            Message.direction == "out",
            Message.consultation_id.is_not(None),
            Message.status.in_(REACHED),
        )
        .group_by(Message.consultation_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Consultation)
        .join(sent, sent.c.consultation_id == Consultation.id)
        .order_by(sent.c.last.desc())
    ).scalars()
    return list(rows)


def open_for(member: Member) -> list[Consultation]:
    """Open consultations whose audience includes the member, most recently opened first."""
    rows = db.session.execute(
        select(Consultation)
        .where(Consultation.status == "open")
        .order_by(Consultation.opened_at.desc().nulls_last(), Consultation.id.desc())
    ).scalars()
    return [c for c in rows if in_audience(c, member)]


def current_for(member: Member) -> Current:
    """The member's current consultation (None if nothing is open to them)."""
    texted = [c for c in _texted(member) if c.status == "open" and in_audience(c, member)]
    if texted:
        return Current(texted[0], texted[1:])
    candidates = open_for(member)
    if candidates:
        return Current(candidates[0], candidates[1:])
    return Current(None)


def latest_for(member: Member, current: Current | None = None) -> Consultation | None:
    """The consultation the member most likely means whatever its status.

    The current one if anything is open; else the last one texted to them; else the
    most recently closed one in their audience. Used for RESULTS and "it has closed".
    Pass `current` when `current_for(member)` is already known.
    """
    current = current or current_for(member)
    if current.consultation is not None:
        return current.consultation
    texted = _texted(member)
    if texted:
        return texted[0]
    rows = db.session.execute(
        select(Consultation)
        .where(or_(Consultation.status == "closed", Consultation.status == "decided"))
        .order_by(Consultation.closed_at.desc().nulls_last(), Consultation.id.desc())
    ).scalars()
    return next((c for c in rows if in_audience(c, member)), None)
