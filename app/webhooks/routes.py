"""Twilio webhook routes: `POST /twilio/inbound` (status callbacks live in status.py)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from ..config import settings
from ..domain.inbound import handle_inbound
from ..extensions import db
from ..tasks.outbox import enqueue_queued
from .signature import twilio_signed

bp = Blueprint("webhooks", __name__, url_prefix="/twilio")


def twiml(reply: str | None) -> Response:
    """A TwiML answer with zero or one message."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), mimetype="application/xml")


@bp.post("/inbound")
@twilio_signed
def inbound() -> Response:
    """An incoming SMS: verified, recorded once, answered with TwiML in one transaction.

    The rule: we commit what handle_inbound leaves in the session, unless it says
    (`result.committed`) that it wrote in autocommit on a connection of its own.
    """
    form = request.form
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    from_ = (form.get("From") or "").strip()
    if not sid or not from_ or len(sid) > 64:
        return Response("MessageSid and From are required\n", 400, mimetype="text/plain")
    result = handle_inbound(
        settings(),
        sid,
        from_,
        form.get("To", ""),
        form.get("Body", ""),
        base_url=request.host_url,
    )
    if not result.committed:
        db.session.commit()
    try:
        enqueue_queued(result.queued)
    except Exception:  # committed rows stay queued for the outbox to find; the reply stands
        current_app.logger.exception("could not enqueue %s", result.queued)
    return twiml(result.reply)
