"""Recover texts that reached Twilio while Chorus could not take them (run by the sweeper)."""

from __future__ import annotations

import logging

from ..config import Settings
from ..domain import inbound_recovery
from ..extensions import db
from ..models import utcnow
from ..sms.backends import Backend, SendError
from .outbox import enqueue_queued

log = logging.getLogger(__name__)


def recover_inbound(settings: Settings, backend: Backend) -> int:
    """Handle every text in Twilio's list that Chorus missed; the number handled.

    One transaction per text, committed before its reply is enqueued. The checkpoint
    moves only when every text of the window was handled, so a failure is retried from
    the same place next time. Safe to run twice, and in several processes at once.
    """
    since, until = inbound_recovery.window(utcnow())
    db.session.rollback()
    try:
        missing = inbound_recovery.to_recover(backend, since, until)
    except SendError as error:
        db.session.rollback()
        log.warning("cannot list Twilio's messages to recover inbound texts: %s", error.reason)
        return 0
    db.session.rollback()
    handled = 0
    for received in missing:
        try:
            recovered = inbound_recovery.recover_one(settings, received)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("recovering inbound text %s failed; will try again", received.sid)
            return handled
        if recovered.message_id is not None:
            handled += 1
            enqueue_queued(recovered.queued)
    inbound_recovery.save_checkpoint(until)
    if handled:
        log.warning("recovered %d inbound texts that Chorus had not received", handled)
    return handled
