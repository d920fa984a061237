"""The outbox: every outbound text is a Message row first, then a send.

Lifecycle of an outbound row (see docs/broadcasts.md for the guarantees):

    queued --claim--> sending --Twilio accepts--> sent --callback--> delivered | undelivered
       ^                 |  \\--429/5xx/connection--> queued (next_attempt_at, backoff)
       |                 |   \\--21610--> skipped (member opted out)
       |                 |    \\--21211, 21614, other 4xx--> failed (error_code, failed_reason)
       \\--lease expired, no sid (the sweeper)--/
    queued --member opted out / broadcast cancelled--> skipped

A message is claimed on its own (`UPDATE ... SET status='sending' WHERE id=:id AND
status='queued' AND <member may be texted> AND <its broadcast is sending>`): the row
count says whether it is ours. Consent is checked in the claim and once more just
before the Twilio call, so a STOP that arrives mid-broadcast is honoured for every text
not yet handed to Twilio.
The Twilio call happens outside any transaction; its answer is recorded in a short
transaction of its own.

Sends are paced by the shared per-sender rate limiter (segments per second) and run
concurrently on a thread pool, so one worker can keep the cap busy while each
Twilio call takes 100-300 ms. Broadcast messages go out in batches (`run_batch`
jobs on the `bulk` queue, each sending for a few seconds at most); one-to-one texts
(`send_message` jobs) go on the `high` queue and book rate slots ahead of bulk.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy import and_, exists, func, or_, select, update

from ..config import Settings
from ..extensions import db
from ..jobs import jobs
from ..models import Broadcast, Member, Message, utcnow
from ..sms import segments
from ..sms.backends import FAILED, IN_DOUBT, OPTED_OUT, RETRY, SendError, make_backend
from ..sms.ratelimit import BULK_HORIZON, LocalRateLimiter, RateLimiter, RedisRateLimiter

log = logging.getLogger(__name__)

BATCH_SIZE = 100

#: Tunables, read from app.config (the worker also reads them from CHORUS_* variables).
DEFAULTS: dict[str, float] = {
    # Threads sending concurrently in one worker process.
    "OUTBOX_SEND_THREADS": 32,
    # How long a claim ('sending') may last before the sweeper takes it back.
    "OUTBOX_LEASE_SECONDS": 60,
    # Timeout of one Twilio call; must stay well below the lease.
    "OUTBOX_HTTP_TIMEOUT": 20,
    # Backoff after a retryable failure: base * 2**(attempt-1), capped, with jitter.
    "OUTBOX_RETRY_BASE": 2.0,
    "OUTBOX_RETRY_CAP": 600.0,
    "OUTBOX_MAX_ATTEMPTS": 10,
    # A batch job sends for at most this long, then yields to the high queue.
    "OUTBOX_SLICE_SECONDS": 3.0,
    # Batches of one broadcast queued or running at once.
    "OUTBOX_BATCH_WINDOW": 16,
    # How long a running batch's lease lasts without renewal (a killed worker's
    # batch is free again after this).
    "OUTBOX_BATCH_LEASE": 15,
    # A sending process says it is alive every quarter of this, for this long; its
    # claims are taken back once two looks half of this apart both miss it.
    "OUTBOX_HEARTBEAT_TTL": 6,
}

# Forward-only ranks: a status only ever moves to a higher rank. `skipped` ranks with
# `sending` because only a status callback (proof that Twilio sent it) overrides it.
RANK = {
    "queued": 0,
    "sending": 1,
    "skipped": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
}
PENDING = ("queued", "sending")
#: How long before its rate slot a text is claimed (see Outbox._deliver).
CLAIM_AHEAD = 0.05
#: A send that would start later than this after its rate slot books a new slot.
SLOT_TOLERANCE = 0.02


def setting(name: str, app: Flask | None = None) -> float:
    """A tunable from app.config, else its default."""
    config = (app or current_app).config
    return float(config.get(name, DEFAULTS[name]))


def settings() -> Settings:
    """The app's Settings."""
    return current_app.config["CHORUS"]


# ---------------------------------------------------------------------- quiet hours


def quiet_until(cfg: Settings, now: datetime | None = None) -> datetime | None:
    """When the current quiet hours end (UTC), or None if bulk texts may go now."""
    if cfg.quiet_hours is None:
        return None
    start, end = cfg.quiet_hours
    if start == end:
        return None
    zone = ZoneInfo(cfg.timezone)
    local = (now or utcnow()).astimezone(zone)
    t = local.time().replace(tzinfo=None)
    # A window like 21:00-08:00 crosses midnight.
    quiet = start <= t < end if start < end else t >= start or t < end
    if not quiet:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, dtime(end.hour, end.minute), tzinfo=zone).astimezone(
        (now or utcnow()).tzinfo
    )


# ---------------------------------------------------------------------- queueing


def queue_message(
    *,
    phone: str,
    body: str,
    kind: str,
    member_id: int | None = None,
    consultation_id: int | None = None,
    reply_to_id: int | None = None,
    priority: str = "high",
) -> Message:
    """Add an outbound text to the outbox (flushed, not committed).

    After committing, call `send_soon(message.id)`; or use `send_text`, which does both.
    """
    info = segments.count(body)
    message = Message(
        direction="out",
        member_id=member_id,
        phone=phone,
        body=body,
        kind=kind,
        status="queued",
        segments=max(1, info.segments),
        encoding=info.encoding,
        consultation_id=consultation_id,
        reply_to_id=reply_to_id,
        priority=priority,
        error_count=0,
    )
    db.session.add(message)
    db.session.flush()
    return message


def send_soon(message_id: int) -> None:
    """Queue the send of a committed one-to-one text on the `high` queue."""
    jobs().enqueue(send_message, message_id, priority="high", job_id=f"chorus-msg-{message_id}")


def send_text(**kwargs: Any) -> Message:
    """`queue_message`, commit, `send_soon`: a one-to-one text on its way."""
    message = queue_message(**kwargs)
    message_id = message.id
    db.session.commit()
    send_soon(message_id)
    # The send may already have happened (inline jobs): read it afresh next time.
    db.session.rollback()
    return message


# ---------------------------------------------------------------------- claim / record


def _opted_out_clause():
    return exists().where(
        Member.status == "opted_out",
        or_(Member.id == Message.member_id, Member.phone == Message.phone),
    )


def claim(message_id: int, owner: str | None = None) -> bool:
    """Take a queued message for sending (as `owner`); False if it is not ours to send.

    Skips it (status 'skipped') when its member has opted out, or, for a broadcast,
    is no longer active. Leaves it queued when its broadcast is paused.
    """
    now = utcnow()
    active_member = exists().where(Member.id == Message.member_id, Member.status == "active")
    sending_broadcast = exists().where(
        Broadcast.id == Message.broadcast_id, Broadcast.status == "sending"
    )
    claimed = db.session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "queued",
            ~_opted_out_clause(),
            or_(Message.broadcast_id.is_(None), and_(active_member, sending_broadcast)),
        )
        .values(status="sending", claimed_at=now, claimed_by=owner, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.execute(
            update(Message)
            .where(
                Message.id == message_id,
                Message.status == "queued",
                or_(
                    _opted_out_clause(),
                    and_(Message.broadcast_id.is_not(None), ~active_member),
                ),
            )
            .values(status="skipped", failed_reason="opted out", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return claimed == 1


def recheck(message_id: int, claimed_at: datetime | None = None) -> bool:
    """The last look before a claimed text goes to Twilio: skip it if its member opted
    out since the claim (a STOP that landed while the send waited for its slot), and
    let it go only while the claim made at `claimed_at` is still this sender's (a
    sender frozen past its lease may find the sweeper gave the text to another).
    True if it may go."""
    active_member = exists().where(Member.id == Message.member_id, Member.status == "active")
    skipped = db.session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status == "sending",
            or_(
                _opted_out_clause(),
                and_(Message.broadcast_id.is_not(None), ~active_member),
            ),
        )
        .values(status="skipped", failed_reason="opted out", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    ours = True
    if claimed_at is not None and not skipped:
        ours = (
            db.session.execute(
                select(Message.id).where(
                    Message.id == message_id,
                    Message.status == "sending",
                    Message.claimed_at == claimed_at,
                )
            ).first()
            is not None
        )
    db.session.commit()
    return skipped == 0 and ours


def release(message_id: int) -> None:
    """Give a claim back untried: the text is queued again as it was."""
    db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "sending")
        .values(status="queued", claimed_at=None, claimed_by=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def record_sent(message_id: int, sid: str) -> None:
    """Twilio accepted it: keep the sid and move it to 'sent' (never backwards)."""
    now = utcnow()
    db.session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(
            twilio_sid=func.coalesce(Message.twilio_sid, sid),
            status=_forward_to("sent"),
            sent_at=func.coalesce(Message.sent_at, now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _forward_to(status: str):
    """SQL for 'the new status if it ranks higher than the current one, else unchanged'."""
    from sqlalchemy import case

    lower = [s for s, r in RANK.items() if r < RANK[status]]
    return case((Message.status.in_(lower), status), else_=Message.status)


def backoff(attempt: int, app: Flask | None = None) -> float:
    """Seconds before retry number `attempt` (1-based): exponential, capped, jittered."""
    base = setting("OUTBOX_RETRY_BASE", app)
    cap = setting("OUTBOX_RETRY_CAP", app)
    return min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def record_failure(message_id: int, error: SendError) -> None:
    """Apply a SendError to a claimed message (see the module docstring)."""
    now = utcnow()
    message = db.session.get(Message, message_id)
    if message is None or message.status != "sending":
        db.session.rollback()
        return
    if error.outcome == IN_DOUBT:
        # Keep the claim: a callback will reconcile it, else the sweeper re-queues it.
        message.failed_reason = error.reason
    elif error.outcome == RETRY:
        message.error_count += 1
        message.error_code = error.code
        if message.error_count >= setting("OUTBOX_MAX_ATTEMPTS"):
            message.status = "failed"
            message.failed_reason = f"gave up after {message.error_count} tries: {error.reason}"
        else:
            message.status = "queued"
            message.failed_reason = error.reason
            message.next_attempt_at = now + timedelta(seconds=backoff(message.error_count))
            if message.broadcast_id is not None:
                status = db.session.execute(
                    select(Broadcast.status).where(Broadcast.id == message.broadcast_id)
                ).scalar_one()
                if status == "cancelled":
                    message.status, message.failed_reason = "skipped", "broadcast cancelled"
    elif error.outcome == OPTED_OUT:
        from . import members

        message.status = "skipped"
        message.error_code = error.code
        message.failed_reason = "opted out (Twilio 21610)"
        member = _member_for(message)
        if member is not None:
            members.opt_out(member, source="twilio-21610")
    else:
        assert error.outcome == FAILED
        message.status = "failed"
        message.error_code = error.code
        message.failed_reason = error.reason
    message.updated_at = now
    db.session.commit()


def _member_for(message: Message) -> Member | None:
    if message.member_id is not None:
        return db.session.get(Member, message.member_id)
    return db.session.execute(
        select(Member).where(Member.phone == message.phone)
    ).scalar_one_or_none()


def status_callback_url(message_id: int) -> str | None:
    """Where Twilio reports this message's status (None without PUBLIC_BASE_URL)."""
    base = settings().public_base_url
    return f"{base}/twilio/status?m={message_id}" if base else None


# ---------------------------------------------------------------------- the sender


@dataclass(frozen=True)
class Slot:
    """A booked rate slot: when (monotonic), for how many segments, at what horizon."""

    at: float
    cost: int
    horizon: float | None


class Outbox:
    """One per app and process: backend, rate limiter and the sending threads.

    With JOBS_EAGER (tests) or OUTBOX_SEND_THREADS=0 every send happens inline in
    the calling job; otherwise `dispatch` waits for a free thread and a rate slot,
    hands the send to the pool and returns.
    """

    def __init__(self, app: Flask):
        self.app = app
        cfg: Settings = app.config["CHORUS"]
        threads = int(setting("OUTBOX_SEND_THREADS", app))
        self.inline = bool(app.config.get("JOBS_EAGER")) or threads <= 0
        self.backend = make_backend(
            cfg, timeout=setting("OUTBOX_HTTP_TIMEOUT", app), per_call=self.inline
        )
        coordinator = app.extensions["chorus_jobs"]
        self.limiter: RateLimiter = (
            RedisRateLimiter(coordinator.redis, cfg.sms_max_per_second)
            if coordinator.scripting
            else LocalRateLimiter(cfg.sms_max_per_second)
        )
        self.stop = threading.Event()
        # Set once the sends in flight are over: only then may the heartbeat stop.
        self._closed = threading.Event()
        self.threads = 0 if self.inline else threads
        self.pool = (
            None
            if self.inline
            else ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chorus-send")
        )
        self._free = threading.Semaphore(max(1, self.threads))
        self._lock = threading.Lock()
        self._inflight: Counter[int] = Counter()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.coordinator = coordinator
        # A claim names its process only if that process beats: the sweeper takes back
        # a named process's claims once its beats stop, so a process that never beats
        # (inline sends) must not name itself, or its claims go back while in flight.
        self.claimant: str | None = None
        if coordinator.uses_redis and not self.inline:
            self.heartbeat_ttl = setting("OUTBOX_HEARTBEAT_TTL", app)
            coordinator.beat(self.owner, self.heartbeat_ttl)
            threading.Thread(target=self._heartbeat, name="chorus-heartbeat", daemon=True).start()
            self.claimant = self.owner

    def _heartbeat(self) -> None:
        """Keep saying this process is alive, so the sweeper leaves its claims alone."""
        while not self._closed.wait(self.heartbeat_ttl / 4):
            try:
                self.coordinator.beat(self.owner, self.heartbeat_ttl)
            except Exception:  # Redis away for a moment: the next beat will do
                log.warning("heartbeat failed", exc_info=True)

    def dispatch(self, message_id: int, cost: int, *, bulk: bool, broadcast_id: int | None) -> bool:
        """Send one message when a thread and a rate slot are free; False if stopping."""
        horizon = BULK_HORIZON if bulk else None
        if self.inline:
            if not self.limiter.acquire(self.backend.sender, cost, horizon, self.stop):
                return False
            self._deliver(message_id)
            return True
        while not self._free.acquire(timeout=0.5):
            if self.stop.is_set():
                return False
        wait = self.limiter.book(self.backend.sender, cost, horizon, self.stop)
        if wait is None:
            self._free.release()
            return False
        with self._lock:
            self._busy += 1
            if broadcast_id is not None:
                self._inflight[broadcast_id] += 1
        assert self.pool is not None
        try:
            slot = Slot(time.monotonic() + wait, cost, horizon)
            self.pool.submit(self._task, message_id, broadcast_id, slot)
        except RuntimeError:  # the pool is shutting down: the text stays queued
            with self._lock:
                self._busy -= 1
                if broadcast_id is not None:
                    self._inflight[broadcast_id] -= 1
            self._free.release()
            return False
        return True

    def _task(self, message_id: int, broadcast_id: int | None, slot: Slot) -> None:
        try:
            with self.app.app_context():
                self._deliver(message_id, slot)
        except Exception:
            log.exception("sending message %s failed unexpectedly", message_id)
        finally:
            last = False
            with self._lock:
                self._busy -= 1
                if broadcast_id is not None:
                    self._inflight[broadcast_id] -= 1
                    if self._inflight[broadcast_id] <= 0:
                        del self._inflight[broadcast_id]
                        last = True
                self._idle.notify_all()
            self._free.release()
            if last:
                try:
                    with self.app.app_context():
                        from .broadcasts import maybe_complete

                        maybe_complete(broadcast_id)  # type: ignore[arg-type]
                except Exception:
                    log.exception("completing broadcast %s failed", broadcast_id)

    def _deliver(self, message_id: int, slot: Slot | None = None) -> None:
        """Claim, call the backend at the booked `slot`, record the answer: the whole
        life of one send.

        The claim is made CLAIM_AHEAD before the slot: early enough that the database
        round trip does not disturb the pacing (Twilio sees the texts as evenly spaced
        as the slots), late enough that few claims are ever waiting, unsent, when a
        worker dies. A thread that wakes up more than SLOT_TOLERANCE after its slot
        (a busy machine) books a new one rather than catch up, so late texts never
        bunch up above the rate.
        """
        try:
            if slot is not None:
                time.sleep(max(0.0, slot.at - time.monotonic() - CLAIM_AHEAD))
            if not claim(message_id, self.claimant):
                return
            message = db.session.get(Message, message_id)
            assert message is not None
            phone, body, broadcast_id = message.phone, message.body, message.broadcast_id
            claimed_at = message.claimed_at
            db.session.rollback()  # end the read transaction before the slow call
            while slot is not None:
                late = time.monotonic() - slot.at
                if late <= SLOT_TOLERANCE:
                    time.sleep(max(0.0, -late))
                    break
                wait = self.limiter.book(self.backend.sender, slot.cost, slot.horizon)
                slot = Slot(time.monotonic() + (wait or 0.0), slot.cost, slot.horizon)
            if broadcast_id is not None and quiet_until(settings()) is not None:
                release(message_id)  # booked before quiet hours began: it goes after them
                return
            if not recheck(message_id, claimed_at):
                return  # a STOP landed after the claim, or the claim is no longer ours
            callback = status_callback_url(message_id)
            try:
                sent = self.backend.send(phone, body, callback)
            except SendError as error:
                if error.outcome != IN_DOUBT:
                    log.warning("message %s to %s: %s", message_id, phone, error)
                record_failure(message_id, error)
            except Exception as exc:
                log.exception("message %s: unexpected error from the SMS backend", message_id)
                record_failure(message_id, SendError(RETRY, None, f"error: {exc!r}"))
            else:
                record_sent(message_id, sent.sid)
        except Exception:
            db.session.rollback()
            raise

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no send is in flight (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, wait: bool = True) -> None:
        """Stop taking sends, finish those in flight (if `wait`), close connections."""
        self.stop.set()
        if self.pool is not None:
            self.pool.shutdown(wait=wait)
        # Beat until the texts in flight are done, or the sweeper would take them back.
        self._closed.set()
        self.backend.close()


_create_lock = threading.Lock()


def outbox(app: Flask | None = None) -> Outbox:
    """The app's Outbox, made on first use."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("chorus_outbox")
    if found is None:
        with _create_lock:
            found = app.extensions.get("chorus_outbox")
            if found is None:
                found = app.extensions["chorus_outbox"] = Outbox(app)
    return found


def close_outbox(app: Flask, wait: bool = True) -> None:
    """Close the app's Outbox if it was made."""
    found = app.extensions.pop("chorus_outbox", None)
    if found is not None:
        found.close(wait=wait)


# ---------------------------------------------------------------------- jobs


def _due():
    return or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= utcnow())


def send_message(message_id: int) -> None:
    """Job (`high`): send one queued one-to-one text if it is due. Safe to run twice."""
    row = db.session.execute(
        select(Message.status, Message.segments, Message.priority, Message.next_attempt_at).where(
            Message.id == message_id
        )
    ).first()
    db.session.rollback()
    if row is None or row.status != "queued":
        return
    if row.next_attempt_at is not None and row.next_attempt_at > utcnow():
        return  # the sweeper sends it when it is due
    outbox().dispatch(message_id, row.segments, bulk=row.priority == "bulk", broadcast_id=None)


def batch_key(broadcast_id: int, batch: int) -> str:
    """The lease name of a batch."""
    return f"batch:{broadcast_id}:{batch}"


def batch_job_id(broadcast_id: int, batch: int) -> str:
    """The RQ job id of a batch."""
    return f"chorus-batch-{broadcast_id}-{batch}"


def run_batch(broadcast_id: int, batch: int) -> None:
    """Job (`bulk`): send a batch's due queued messages. Safe to run twice.

    Holds the batch's lease while it dispatches, stops early when the broadcast is
    no longer sending or quiet hours begin, and after OUTBOX_SLICE_SECONDS leaves
    the rest to a fresh job so the high queue gets a turn.
    """
    coordinator = jobs()
    key = batch_key(broadcast_id, batch)
    lease_ttl = setting("OUTBOX_BATCH_LEASE")
    token = coordinator.lease(key, lease_ttl)
    if token is None:
        return  # another job is sending this batch
    sender = outbox()
    try:
        rows = db.session.execute(
            select(Message.id, Message.segments)
            .where(
                Message.broadcast_id == broadcast_id,
                Message.batch == batch,
                Message.status == "queued",
                _due(),
            )
            .order_by(Message.id)
        ).all()
        db.session.rollback()
        deadline = time.monotonic() + setting("OUTBOX_SLICE_SECONDS")
        checked = 0.0
        for message_id, cost in rows:
            now = time.monotonic()
            if now - checked > 0.5:
                if not _may_send_bulk(broadcast_id):
                    break
                if not coordinator.renew(key, token, lease_ttl):
                    log.warning("lost the lease of %s; stopping this job", key)
                    return
                checked = now
            if now > deadline:
                break
            if not sender.dispatch(message_id, cost, bulk=True, broadcast_id=broadcast_id):
                break
    finally:
        coordinator.release(key, token)
    if not sender.stop.is_set():
        pump(broadcast_id)


def _may_send_bulk(broadcast_id: int) -> bool:
    status = db.session.execute(
        select(Broadcast.status).where(Broadcast.id == broadcast_id)
    ).scalar_one_or_none()
    db.session.rollback()
    return status == "sending" and quiet_until(settings()) is None


def pump(broadcast_id: int) -> int:
    """Make sure the first due batches of a sending broadcast have a job; returns how
    many were queued. Marks the broadcast completed when nothing is left to send."""
    from .broadcasts import check_still_wanted, maybe_complete

    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != "sending" or broadcast.expanded_at is None:
        db.session.rollback()
        return 0
    if not check_still_wanted(broadcast):
        return 0
    if quiet_until(settings()) is not None:
        db.session.rollback()
        return 0
    window = int(setting("OUTBOX_BATCH_WINDOW"))
    batches = (
        db.session.execute(
            select(Message.batch)
            .where(Message.broadcast_id == broadcast_id, Message.status == "queued", _due())
            .group_by(Message.batch)
            .order_by(Message.batch)
            .limit(window)
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    if not batches:
        maybe_complete(broadcast_id)
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


# ---------------------------------------------------------------------- the sweeper's part


def recover_stale(now: datetime | None = None, limit: int = 200) -> tuple[int, int]:
    """Take back claims older than the lease: (reconciled as sent, re-queued).

    A claim goes stale when its worker died between claiming and recording
    Twilio's answer. If a status callback has since recorded its sid, it was sent.
    Otherwise Twilio is asked (its Messages list, for this number and body, since
    the claim, ignoring sids we already hold): if Twilio has it, the sid is
    recorded and it counts as sent; if not, it goes back to the queue. If Twilio
    cannot be asked, the claim waits for a later sweep (for up to ten leases, then
    it is re-queued anyway).
    """
    now = now or utcnow()
    lease = timedelta(seconds=setting("OUTBOX_LEASE_SECONDS"))
    stale = and_(Message.status == "sending", Message.claimed_at < now - lease)
    owners = (
        db.session.execute(
            select(Message.claimed_by)
            .where(Message.status == "sending", Message.claimed_by.is_not(None))
            .distinct()
        )
        .scalars()
        .all()
    )
    coordinator = jobs()
    grace = setting("OUTBOX_HEARTBEAT_TTL") / 2
    dead = [owner for owner in owners if coordinator.dead(owner, grace)]
    if dead:
        # Their process stopped beating: its claims need not wait for the lease.
        stale = and_(
            Message.status == "sending",
            or_(Message.claimed_at < now - lease, Message.claimed_by.in_(dead)),
        )
    reconciled = db.session.execute(
        update(Message)
        .where(stale, Message.twilio_sid.is_not(None))
        .values(status="sent", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    rows = db.session.execute(
        select(Message.id, Message.phone, Message.body, Message.claimed_at)
        .where(stale, Message.twilio_sid.is_(None))
        .order_by(Message.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    backend = outbox().backend
    requeued = 0
    for message_id, phone, body, claimed_at in rows:
        try:
            sids = backend.find_accepted(phone, body, claimed_at - timedelta(minutes=5))
        except SendError as error:
            if claimed_at > now - 10 * lease:
                log.warning("cannot reconcile message %s yet: %s", message_id, error.reason)
                continue
            sids = []
        if sids:
            known = set(
                db.session.execute(select(Message.twilio_sid).where(Message.twilio_sid.in_(sids)))
                .scalars()
                .all()
            )
            sids = [sid for sid in sids if sid not in known]
        same_claim = and_(
            Message.id == message_id,
            Message.status == "sending",
            Message.claimed_at == claimed_at,
            Message.twilio_sid.is_(None),
        )
        if sids:
            reconciled += db.session.execute(
                update(Message)
                .where(same_claim)
                .values(status="sent", twilio_sid=sids[-1], sent_at=claimed_at, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
        else:
            requeued += db.session.execute(
                update(Message)
                .where(same_claim)
                .values(
                    status="queued",
                    next_attempt_at=now,
                    error_count=Message.error_count + 1,
                    failed_reason="re-queued: its worker stopped before Twilio answered",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        db.session.commit()
    if requeued:
        # Back in the queue of a broadcast cancelled meanwhile: it will never go.
        db.session.execute(
            update(Message)
            .where(
                Message.status == "queued",
                Message.broadcast_id.in_(
                    select(Broadcast.id).where(Broadcast.status == "cancelled")
                ),
            )
            .values(status="skipped", failed_reason="broadcast cancelled", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    if reconciled or requeued:
        log.warning("stale claims: %d reconciled as sent, %d re-queued", reconciled, requeued)
    return reconciled, requeued


def pump_singles(now: datetime | None = None, limit: int = 500) -> int:
    """Queue a send job for due one-to-one texts that have none (retries, lost jobs)."""
    now = now or utcnow()
    ids = (
        db.session.execute(
            select(Message.id)
            .where(
                Message.direction == "out",
                Message.broadcast_id.is_(None),
                Message.status == "queued",
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            )
            .order_by(Message.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    queued = 0
    for message_id in ids:
        if jobs().enqueue(
            send_message, message_id, priority="high", job_id=f"chorus-msg-{message_id}"
        ):
            queued += 1
    return queued


def pump_broadcasts() -> int:
    """`pump` every sending broadcast; returns batches queued."""
    ids = (
        db.session.execute(
            select(Broadcast.id).where(
                Broadcast.status == "sending", Broadcast.expanded_at.is_not(None)
            )
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    return sum(pump(broadcast_id) for broadcast_id in ids)
