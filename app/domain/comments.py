"""Comments: the one place a Comment row is made, whichever way it comes in.

The full inbound path and the personal page add a Comment through `add`; the fast
inbound path writes the same columns in its single statement, taking their values
from `row`, so every comment is shaped here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..extensions import db
from ..models import Comment, utcnow


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
