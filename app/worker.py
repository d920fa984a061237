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
killed), takes back stale claims, re-queues due retries, recovers inbound texts
Chorus missed, counts texts for /metrics, empties message bodies older than
MESSAGE_RETENTION_DAYS (a few bounded batches per sweep), and re-queues member imports
whose job was lost (clearing out old imports' rows). Everything it does is read from
the database, so it recovers from any loss of Redis state.

Without REDIS_URL there is no RQ: jobs run in threads of the web process and the
sweeper runs there too (started with the first request: `init_app`, called by the
app factory), or in the foreground of `flask --app wsgi worker`. The sweep's duties
are jobs of `app.tasks`; this module only schedules them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask

from .extensions import db
from .jobs import Jobs
from .tasks import broadcasts as broadcast_tasks
from .tasks import consultations as consultation_tasks
from .tasks import counts as count_tasks
from .tasks import member_import as member_import_tasks
from .tasks import outbox as outbox_tasks
from .tasks import privacy as privacy_tasks
from .tasks import recovery as recovery_tasks
from .tasks.sender import close_outbox

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Without Redis (and outside tests), sweep in a thread of the web process, started
    with its first request."""

    @app.before_request
    def _start_background() -> None:
        start_background_sweeper(app)


# ---------------------------------------------------------------------- the sweep


def sweep() -> dict[str, Any]:
    """One pass of every periodic duty (needs an app context); returns what it did."""
    steps: list[tuple[str, Callable[[], object]]] = [
        ("closed", consultation_tasks.close_due),
        ("reminded", consultation_tasks.remind_due),
        ("started", broadcast_tasks.start_due),
        ("expanded", broadcast_tasks.expand_missing),
        ("stale", outbox_tasks.recover_stale),
        ("batches", broadcast_tasks.pump_broadcasts),
        ("singles", outbox_tasks.pump_singles),
        ("recovered_inbound", recovery_tasks.recover_inbound_due),
        ("counted", count_tasks.publish_text_counts_due),
        ("retention", privacy_tasks.clear_old_bodies),
        ("member_imports", member_import_tasks.resume_stalled),
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

    def __init__(self, app: Flask, interval: float | None = None) -> None:
        super().__init__(name="chorus-sweeper", daemon=True)
        self.app = app
        self.interval = float(interval or app.config["CHORUS"].sweep_interval)
        self.stopping = threading.Event()

    def run(self) -> None:
        """Poll twice per interval; sweep when this process wins the tick."""
        while not self.stopping.wait(self.interval / 2):
            self.sweep_once()

    def sweep_once(self) -> dict[str, Any] | None:
        """Sweep now if no other process swept within the interval."""
        try:
            with self.app.app_context():
                coordinator: Jobs = self.app.extensions["chorus_jobs"]
                if not coordinator.tick("sweep", self.interval * 0.9):
                    return None
                # Short, so a worker killed mid-sweep does not stop the others for long;
                # two sweeps overlapping now and then is harmless (every duty is idempotent).
                token = coordinator.lease("sweep-running", self.interval * 4)
                if token is None:
                    return None
                try:
                    done = sweep()
                    coordinator.mark("sweep")
                    return done
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
    sweeper = Sweeper(app)
    app.extensions["chorus_sweeper"] = sweeper
    sweeper.start()


# ---------------------------------------------------------------------- the worker


def make_worker(app: Flask, name: str | None = None) -> Any:
    """An RQ SimpleWorker on chorus-high then chorus-bulk, running jobs in app contexts."""
    # Imported here, not at the top: only the worker command needs rq's worker (and
    # its fork/signal machinery); the web process never loads it.
    from rq import SimpleWorker

    coordinator = app.extensions["chorus_jobs"]

    class ChorusWorker(SimpleWorker):
        """SimpleWorker whose every job runs inside a fresh app context."""

        def perform_job(self, job: Any, queue: Any) -> bool:
            with app.app_context():
                return super().perform_job(job, queue)

    return ChorusWorker(
        [coordinator.queues["high"], coordinator.queues["bulk"]],
        connection=coordinator.redis,
        name=name or f"chorus-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}",
    )


def run(app: Flask, burst: bool = False) -> None:
    """Work until stopped (SIGTERM/SIGINT: finish the current job and the sends in flight)."""
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
