"""Outbox jobs: sending one-to-one texts, and the sweeper's outbox duties.

One-to-one texts (`send_message` jobs) go on the `high` queue and book rate slots
ahead of bulk; broadcast batches are in `app.tasks.broadcasts`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..config import settings
from ..domain.outbox import queue, recovery
from ..extensions import db
from ..jobs import jobs
from ..models import Message, utcnow
from ..sms.backends import SendError
from .sender import outbox

log = logging.getLogger(__name__)


def send_soon(message_id: int) -> None:
    """Queue the send of a committed one-to-one text on the `high` queue."""
    jobs().enqueue(send_message, message_id, priority="high", job_id=f"chorus-msg-{message_id}")


def enqueue_queued(message_ids: list[int]) -> None:
    """`send_soon` each of these committed texts (e.g. `InboundResult.queued`)."""
    for message_id in message_ids:
        send_soon(message_id)


def send_soon_all(message_ids: list[int], priority: str = "bulk") -> int:
    """Queue the sends of many committed texts (an import's welcome texts, at bulk
    priority, behind replies): with Redis, in two round trips rather than a few per
    text. How many were queued."""
    return jobs().enqueue_many(
        send_message, [(f"chorus-msg-{i}", (i,)) for i in message_ids], priority=priority
    )


def send_text(
    *,
    phone: str,
    body: str,
    kind: str,
    member_id: int | None = None,
    consultation_id: int | None = None,
    reply_to_id: int | None = None,
    priority: str = "high",
) -> Message:
    """Queue a one-to-one text, commit, and `send_soon` it: a text on its way."""
    message = queue.queue_message(
        phone=phone,
        body=body,
        kind=kind,
        member_id=member_id,
        consultation_id=consultation_id,
        reply_to_id=reply_to_id,
        priority=priority,
    )
    message_id = message.id
    db.session.commit()
    send_soon(message_id)
    # The send may already have happened (inline jobs): read it afresh next time.
    db.session.rollback()
    return message


def send_message(message_id: int) -> None:
    """Job (on the text's own priority queue): send one queued one-to-one text if it is
    due. Safe to run twice."""
    state = queue.send_state(message_id)
    db.session.rollback()
    if state is None or state.status != "queued":
        return
    if state.next_attempt_at is not None and state.next_attempt_at > utcnow():
        return  # the sweeper sends it when it is due
    outbox().dispatch(message_id, state.segments, bulk=state.priority == "bulk", broadcast_id=None)


def pump_singles(now: datetime | None = None, limit: int = 500) -> int:
    """Queue a send job for due one-to-one texts that have none (retries, lost jobs)."""
    due = queue.due_singles(now or utcnow(), limit)
    db.session.rollback()
    queued = 0
    for message_id, priority in due:
        if jobs().enqueue(
            send_message, message_id, priority=priority, job_id=f"chorus-msg-{message_id}"
        ):
            queued += 1
    return queued


def recover_stale(now: datetime | None = None, limit: int = 200) -> tuple[int, int]:
    """Take back claims older than the lease: (reconciled as sent, re-queued).

    A claim goes stale when its worker died between claiming and recording
    Twilio's answer. If a status callback has since recorded its sid, it was sent.
    Otherwise Twilio is asked (its Messages list, for this number and body, since
    the claim, ignoring sids we already hold): if Twilio has it, the sid is
    recorded and it counts as sent; if not, it goes back to the queue. If Twilio
    cannot be asked (unreachable, an error page), the claim is asked about again later,
    less often as it ages; once it is older than IN_DOUBT_GIVE_UP it becomes `unknown`
    and is never sent again (a resend could reach the member twice). Commits after
    each claim it settles.
    """
    now = now or utcnow()
    lease = timedelta(seconds=settings().outbox_lease_seconds)
    coordinator = jobs()
    grace = settings().outbox_heartbeat_ttl / 2
    # Their process stopped beating: its claims need not wait for the lease.
    dead = [owner for owner in recovery.claim_owners() if coordinator.dead(owner, grace)]
    stale = recovery.stale(now, lease, dead)
    reconciled = recovery.settle_known(stale, now)
    db.session.commit()
    claims = recovery.unknown(stale, limit, now)
    give_up_before = now - timedelta(seconds=settings().in_doubt_give_up)
    gave_up = 0
    db.session.rollback()
    backend = outbox().backend
    requeued = 0
    for claim in claims:
        try:
            sids = backend.find_accepted(
                claim.phone, claim.body, claim.claimed_at - timedelta(minutes=5)
            )
        except SendError as error:
            if claim.claimed_at > give_up_before:
                recovery.ask_later(claim, now, error.reason)
                log.warning("cannot reconcile message %s yet: %s", claim.message_id, error.reason)
            else:
                gave_up += recovery.give_up(claim, now, error.reason)
            db.session.commit()
            continue
        fresh = recovery.new_sids(sids)
        done, back = recovery.settle(claim, fresh[-1] if fresh else None, now)
        db.session.commit()
        reconciled += done
        requeued += back
    if requeued:
        # Back in the queue of a broadcast cancelled meanwhile: it will never go.
        recovery.skip_cancelled(now)
        db.session.commit()
    if reconciled or requeued or gave_up:
        log.warning(
            "stale claims: %d reconciled as sent, %d re-queued, %d given up as unknown",
            reconciled,
            requeued,
            gave_up,
        )
    return reconciled, requeued
