"""The thread-pool sender: one per app and process, the life of every send.

Sends are paced by the shared per-sender rate limiter (segments per second) and run
concurrently on a thread pool, so one worker can keep the cap busy while each
Twilio call takes 100-300 ms. A send claims its text and commits before the Twilio
call (that commit is what makes a send exactly-once through a killed worker), calls
Twilio outside any transaction, and records the answer in a short transaction of
its own; the steps are in `app.domain.outbox.claims`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask, current_app

from ..config import Settings
from ..domain.outbox import claims
from ..domain.outbox.quiet import quiet_until
from ..extensions import db
from ..jobs import Jobs
from ..sms.backends import IN_DOUBT, RETRY, SendError, make_backend
from ..sms.ratelimit import BULK_HORIZON, LocalRateLimiter, RateLimiter, RedisRateLimiter

log = logging.getLogger(__name__)

#: How long before its rate slot a text is claimed (see Outbox._deliver).
CLAIM_AHEAD = 0.05
#: A send that would start later than this after its rate slot books a new slot.
SLOT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Slot:
    """A booked rate slot: when (monotonic), for how many segments, at what horizon."""

    at: float
    cost: int
    horizon: float | None


class Outbox:
    """One per app and process: backend, rate limiter and the sending threads.

    With JOBS_EAGER (tests) or outbox_send_threads=0 every send happens inline in
    the calling job; otherwise `dispatch` waits for a free thread and a rate slot,
    hands the send to the pool and returns.
    """

    def __init__(self, app: Flask):
        self.app = app
        settings: Settings = app.config["CHORUS"]
        self.settings = settings
        threads = settings.outbox_send_threads
        self.inline = bool(app.config.get("JOBS_EAGER")) or threads <= 0
        self.backend = make_backend(
            settings, timeout=settings.outbox_http_timeout, per_call=self.inline
        )
        coordinator: Jobs = app.extensions["chorus_jobs"]
        self.limiter: RateLimiter = (
            RedisRateLimiter(coordinator.redis, settings.sms_max_per_second)
            if coordinator.scripting
            else LocalRateLimiter(settings.sms_max_per_second)
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
        self._drained: dict[int, Callable[[int], object]] = {}
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.coordinator = coordinator
        # A claim names its process only if that process beats: the sweeper takes back
        # a named process's claims once its beats stop, so a process that never beats
        # (inline sends) must not name itself, or its claims go back while in flight.
        self.claimant: str | None = None
        self.heartbeat_ttl = settings.outbox_heartbeat_ttl
        if coordinator.uses_redis and not self.inline:
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

    def dispatch(
        self,
        message_id: int,
        cost: int,
        *,
        bulk: bool,
        broadcast_id: int | None,
        drained: Callable[[int], object] | None = None,
    ) -> bool:
        """Send one message when a thread and a rate slot are free; False if stopping.

        `drained(broadcast_id)` is called (in an app context) when the last send of
        that broadcast in flight on this pool is over; inline sends never call it.
        """
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
                if drained is not None:
                    self._drained[broadcast_id] = drained
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
            then: Callable[[int], object] | None = None
            with self._lock:
                self._busy -= 1
                if broadcast_id is not None:
                    self._inflight[broadcast_id] -= 1
                    if self._inflight[broadcast_id] <= 0:
                        del self._inflight[broadcast_id]
                        then = self._drained.pop(broadcast_id, None)
                self._idle.notify_all()
            self._free.release()
            if then is not None and broadcast_id is not None:
                try:
                    with self.app.app_context():
                        then(broadcast_id)
                except Exception:
                    log.exception("after the last send of broadcast %s", broadcast_id)

    def _deliver(self, message_id: int, slot: Slot | None = None) -> None:
        """Claim, call the backend at the booked `slot`, record the answer: the whole
        life of one send, committing after each step.

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
            ours = claims.claim(message_id, self.claimant)
            # The text as it will go (a personal link put in, if it waits for one), in
            # the claim's transaction.
            claim = claims.claimed(message_id) if ours else None
            db.session.commit()  # the claim (or the skip) stands before Twilio is called
            if claim is None:
                return
            while slot is not None:
                late = time.monotonic() - slot.at
                if late <= SLOT_TOLERANCE:
                    time.sleep(max(0.0, -late))
                    break
                wait = self.limiter.book(self.backend.sender, slot.cost, slot.horizon)
                slot = Slot(time.monotonic() + (wait or 0.0), slot.cost, slot.horizon)
            if claim.broadcast_id is not None and quiet_until(self.settings) is not None:
                claims.release(message_id)  # booked before quiet hours began: it goes after
                db.session.commit()
                return
            may_go = claims.recheck(message_id, claim.claimed_at)
            db.session.commit()
            if not may_go:
                return  # a STOP landed after the claim, or the claim is no longer ours
            callback = claims.status_callback_url(self.settings, message_id)
            try:
                sent = self.backend.send(claim.phone, claim.body, callback)
            except SendError as error:
                if error.outcome != IN_DOUBT:
                    log.warning("message %s to %s: %s", message_id, claim.phone, error)
                claims.record_failure(message_id, error, self.settings)
            except Exception as exc:
                log.exception("message %s: unexpected error from the SMS backend", message_id)
                unknown = SendError(RETRY, None, f"error: {exc!r}")
                claims.record_failure(message_id, unknown, self.settings)
            else:
                claims.record_sent(message_id, sent.sid)
            db.session.commit()
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
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug proxy
    found: Outbox | None = app.extensions.get("chorus_outbox")
    if found is None:
        with _create_lock:
            found = app.extensions.get("chorus_outbox")
            if found is None:
                found = app.extensions["chorus_outbox"] = Outbox(app)
    return found


def close_outbox(app: Flask, wait: bool = True) -> None:
    """Close the app's Outbox if it was made."""
    found: Outbox | None = app.extensions.pop("chorus_outbox", None)
    if found is not None:
        found.close(wait=wait)
