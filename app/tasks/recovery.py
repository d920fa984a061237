"""Recover texts that reached Twilio while Chorus could not take them (run by the sweeper)."""

from __future__ import annotations

import logging
from datetime import timedelta

from ..config import Settings, settings
from ..domain import inbound_recovery
from ..extensions import db
from ..jobs import jobs
from ..models import utcnow
from ..sms.backends import Backend, SendError, make_backend
from .outbox import enqueue_queued

log = logging.getLogger(__name__)


def recover_inbound_due() -> int | None:
    """The sweep's step: recover inbound texts once per INBOUND_RECOVERY_INTERVAL across
    every process (None when it was not due). Only Twilio keeps such a list."""
    current = settings()
    if current.sms_backend != "twilio":
        return None
    if not jobs().tick("inbound-recovery", current.inbound_recovery_interval):
        return None
    backend = make_backend(current, per_call=True)
    try:
        return recover_inbound(current, backend)
    finally:
        backend.close()


def recover_inbound(settings: Settings, backend: Backend) -> int:
    """Handle every text in Twilio's list that Chorus missed; the number handled.

    One transaction per text, committed before its reply is enqueued. The checkpoint
    moves only when every text of the window was handled, so a failure is retried from
    the same place next time. Safe to run twice, and in several processes at once.
    """
    since, until = inbound_recovery.window(
        utcnow(), timedelta(seconds=settings.inbound_recovery_grace)
    )
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
