"""`flask --app wsgi worker`: an RQ worker with its scheduler, plus the sweeper.

The worker listens on chorus-high then chorus-bulk (RQ takes from the first
non-empty queue, so replies never wait behind a broadcast's queued batches). It is
an RQ `SimpleWorker`: jobs run in the worker process itself, each inside a fresh
app context, so the outbox's sending threads and their open connections to Twilio
live as long as the worker.

The sweeper is a thread in every worker; a Redis tick makes sure only one of them
sweeps per interval. Each sweep, in order: closes consultations whose `closes_at`
has passed, sends due reminders, starts due scheduled broadcasts, re-queues
expansions and batches whose jobs were lost (Redis flushed or restarted, a worker
killed), takes back stale claims, and re-queues due retries. Everything it does
is read from the database, so it recovers from any loss of Redis state.

Without REDIS_URL there is no RQ: jobs run in threads of the web process and the
sweeper runs there too (started with the first request), or in the foreground of
`flask --app wsgi worker`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from . import audit
from .domain import DomainError
from .extensions import db
from .models import Consultation, utcnow

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 5.0


def load_tunables(app: Flask) -> None:
    """Read CHORUS_<TUNABLE> variables (see app.domain.outbox.DEFAULTS) into app.config."""
    from .domain.outbox import DEFAULTS

    for name in [*DEFAULTS, "SWEEP_INTERVAL"]:
        value = os.environ.get("CHORUS_" + name)
        if value:
            app.config[name] = float(value)


# ---------------------------------------------------------------------- the sweep


def close_due(now: datetime | None = None) -> int:
    """Close open consultations whose closing time has passed (actor "system")."""
    from .domain import consultations

    now = now or utcnow()
    due = (
        db.session.execute(
            select(Consultation).where(Consultation.status == "open", Consultation.closes_at <= now)
        )
        .scalars()
        .all()
    )
    for consultation in due:
        consultations.close(consultation, actor="system")
        db.session.commit()
    return len(due)


def remind_due(now: datetime | None = None) -> int:
    """Send the one automatic reminder of each open consultation whose `remind_at` passed."""
    from .domain import broadcasts

    now = now or utcnow()
    ids = (
        db.session.execute(
            select(Consultation.id).where(
                Consultation.status == "open",
                Consultation.remind_at <= now,
                Consultation.reminded_at.is_(None),
                or_(Consultation.closes_at.is_(None), Consultation.closes_at > now),
            )
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    sent = 0
    for consultation_id in ids:
        claimed = db.session.execute(
            update(Consultation)
            .where(Consultation.id == consultation_id, Consultation.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            continue
        consultation = db.session.get(Consultation, consultation_id)
        try:
            broadcast, _ = broadcasts.create_reminder(
                consultation, actor="system", cfg=current_app.config["CHORUS"]
            )
        except DomainError as exc:
            # Refused (e.g. over the segment budget; nothing was written): it would be
            # refused again at every sweep and hold up the reminders after it. Keep the
            # claim, so it is not tried again, and tell staff in the audit log.
            audit.record(
                "system",
                "consultation.reminder_refused",
                "consultation",
                consultation.code,
                {"reason": exc.message},
            )
            db.session.commit()
            log.warning("automatic reminder of %s refused: %s", consultation.code, exc.message)
            continue
        db.session.commit()
        broadcasts.launch(broadcast)
        sent += 1
    return sent


def sweep() -> dict[str, Any]:
    """One pass of every periodic duty (needs an app context); returns what it did."""
    from .domain import broadcasts, outbox

    steps = [
        ("closed", close_due),
        ("reminded", remind_due),
        ("started", broadcasts.start_due),
        ("expanded", broadcasts.expand_missing),
        ("stale", outbox.recover_stale),
        ("batches", outbox.pump_broadcasts),
        ("singles", outbox.pump_singles),
    ]
    done: dict[str, Any] = {}
    for name, step in steps:
        try:
            done[name] = step()
        except Exception:  # one failing duty must not stop the others
            db.session.rollback()
            log.exception("sweep step %s failed", name)
            done[name] = "error"
    return done


class Sweeper(threading.Thread):
    """Runs `sweep` every interval; across processes at most one sweep per interval."""

    def __init__(self, app: Flask, interval: float | None = None):
        super().__init__(name="chorus-sweeper", daemon=True)
        self.app = app
        self.interval = float(interval or app.config.get("SWEEP_INTERVAL", SWEEP_INTERVAL))
        self.stopping = threading.Event()

    def run(self) -> None:
        """Poll twice per interval; sweep when this process wins the tick."""
        while not self.stopping.wait(self.interval / 2):
            self.sweep_once()

    def sweep_once(self) -> dict[str, Any] | None:
        """Sweep now if no other process swept within the interval."""
        try:
            with self.app.app_context():
                coordinator = self.app.extensions["chorus_jobs"]
                if not coordinator.tick("sweep", self.interval * 0.9):
                    return None
                # Short, so a worker killed mid-sweep does not stop the others for long;
                # two sweeps overlapping now and then is harmless (every duty is idempotent).
                token = coordinator.lease("sweep-running", self.interval * 4)
                if token is None:
                    return None
                try:
                    return sweep()
                finally:
                    coordinator.release("sweep-running", token)
        except Exception:
            log.exception("sweep failed")
            return None

    def stop(self) -> None:
        """Stop after the current sweep."""
        self.stopping.set()


def start_background_sweeper(app: Flask) -> None:
    """Without Redis (and outside tests), sweep in a daemon thread of this process."""
    if app.extensions.get("chorus_sweeper") is not None:
        return
    coordinator = app.extensions["chorus_jobs"]
    if coordinator.uses_redis or app.config.get("JOBS_EAGER") or app.config.get("TESTING"):
        app.extensions["chorus_sweeper"] = False
        return
    load_tunables(app)
    sweeper = Sweeper(app)
    app.extensions["chorus_sweeper"] = sweeper
    sweeper.start()


# ---------------------------------------------------------------------- the worker


def make_worker(app: Flask, name: str | None = None) -> Any:
    """An RQ SimpleWorker on chorus-high then chorus-bulk, running jobs in app contexts."""
    from rq import SimpleWorker

    coordinator = app.extensions["chorus_jobs"]

    class ChorusWorker(SimpleWorker):
        """SimpleWorker whose every job runs inside a fresh app context."""

        def perform_job(self, job, queue):
            with app.app_context():
                return super().perform_job(job, queue)

    return ChorusWorker(
        [coordinator.queues["high"], coordinator.queues["bulk"]],
        connection=coordinator.redis,
        name=name or f"chorus-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
    )


def run(app: Flask, burst: bool = False) -> None:
    """Work until stopped (SIGTERM/SIGINT: finish the current job and the sends in flight)."""
    from .domain.outbox import close_outbox

    load_tunables(app)
    app.extensions["chorus_sweeper"] = False  # this process sweeps below, not lazily
    coordinator = app.extensions["chorus_jobs"]
    sweeper = Sweeper(app)
    if not coordinator.uses_redis:
        log.info("no REDIS_URL: running jobs in this process, sweeping every %ss", sweeper.interval)
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        try:
            while True:
                sweeper.sweep_once()
                if burst:
                    coordinator.wait_idle()
                    break
                if stopping.wait(sweeper.interval / 2):
                    break
        finally:
            close_outbox(app, wait=True)
        return
    worker = make_worker(app)
    sweeper.start()
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        sweeper.stop()
        close_outbox(app, wait=True)
