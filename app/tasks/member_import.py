"""The member import job: add a confirmed import's rows, a chunk per transaction.

`run_import(import_id)` takes an id and is safe to run twice, at once or one after the
other: a lease keeps a second run from starting while one works, and each chunk moves
the import's cursor in the transaction that adds its members, so a run that starts
later (or after a crash) goes on from the last commit. The sweeper (`resume_stalled`)
queues an import again whose job was lost, and clears out old imports' rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..config import settings
from ..domain import member_import
from ..extensions import db
from ..jobs import jobs
from ..models import utcnow
from .outbox import enqueue_queued

log = logging.getLogger(__name__)

LEASE = 120.0  # seconds; renewed after every chunk (a chunk takes well under a second)
STALLED = timedelta(minutes=2)  # a confirmed import that has not moved for this long


def job_id(import_id: int) -> str:
    """The name of an import's job (one waiting at a time)."""
    return f"member-import-{import_id}"


def enqueue_import(import_id: int) -> bool:
    """Queue the job of a confirmed import (call after the commit that confirmed it)."""
    return jobs().enqueue(run_import, import_id, priority="bulk", job_id=job_id(import_id))


def run_import(import_id: int, chunk: int = member_import.CHUNK) -> None:
    """Add every remaining row of import `import_id`; commits after each chunk."""
    coordinator = jobs()
    key = "lease:" + job_id(import_id)
    token = coordinator.lease(key, LEASE)
    if token is None:
        log.info("member import %s is being run elsewhere", import_id)
        return
    try:
        while True:
            try:
                welcomes: list[int] = []
                more = member_import.run_chunk(
                    import_id, size=chunk, org_name=settings().org_name, welcomes=welcomes
                )
                db.session.commit()
                enqueue_queued(welcomes)  # each new member's welcome, at high priority
            except Exception:
                db.session.rollback()
                raise
            if not more:
                return
            if not coordinator.renew(key, token, LEASE):
                log.warning("member import %s: lease lost; the other run goes on", import_id)
                return
    finally:
        coordinator.release(key, token)


def resume_stalled(now: datetime | None = None) -> int:
    """Sweep duty: queue again the confirmed imports that stopped moving (Redis lost
    their job, a worker died), and delete rows of imports older than a day."""
    now = now or utcnow()
    member_import.purge(now)
    db.session.commit()
    queued = 0
    for import_id in member_import.unfinished(now - STALLED):
        if not jobs().leased("lease:" + job_id(import_id)) and enqueue_import(import_id):
            queued += 1
    db.session.rollback()
    return queued
