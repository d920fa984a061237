"""Comments: the one place a Comment row is made or changed, whichever way it comes in.

The full inbound path and the personal page add a Comment through `add`; the fast
inbound path writes the same columns in its single statement, taking their values
from `row`, so every comment is shaped here. Staff moderation (`hide`, `show`) and the
staff list and export read and change them here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from .. import audit
from ..extensions import db
from ..models import Comment, Member, utcnow
from . import Conflict, Invalid, NotFound


def row(
    *,
    consultation_id: int | None,
    member_id: int,
    body: str,
    channel: str,
    language: str,
    message_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Every column of a new comment (`channel` is "sms" or "web"; no consultation: a
    message to staff)."""
    return {
        "consultation_id": consultation_id,
        "member_id": member_id,
        "body": body,
        "channel": channel,
        "language": language,
        "visible": True,
        "message_id": message_id,
        "created_at": now or utcnow(),
    }


def add(
    *,
    consultation_id: int | None,
    member_id: int,
    body: str,
    channel: str,
    language: str,
    message_id: int | None = None,
) -> Comment:
    """Add a comment to the session (not flushed, not committed)."""
    comment = Comment(
        **row(
            consultation_id=consultation_id,
            member_id=member_id,
            body=body,
            channel=channel,
            language=language,
            message_id=message_id,
        )
    )
    db.session.add(comment)
    return comment


# ---------------------------------------------------------------------- moderation

#: The longest moderation reason (the column holds 200 characters).
MAX_REASON = 200
#: Comments per page of the staff list.
PER_PAGE = 50


@dataclass
class CommentPage:
    """One page of a consultation's comments, newest first, with each author's phone."""

    rows: list[tuple[Comment, str]]
    page: int
    pages: int
    total: int
    hidden: int


def get(consultation_id: int, comment_id: int) -> Comment:
    """The comment with this id on this consultation, or NotFound."""
    comment = db.session.get(Comment, comment_id) if 0 < comment_id < 2**31 else None
    if comment is None or comment.consultation_id != consultation_id:
        raise NotFound(f"no comment {comment_id} on this consultation")
    return comment


def page(consultation_id: int, number: int = 1, per_page: int = PER_PAGE) -> CommentPage:
    """Comments on a consultation, hidden ones included, newest first (3 queries)."""
    of = Comment.consultation_id == consultation_id
    total, hidden = db.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Comment.visible.is_(False), 1), else_=0)), 0),
        ).where(of)
    ).one()
    pages = max(1, -(-int(total) // per_page))
    number = min(max(1, number), pages)
    rows = db.session.execute(
        select(Comment, Member.phone)
        .join(Member, Member.id == Comment.member_id)
        .where(of)
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    )
    return CommentPage(
        rows=[(comment, phone) for comment, phone in rows],
        page=number,
        pages=pages,
        total=int(total),
        hidden=int(hidden),
    )


def _reason(reason: str, required: bool) -> str | None:
    cleaned = " ".join((reason or "").split())
    if required and not cleaned:
        raise Invalid("give a reason for hiding the comment")
    if len(cleaned) > MAX_REASON:
        raise Invalid(f"a reason is at most {MAX_REASON} characters")
    return cleaned or None


def hide(comment: Comment, reason: str, *, actor: str, code: str) -> Comment:
    """Hide a comment from public counts and pages, with a reason staff see; audited.

    Hiding a hidden comment again only changes its reason (and is audited too).
    """
    cleaned = _reason(reason, required=True)
    comment.visible = False
    comment.hidden_reason = cleaned
    audit.record(
        actor, "comment.hidden", "comment", comment.id, {"consultation": code, "reason": cleaned}
    )
    return comment


def show(comment: Comment, reason: str = "", *, actor: str, code: str) -> Comment:
    """Show a hidden comment again; the hiding reason is cleared (the audit log keeps
    it), and the reason for showing, if given, is audited."""
    if comment.visible:
        raise Conflict("the comment is already shown")
    cleaned = _reason(reason, required=False)
    comment.visible = True
    comment.hidden_reason = None
    audit.record(
        actor, "comment.shown", "comment", comment.id, {"consultation": code, "reason": cleaned}
    )
    return comment


def export_rows(
    consultation_id: int, chunk: int = 1000
) -> Iterator[tuple[int, datetime, str, str, bool, str, str, int]]:
    """Every comment on a consultation as (id, time, channel, language, visible,
    reason, body, member id), oldest first, read `chunk` at a time. No phone, no name."""
    last = 0
    while True:
        rows = list(
            db.session.execute(
                select(
                    Comment.id,
                    Comment.created_at,
                    Comment.channel,
                    Comment.language,
                    Comment.visible,
                    Comment.hidden_reason,
                    Comment.body,
                    Comment.member_id,
                )
                .where(Comment.consultation_id == consultation_id, Comment.id > last)
                .order_by(Comment.id)
                .limit(chunk)
            )
        )
        if not rows:
            return
        for row in rows:
            yield (
                row.id,
                row.created_at,
                str(row.channel),
                row.language,
                bool(row.visible),
                row.hidden_reason or "",
                row.body,
                row.member_id,
            )
        last = rows[-1].id
