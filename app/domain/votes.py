"""Votes: one current choice per member per consultation, its history and its receipt.

The database enforces "no vote counts twice" (unique consultation + member) and
"receipts are unique per consultation"; this module copes with both constraints
firing under concurrency instead of trusting an in-memory check.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..extensions import db
from ..models import Channel, Consultation, Member, Vote, VoteChange, utcnow
from . import Conflict, Invalid

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: a receipt read aloud or copied by hand survives.
RECEIPT_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
# 25**9 is about 2**41.8 receipts per consultation: with lookups rate-limited per
# address (app/public/routes.py), guessing someone's receipt is hopeless.
RECEIPT_LENGTH = 9
_ATTEMPTS = 8


@dataclass
class VoteResult:
    """What `record_vote` did: the vote row, the choice it replaced (if any), and how."""

    vote: Vote
    previous: str | None
    created: bool

    @property
    def changed(self) -> bool:
        """True when an earlier, different choice was replaced."""
        return not self.created and self.previous is not None and self.previous != self.vote.choice


def new_receipt() -> str:
    """A random receipt code: RECEIPT_LENGTH characters from an alphabet with no
    look-alikes."""
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def in_audience(consultation: Consultation, member: Member) -> bool:
    """True when the member belongs to the consultation's audience (empty = everyone)."""
    audience = set(consultation.audience or [])
    return not audience or bool(audience & set(member.groups))


def current_vote(consultation: Consultation, member: Member) -> Vote | None:
    """The member's vote on the consultation, if any."""
    return db.session.execute(
        select(Vote).where(Vote.consultation_id == consultation.id, Vote.member_id == member.id)
    ).scalar_one_or_none()


def record_vote(
    consultation: Consultation,
    member: Member,
    choice: str,
    *,
    channel: str,
    entered_by: str | None = None,
    message_id: int | None = None,
) -> VoteResult:
    """Record `choice` as the member's vote, replacing an earlier one; history is appended.

    Raises Conflict when the consultation is not open, the member is pending (or opted
    out and voting by text) or not in its audience, Invalid when the choice does not fit
    the consultation's kind.
    The receipt is made on the first vote and kept when the vote changes.
    """
    if consultation.status != "open":
        raise Conflict(f"{consultation.code} is {consultation.status}; votes are closed")
    # STOP ends texts, not membership: an opted-out member may still vote on the web or
    # in person; by text they must opt back in first (and the SMS path replies nothing).
    if member.status == "pending" or (member.status == "opted_out" and channel == "sms"):
        raise Conflict("only active members can vote by text")
    if not in_audience(consultation, member):
        raise Conflict(f"{consultation.code} is not open to this member's groups")
    if choice not in consultation.choices:
        allowed = ", ".join(consultation.choices) or "none (comments only)"
        raise Invalid(f"{choice!r} is not a choice on {consultation.code}; allowed: {allowed}")

    for _ in range(_ATTEMPTS):
        vote = current_vote(consultation, member)
        if vote is not None:
            return _update(vote, choice, channel, entered_by, message_id)
        vote = Vote(
            consultation_id=consultation.id,
            member_id=member.id,
            choice=choice,
            channel=channel,
            entered_by=entered_by,
            # Not looked up first: a clash is rare (25^9 codes) and the unique key on
            # (consultation, receipt) catches it below, so a first vote saves a SELECT.
            receipt=new_receipt(),
        )
        try:
            # A savepoint, so a clash (the same member voting in a concurrent request,
            # or a receipt drawn twice) undoes only this insert.
            with db.session.begin_nested():
                db.session.add(vote)
                db.session.flush()
        except IntegrityError:
            continue  # next round finds the concurrent vote, or draws another receipt
        _history(vote, None, message_id)
        return VoteResult(vote=vote, previous=None, created=True)
    raise Conflict("could not record the vote; please try again")  # pragma: no cover


#: How a member gave staff an assisted vote (kept in the audit log).
ASSISTED_METHODS = ("phone", "in_person", "paper")


def record_assisted(
    consultation: Consultation, member: Member, choice: str, *, actor: str, method: str
) -> VoteResult:
    """Record a vote a member gave staff by phone, in person or on paper: the same
    `record_vote` as a text (channel `assisted`, entered by `actor`), so a later vote by
    any channel replaces it and none counts twice; audited with the member's id.

    Opted-out members may vote this way (they asked a person, not a phone); nothing is
    texted to anyone for it. Raises what `record_vote` raises, and Invalid for a method
    not in ASSISTED_METHODS.
    """
    if method not in ASSISTED_METHODS:
        raise Invalid(f"method must be one of {', '.join(ASSISTED_METHODS)}")
    result = record_vote(
        consultation, member, choice, channel=Channel.ASSISTED.value, entered_by=actor
    )
    audit.record(
        actor,
        "vote.assisted",
        "consultation",
        consultation.code,
        {
            "member": member.id,
            "choice": choice,
            "previous": result.previous,
            "method": method,
        },
    )
    return result


def _update(
    vote: Vote, choice: str, channel: str, entered_by: str | None, message_id: int | None
) -> VoteResult:
    previous = vote.choice
    if previous == choice:
        return VoteResult(vote=vote, previous=previous, created=False)
    vote.choice = choice
    vote.channel = Channel(channel)
    vote.entered_by = entered_by
    vote.updated_at = utcnow()
    _history(vote, previous, message_id)
    return VoteResult(vote=vote, previous=previous, created=False)


def _history(vote: Vote, previous: str | None, message_id: int | None) -> None:
    db.session.add(
        VoteChange(
            vote_id=vote.id,
            choice=vote.choice,
            previous=previous,
            channel=vote.channel,
            entered_by=vote.entered_by,
            message_id=message_id,
        )
    )


def history(vote: Vote) -> list[VoteChange]:
    """Every choice recorded for this vote, oldest first."""
    return list(
        db.session.execute(
            select(VoteChange).where(VoteChange.vote_id == vote.id).order_by(VoteChange.id)
        ).scalars()
    )
