"""The staff inbox: texts meant for staff, replies to them, and marking them handled.

A text meant for staff is a Comment with no consultation: free text from a member when
nothing was open for them (inbound.py's "comment_to_staff"). Staff read them newest
first, reply by SMS (a one-to-one text queued at high priority in the outbox, never to
a member who is not active) and mark them handled, which takes them out of the default
view. Reads are paged in SQL (keyset on the comment id, on the `ix_comment_inbox`
index); nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select

from .. import audit
from ..extensions import db
from ..models import Comment, Member, MemberStatus, Message, Priority, utcnow
from ..sms import segments
from . import Conflict, Invalid, NotFound
from .outbox import queue as outbox_queue
from .sql import keyset_page

PER_PAGE = 25
REPLY_KIND = "staff_reply"
# A reply is one text of at most this many segments (1,530 GSM-7 characters, 670 in
# UCS-2): within Twilio's 1,600-character limit, and what carriers reassemble reliably.
MAX_REPLY_SEGMENTS = 10
MAX_REPLY_CHARS = 1600


@dataclass
class SentReply:
    """A reply staff sent to an inbox item."""

    body: str
    by: str | None
    at: datetime
    status: str


@dataclass
class InboxItem:
    """One text meant for staff, with its member and the replies sent to it."""

    id: int
    body: str
    language: str
    created_at: datetime
    member_id: int
    member_name: str | None
    phone: str
    member_status: str
    handled_at: datetime | None
    handled_by: str | None
    replies: list[SentReply] = field(default_factory=list)

    @property
    def can_reply(self) -> bool:
        """Only active members are texted (never after STOP, never before consent)."""
        return self.member_status == MemberStatus.ACTIVE


@dataclass
class InboxPage:
    """One page of the inbox and the cursors to the pages either side (None: none)."""

    items: list[InboxItem]
    newer: int | None  # pass as `after` for the page of newer items
    older: int | None  # pass as `before` for the page of older items


def _to_staff() -> ColumnElement[bool]:
    return Comment.consultation_id.is_(None)


def _state(handled: bool) -> ColumnElement[bool]:
    return Comment.handled_at.is_not(None) if handled else Comment.handled_at.is_(None)


def unhandled_count() -> int:
    """How many texts meant for staff nobody has marked handled yet (for the dashboard)."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Comment)
            .where(_to_staff(), Comment.handled_at.is_(None))
        ).scalar_one()
    )


def _listing(handled: bool) -> Select[tuple[Comment, str | None, str, MemberStatus]]:
    return (
        select(Comment, Member.name, Member.phone, Member.status)
        .join(Member, Member.id == Comment.member_id)
        .where(_to_staff(), _state(handled))
    )


def _exists(handled: bool, where: ColumnElement[bool]) -> bool:
    found = db.session.execute(
        select(Comment.id).where(_to_staff(), _state(handled), where).limit(1)
    ).first()
    return found is not None


def page(
    *,
    handled: bool = False,
    before: int | None = None,
    after: int | None = None,
    per_page: int = PER_PAGE,
) -> InboxPage:
    """Texts meant for staff (unhandled, or handled ones), newest first, `per_page` at a
    time: the newest, those older than id `before`, or those newer than id `after`."""
    rows, newer, older = keyset_page(
        _listing(handled),
        Comment.id,
        lambda row: row[0].id,
        lambda condition: _exists(handled, condition),
        before=before,
        after=after,
        per_page=per_page,
    )
    items = [
        InboxItem(
            id=comment.id,
            body=comment.body,
            language=comment.language,
            created_at=comment.created_at,
            member_id=comment.member_id,
            member_name=name,
            phone=phone,
            member_status=status,
            handled_at=comment.handled_at,
            handled_by=comment.handled_by,
        )
        for comment, name, phone, status in rows
    ]
    _attach_replies(items, {comment.id: comment.message_id for comment, *_ in rows})
    return InboxPage(items, newer, older)


def _attach_replies(items: list[InboxItem], message_ids: dict[int, int | None]) -> None:
    """The staff replies to each item's text, oldest first (one query for the page)."""
    wanted = [mid for mid in message_ids.values() if mid is not None]
    if not wanted:
        return
    rows = db.session.execute(
        select(
            Message.reply_to_id,
            Message.body,
            Message.entered_by,
            Message.created_at,
            Message.status,
        )
        .where(Message.reply_to_id.in_(wanted), Message.kind == REPLY_KIND)
        .order_by(Message.id)
    ).all()
    by_message: dict[int, list[SentReply]] = {}
    for reply_to_id, body, by, at, status in rows:
        by_message.setdefault(reply_to_id, []).append(SentReply(body, by, at, str(status)))
    for item in items:
        message_id = message_ids.get(item.id)
        if message_id is not None:
            item.replies = by_message.get(message_id, [])


def get(comment_id: int) -> Comment:
    """The text meant for staff with this id; NotFound if there is none."""
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.consultation_id is not None:
        raise NotFound("There is no such message in the inbox.")
    return comment


def check_reply(body: str) -> str:
    """The reply as it will be sent (trimmed); Invalid if it is empty or too long."""
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise Invalid("Write the reply first.")
    info = segments.count(body)
    if len(body) > MAX_REPLY_CHARS or info.segments > MAX_REPLY_SEGMENTS:
        raise Invalid(
            f"A reply can be at most {MAX_REPLY_SEGMENTS} texts long; "
            f"this one would be {info.segments}."
        )
    return body


def reply(comment_id: int, body: str, *, actor: str, mark_handled: bool = False) -> Message:
    """Queue a reply by SMS to the member who wrote this text (flushed, not committed).

    Refused (Conflict) when the member is not active: nothing is ever sent after STOP,
    nor to someone who has not agreed to texts. The outbox checks again when it sends.
    The caller commits, then passes the message id to `app.tasks.outbox.enqueue_queued`.
    """
    comment = get(comment_id)
    text = check_reply(body)
    member = db.session.get(Member, comment.member_id)
    if member is None or member.status != MemberStatus.ACTIVE:
        raise Conflict(
            "This member has opted out (or has not agreed to texts): Chorus sends them nothing."
        )
    message = outbox_queue.queue_message(
        phone=member.phone,
        body=text,
        kind=REPLY_KIND,
        member_id=member.id,
        reply_to_id=comment.message_id,
        priority=Priority.HIGH,
    )
    message.entered_by = actor  # the staff account that wrote it
    audit.record(
        actor,
        "inbox.replied",
        "comment",
        comment.id,
        {"member": member.id, "message": message.id, "segments": message.segments},
    )
    if mark_handled:
        set_handled(comment, True, actor=actor)
    return message


def set_handled(comment: Comment, handled: bool, *, actor: str) -> bool:
    """Mark the text handled (or back to unhandled); False when it already was."""
    if (comment.handled_at is not None) == handled:
        return False
    comment.handled_at = utcnow() if handled else None
    comment.handled_by = actor if handled else None
    audit.record(actor, "inbox.handled" if handled else "inbox.reopened", "comment", comment.id)
    return True
