"""Twilio webhook routes: `POST /twilio/inbound` (status callbacks live in status.py)."""

from __future__ import annotations

from flask import Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from ..domain.inbound import enqueue_queued, handle_inbound
from ..extensions import db
from . import bp
from .signature import twilio_signed


def twiml(reply: str | None) -> Response:
    """A TwiML answer with zero or one message."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), mimetype="application/xml")


@bp.post("/inbound")
@twilio_signed
def inbound():
    """An incoming SMS: verified, recorded once, answered with TwiML in one transaction."""
    form = request.form
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    from_ = (form.get("From") or "").strip()
    if not sid or not from_ or len(sid) > 64:
        return Response("MessageSid and From are required\n", 400, mimetype="text/plain")
    result = handle_inbound(
        current_app.config["CHORUS"], sid, from_, form.get("To", ""), form.get("Body", "")
    )
    if db.session.registry.has():  # the common texts commit on their own
        db.session.commit()
    try:
        enqueue_queued(result.queued)
    except Exception:  # committed rows stay queued for the outbox to find; the reply stands
        current_app.logger.exception("could not enqueue %s", result.queued)
    return twiml(result.reply)
