"""Members' data: a copy of everything held about a member, erasure, and retention.

`export_member` gathers what Chorus holds about one member as plain JSON values: the
profile, the consent record and its history (from the audit log: who added them, every
opt-in, opt-out and carrier block, how and when), every text in and out, their votes
with each vote's history, and their comments.

`erase_member` is erasure on request. What identifies the person goes: the number, the
name, every message body, the comments, the consent details. What the community
decided with them stays: their votes are kept as anonymous counts, so tallies, receipts
and the public register do not change.

How: the member row is kept as a tombstone (status `erased`, a placeholder
`erased:<id>` instead of the number, no name) rather than deleted or its votes moved
elsewhere. Every vote, each vote's history (vote_change) and the outbound records
(message rows: counts and statuses of broadcasts) point at member ids, and a vote is
unique per consultation and member, so the votes of several erased people could not
share one "anonymous" member; keeping each tombstone keeps every foreign key, every
count and every receipt exactly as it was, with nothing left to link them to a person.
The tombstone keeps the member's language and groups, so results broken down by
language and group do not change either. Their message rows stay too, with the number
replaced by the placeholder, the body emptied and Twilio's failure text (which can
quote the number) dropped; texts still queued for them are cancelled. Comments are
deleted (a consultation's "people" count drops only for someone who commented without
voting). The audit log records that an erasure happened, by member id, never the
number; no audit event holds a phone number (app.domain.members), so the log need not
be edited and `audit verify` still holds.

`clear_old_bodies` is retention: message bodies older than MESSAGE_RETENTION_DAYS are
emptied by the sweeper, a bounded batch at a time; the rows, counts and statuses stay.

Everything here flushes and never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update

from .. import audit
from ..extensions import db
from ..models import (
    AuditEvent,
    Comment,
    Consultation,
    Member,
    MemberStatus,
    Message,
    MessageStatus,
    Vote,
    VoteChange,
    utcnow,
)
from . import NotFound, links
from .outbox.status import PENDING

#: What an erased member's number becomes, in the member row and in their texts.
PLACEHOLDER = "erased:{id}"
#: Rows the retention sweep empties per statement (one short transaction each).
RETENTION_BATCH = 500


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _codes(ids: set[int | None]) -> dict[int, str]:
    """Consultation codes by id, for the given ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Consultation.id, Consultation.code).where(Consultation.id.in_(wanted))
    )
    return {consultation_id: code for consultation_id, code in rows}


def _theirs(member: Member) -> Any:
    """SQL: a text to or from the member (by id, or by number before they joined)."""
    return or_(Message.member_id == member.id, Message.phone == member.phone)


# ---------------------------------------------------------------------- export


def export_member(member: Member) -> dict[str, Any]:
    """Everything Chorus holds about `member`, as JSON-ready values (times in ISO 8601).

    Keys: `exported_at`, `member` (profile), `consent` (the record as it stands),
    `consent_history` (audit events about the member, oldest first: who, what, how,
    when), `texts` (every text in and out, oldest first; a body older than
    MESSAGE_RETENTION_DAYS is empty), `votes` (with each one's `history`) and
    `comments`. An erased member has nothing left to export (NotFound).
    """
    if member.status == MemberStatus.ERASED:
        raise NotFound("this member was erased")
    messages = list(
        db.session.execute(select(Message).where(_theirs(member)).order_by(Message.id)).scalars()
    )
    votes = list(
        db.session.execute(
            select(Vote).where(Vote.member_id == member.id).order_by(Vote.id)
        ).scalars()
    )
    changes: dict[int, list[VoteChange]] = {}
    if votes:
        for change in db.session.execute(
            select(VoteChange)
            .where(VoteChange.vote_id.in_([v.id for v in votes]))
            .order_by(VoteChange.id)
        ).scalars():
            changes.setdefault(change.vote_id, []).append(change)
    comments = list(
        db.session.execute(
            select(Comment).where(Comment.member_id == member.id).order_by(Comment.id)
        ).scalars()
    )
    events = db.session.execute(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "member", AuditEvent.subject_id == str(member.id))
        .order_by(AuditEvent.seq)
    ).scalars()
    codes = _codes(
        {m.consultation_id for m in messages}
        | {v.consultation_id for v in votes}
        | {c.consultation_id for c in comments}
    )
    return {
        "exported_at": _when(utcnow()),
        "member": {
            "id": member.id,
            "phone": member.phone,
            "name": member.name,
            "language": member.language,
            "groups": member.groups,
            "status": str(member.status),
            "created_at": _when(member.created_at),
            "updated_at": _when(member.updated_at),
        },
        "consent": consent_record(member),
        "consent_history": [
            {
                "at": _when(event.created_at),
                "event": event.action,
                "by": event.actor,
                "details": event.data or {},
            }
            for event in events
        ],
        "texts": [
            {
                "id": m.id,
                "direction": str(m.direction),
                "at": _when(m.created_at),
                "sent_at": _when(m.sent_at),
                "body": m.body,
                "kind": m.kind,
                "status": str(m.status),
                "error_code": m.error_code,
                "failed_reason": m.failed_reason,
                "segments": m.segments,
                "encoding": str(m.encoding),
                "consultation": codes.get(m.consultation_id) if m.consultation_id else None,
                "broadcast_id": m.broadcast_id,
            }
            for m in messages
        ],
        "votes": [
            {
                "consultation": codes.get(v.consultation_id),
                "choice": v.choice,
                "channel": str(v.channel),
                "entered_by": v.entered_by,
                "receipt": v.receipt,
                "created_at": _when(v.created_at),
                "updated_at": _when(v.updated_at),
                "history": [
                    {
                        "at": _when(change.created_at),
                        "choice": change.choice,
                        "previous": change.previous,
                        "channel": str(change.channel),
                        "entered_by": change.entered_by,
                    }
                    for change in changes.get(v.id, [])
                ],
            }
            for v in votes
        ],
        "comments": [
            {
                "consultation": codes.get(c.consultation_id) if c.consultation_id else None,
                "body": c.body,
                "channel": str(c.channel),
                "language": c.language,
                "visible": c.visible,
                "hidden_reason": c.hidden_reason,
                "at": _when(c.created_at),
            }
            for c in comments
        ],
    }


def consent_record(member: Member) -> dict[str, Any]:
    """The member's consent record as it stands, JSON-ready."""
    return {
        "at": _when(member.consent_at),
        "source": str(member.consent_source) if member.consent_source else None,
        "by": member.consent_by,
        "opted_out_at": _when(member.opted_out_at),
        "opt_out_source": str(member.opt_out_source) if member.opt_out_source else None,
        "carrier_blocked_at": _when(member.carrier_blocked_at),
        "carrier_blocked_reason": member.carrier_blocked_reason,
    }


# ---------------------------------------------------------------------- erasure


def erase_member(member: Member, actor: str) -> dict[str, int]:
    """Erase `member` on request (see the module docstring); returns what was done:
    texts cancelled and scrubbed, comments deleted, votes kept. Flushed, not committed.

    NotFound for a member already erased.
    """
    if member.status == MemberStatus.ERASED:
        raise NotFound("this member was erased already")
    now = utcnow()
    placeholder = PLACEHOLDER.format(id=member.id)
    theirs = _theirs(member)
    # Texts not yet handed to Twilio are never sent (a claimed one is re-checked
    # against the member's status just before the call: app.domain.outbox.claims).
    cancelled = _count(
        update(Message)
        .where(theirs, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SKIPPED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    texts = _count(
        update(Message)
        .where(theirs)
        .values(phone=placeholder, body="", failed_reason=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    comments = _count(
        delete(Comment)
        .where(Comment.member_id == member.id)
        .execution_options(synchronize_session=False)
    )
    votes = db.session.execute(
        select(func.count()).select_from(Vote).where(Vote.member_id == member.id)
    ).scalar_one()
    # Their personal links stop working (only the tokens' hashes were kept).
    revoked = links.revoke_all_for_member(member.id)
    member.phone = placeholder
    member.name = None
    member.status = MemberStatus.ERASED
    member.erased_at = now
    member.consent_at = member.consent_source = member.consent_by = None
    member.opted_out_at = member.opt_out_source = None
    member.carrier_blocked_at = member.carrier_blocked_reason = None
    done = {
        "texts": texts,
        "cancelled": cancelled,
        "comments": comments,
        "votes_kept": votes,
        "links": revoked,
    }
    audit.record(actor, "member.erased", "member", member.id, done)
    db.session.flush()
    # Rows changed by the statements above are read afresh if anyone reads them again.
    db.session.expire_all()
    return done


def _count(statement: Any) -> int:
    result = db.session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------- retention


def clear_old_bodies(days: int, now: datetime | None = None, limit: int = RETENTION_BATCH) -> int:
    """Empty the bodies of up to `limit` texts created more than `days` days ago, oldest
    first; returns how many (fewer than `limit`: nothing older is left). Texts still to
    be sent keep theirs. Rows, statuses, segments and counts stay. Flushed: the caller
    commits each batch, so no statement holds many rows for long."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    # The partial index ix_message_body_kept holds exactly the texts with a body; its
    # condition is written out, not bound, so that both databases see it is the same.
    oldest = (
        select(Message.id)
        .where(
            text("message.body <> ''"),
            Message.created_at < cutoff,
            Message.status.not_in(PENDING),
        )
        .order_by(Message.created_at)
        .limit(limit)
    )
    ids = list(db.session.execute(oldest).scalars())
    if not ids:
        return 0
    db.session.execute(
        update(Message)
        .where(Message.id.in_(ids))
        # updated_at stays: clearing a body is not a change to the text's story.
        .values(body="", updated_at=Message.updated_at)
        .execution_options(synchronize_session=False)
    )
    return len(ids)
