"""`POST /twilio/status`: Twilio's delivery status callbacks.

The message is found by `?m=<message id>` (we put it in every StatusCallback URL)
or else by MessageSid. Statuses only move forward (queued < sending < sent <
delivered | undelivered | failed), so repeated and out-of-order callbacks are safe:
a late "sent" never undoes "delivered". A callback for a message that has no sid
yet records it: that is how a send interrupted by a crash is reconciled.

An unknown message answers 204 and changes nothing: Twilio would otherwise keep
retrying a callback that can never apply (e.g. for a text sent before a restore).
"""

from __future__ import annotations

import logging

from flask import request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..domain import members as members_ops
from ..domain.outbox.status import RANK, lower_than
from ..extensions import db
from ..models import Member, Message, utcnow
from .routes import bp
from .signature import twilio_signed

log = logging.getLogger(__name__)

# Twilio's MessageStatus -> ours. Twilio's own "queued"/"accepted"/"sending" mean it
# has the message, which is what our "sent" means.
STATUS_MAP = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}

# Carrier error codes staff see most; others show as "Twilio error NNNNN".
ERROR_REASONS = {
    "30003": "unreachable handset",
    "30004": "message blocked",
    "30005": "unknown number",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown carrier error",
    "21610": "recipient unsubscribed",
}


def _find(message_ref: str | None, sid: str) -> Message | None:
    # ASCII digits only ('²' is a digit that int() refuses), within the 32-bit id column.
    if (
        message_ref
        and message_ref.isascii()
        and message_ref.isdigit()
        and len(message_ref) < 11
        and int(message_ref) < 2**31
    ):
        message = db.session.get(Message, int(message_ref))
        if message is not None and message.direction == "out":
            return message
    if sid:
        return db.session.execute(
            select(Message).where(Message.twilio_sid == sid)
        ).scalar_one_or_none()
    return None


@bp.post("/status")
@twilio_signed
def status_callback() -> tuple[str, int]:
    """Apply one status callback (forward-only, idempotent); always 204 once signed."""
    sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "")[:64]
    twilio_status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
    error_code = (request.form.get("ErrorCode") or "").strip()[:16] or None
    message = _find(request.args.get("m"), sid)
    if message is None:
        log.info("status callback for no message we know (sid %s)", sid)
        return "", 204
    new = STATUS_MAP.get(twilio_status.lower())
    now = utcnow()
    if sid and message.twilio_sid is None:
        try:
            with db.session.begin_nested():
                db.session.execute(
                    update(Message)
                    .where(Message.id == message.id, Message.twilio_sid.is_(None))
                    .values(twilio_sid=sid, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:  # the sid belongs to another row; leave it there
            log.warning("status callback sid %s already recorded on another message", sid)
    if new is not None:
        values: dict[str, object] = {"status": new, "updated_at": now}
        if new in ("undelivered", "failed"):
            values["error_code"] = error_code
            values["failed_reason"] = (
                f"Twilio {error_code}: {ERROR_REASONS.get(error_code, 'delivery failed')}"
                if error_code
                else "delivery failed"
            )
        if new == "sent" or RANK[new] > RANK["sent"]:
            values["sent_at"] = message.sent_at or now
        db.session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status.in_(lower_than(new)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if error_code == "21610":
        member = (
            db.session.get(Member, message.member_id)
            if message.member_id
            else db.session.execute(
                select(Member).where(Member.phone == message.phone)
            ).scalar_one_or_none()
        )
        if member is not None:
            # Shown as blocked by the carrier until they text START; opted out too
            # unless it follows their own opt-in (app.domain.members.carrier_blocked).
            members_ops.carrier_blocked(member, error_code, now)
    db.session.commit()
    return "", 204
