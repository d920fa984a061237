"""Broadcast jobs: expand, start, send in batches, complete; each commits its own work.

A sending broadcast is fanned out in batches (`run_batch` jobs on the `bulk` queue,
each sending for a few seconds at most); `pump` keeps the first due batches queued,
cancels a summary or reminder whose consultation closed, and queues the `complete`
job once nothing is left to send.
"""

from __future__ import annotations

import logging
import time

from ..config import settings
from ..domain import broadcasts
from ..domain.outbox.quiet import quiet_until
from ..extensions import db
from ..jobs import jobs
from ..models import Broadcast
from .sender import outbox

log = logging.getLogger(__name__)


def launch(broadcast: Broadcast) -> None:
    """After the commit: start expanding a sending broadcast now (scheduled ones wait)."""
    if broadcast.status == "sending":
        jobs().enqueue(
            expand, broadcast.id, priority="bulk", job_id=f"chorus-expand-{broadcast.id}"
        )


def after_resume(broadcast: Broadcast) -> None:
    """After the commit: queue what a resumed broadcast needs (expansion or batches)."""
    if broadcast.status != "sending":
        return
    if broadcast.expanded_at is None:
        launch(broadcast)
    else:
        pump(broadcast.id)


# ---------------------------------------------------------------------- expanding


def expand(broadcast_id: int) -> int:
    """Job: expand the broadcast into queued texts once, then queue its first batches;
    returns rows added. Safe to run twice."""
    key = f"expand:{broadcast_id}"
    # Longer than most expansions; if one takes longer, a second job waits on the
    # broadcast row (claimed in the same transaction) and then finds it expanded.
    token = jobs().lease(key, 120)
    if token is None:
        return 0
    try:
        added = expand_rows(broadcast_id)
    finally:
        jobs().release(key, token)
    pump(broadcast_id)
    return added


def expand_rows(broadcast_id: int) -> int:
    """Expand the broadcast and commit, without queueing any batch; returns rows added."""
    try:
        added = broadcasts.expand(broadcast_id, settings())
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return added


def expand_missing() -> int:
    """Queue an expansion for sending broadcasts that never expanded (a lost job)."""
    ids = broadcasts.unexpanded()
    db.session.rollback()
    queued = 0
    for broadcast_id in ids:
        if jobs().leased(f"expand:{broadcast_id}"):
            continue
        queued += jobs().enqueue(
            expand, broadcast_id, priority="bulk", job_id=f"chorus-expand-{broadcast_id}"
        )
    return queued


# ---------------------------------------------------------------------- starting


def start(broadcast_id: int) -> None:
    """Job: a scheduled broadcast whose time has come starts sending. Safe to run twice."""
    started = broadcasts.start(broadcast_id)
    db.session.commit()
    if started:
        expand(broadcast_id)


def start_due() -> int:
    """Queue a start for every scheduled broadcast that is due (the sweeper)."""
    ids = broadcasts.due_to_start()
    db.session.rollback()
    for broadcast_id in ids:
        jobs().enqueue(start, broadcast_id, priority="bulk", job_id=f"chorus-start-{broadcast_id}")
    return len(ids)


# ---------------------------------------------------------------------- batches


def batch_key(broadcast_id: int, batch: int) -> str:
    """The lease name of a batch."""
    return f"batch:{broadcast_id}:{batch}"


def batch_job_id(broadcast_id: int, batch: int) -> str:
    """The RQ job id of a batch."""
    return f"chorus-batch-{broadcast_id}-{batch}"


def pump(broadcast_id: int) -> int:
    """Make sure the first due batches of a sending broadcast have a job; returns how
    many were queued. Cancels (and commits) a summary or reminder whose consultation
    is no longer open; queues `complete` when nothing is left to send."""
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != "sending" or broadcast.expanded_at is None:
        db.session.rollback()
        return 0
    if not broadcasts.still_wanted(broadcast):
        db.session.commit()
        return 0
    if quiet_until(settings()) is not None:
        db.session.rollback()
        return 0
    batches = broadcasts.due_batches(broadcast_id, settings().outbox_batch_window)
    db.session.rollback()
    if not batches:
        complete_soon(broadcast_id)
        return 0
    coordinator = jobs()
    queued = 0
    for batch in batches:
        if coordinator.leased(batch_key(broadcast_id, batch)):
            continue
        if coordinator.enqueue(
            run_batch,
            broadcast_id,
            batch,
            priority="bulk",
            job_id=batch_job_id(broadcast_id, batch),
        ):
            queued += 1
    return queued


def pump_broadcasts() -> int:
    """`pump` every sending broadcast; returns batches queued."""
    ids = broadcasts.sending()
    db.session.rollback()
    return sum(pump(broadcast_id) for broadcast_id in ids)


def run_batch(broadcast_id: int, batch: int) -> None:
    """Job (`bulk`): send a batch's due queued messages. Safe to run twice.

    Holds the batch's lease while it dispatches, stops early when the broadcast is
    no longer sending or quiet hours begin, and after outbox_slice_seconds leaves
    the rest to a fresh job so the high queue gets a turn.
    """
    coordinator = jobs()
    key = batch_key(broadcast_id, batch)
    token = coordinator.lease(key, settings().outbox_batch_lease)
    if token is None:
        return  # another job is sending this batch
    sender = outbox()
    try:
        rows = broadcasts.due_in_batch(broadcast_id, batch)
        db.session.rollback()
        deadline = time.monotonic() + settings().outbox_slice_seconds
        checked = 0.0
        for message_id, cost in rows:
            now = time.monotonic()
            if now - checked > 0.5:
                may_send = broadcasts.may_send_bulk(broadcast_id, settings())
                db.session.rollback()
                if not may_send:
                    break
                if not coordinator.renew(key, token, settings().outbox_batch_lease):
                    log.warning("lost the lease of %s; stopping this job", key)
                    return
                checked = now
            if now > deadline:
                break
            if not sender.dispatch(
                message_id, cost, bulk=True, broadcast_id=broadcast_id, drained=complete_soon
            ):
                break
    finally:
        coordinator.release(key, token)
    if not sender.stop.is_set():
        pump(broadcast_id)


# ---------------------------------------------------------------------- completing


def complete_soon(broadcast_id: int) -> None:
    """Queue the `complete` job of a broadcast (e.g. its last send in flight is over)."""
    jobs().enqueue(
        complete, broadcast_id, priority="bulk", job_id=f"chorus-complete-{broadcast_id}"
    )


def complete(broadcast_id: int) -> bool:
    """Job: mark a sending broadcast completed if nothing is queued or sending; True if
    it was. Safe to run twice."""
    done = broadcasts.complete_if_done(broadcast_id)
    db.session.commit()
    return done
