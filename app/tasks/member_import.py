"""The member import jobs: check an uploaded file, and add a confirmed import's rows.

`check_import(import_id)` checks every row of an import that is `checking` (uploaded,
its file kept) and makes it a preview, in one transaction: run twice, the second run
finds it checked and returns; after a crash it is still `checking` and a run starts
over. A lease keeps a second run from doing the same work at the same time.

`run_import(import_id)` adds a confirmed import's rows, a chunk per transaction. It is
safe to run twice, at once or one after the other: a lease keeps a second run from
starting while one works, and each chunk moves the import's cursor in the transaction
that adds its members, so a run that starts later (or after a crash) goes on from the
last commit.

The sweeper (`resume_stalled`) queues an import's job again (the check or the adding)
when it was lost, and clears out old imports' rows and files.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..config import settings
from ..domain import member_import
from ..extensions import db
from ..jobs import jobs
from ..models import utcnow
from .outbox import send_soon_all

log = logging.getLogger(__name__)

LEASE = 120.0  # seconds; renewed after every chunk (a chunk takes well under a second)
STALLED = timedelta(minutes=2)  # a confirmed import that has not moved for this long
CHECK_LEASE = 600.0  # seconds; a check of 100,000 rows takes well under a minute
CHECK_STALLED = timedelta(minutes=2)  # an upload still `checking` this long after it came


def job_id(import_id: int) -> str:
    """The name of an import's job (one waiting at a time)."""
    return f"member-import-{import_id}"


def enqueue_import(import_id: int) -> bool:
    """Queue the job of a confirmed import (call after the commit that confirmed it)."""
    return jobs().enqueue(run_import, import_id, priority="bulk", job_id=job_id(import_id))


def check_job_id(import_id: int) -> str:
    """The name of an import's check job (one waiting at a time)."""
    return f"member-import-check-{import_id}"


def enqueue_check(import_id: int) -> bool:
    """Queue the check of an uploaded file (call after the commit that stored it)."""
    return jobs().enqueue(check_import, import_id, priority="bulk", job_id=check_job_id(import_id))


def check_import(import_id: int) -> None:
    """Check every row of import `import_id` if it is still `checking`; one commit."""
    coordinator = jobs()
    key = "lease:" + check_job_id(import_id)
    token = coordinator.lease(key, CHECK_LEASE)
    if token is None:
        log.info("member import %s is being checked elsewhere", import_id)
        return
    try:
        chorus = settings()
        checked = member_import.check_import(
            import_id, region=chorus.default_region, default_language=chorus.default_language
        )
        if checked:
            db.session.commit()
        else:
            db.session.rollback()
    except Exception:
        db.session.rollback()
        raise
    finally:
        coordinator.release(key, token)


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
                send_soon_all(welcomes)  # each new member's welcome, at bulk priority
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
    """Sweep duty: queue again the checks of uploads still `checking` a while after they
    came and the confirmed imports that stopped moving (Redis lost their job, a worker
    died), and delete rows and files of imports older than a day."""
    now = now or utcnow()
    member_import.purge(now)
    db.session.commit()
    unchecked = member_import.unchecked(now - CHECK_STALLED)
    unfinished = member_import.unfinished(now - STALLED)
    db.session.rollback()
    queued = 0
    for import_id in unchecked:
        if not jobs().leased("lease:" + check_job_id(import_id)) and enqueue_check(import_id):
            queued += 1
    for import_id in unfinished:
        if not jobs().leased("lease:" + job_id(import_id)) and enqueue_import(import_id):
            queued += 1
    db.session.rollback()
    return queued
