"""Jobs for the audit log: walking the whole hash chain in the background.

A walk reads every event (seconds for 100,000), so no page does it: the console asks
for one (`request_walk`) and shows the shared result (app/domain/audit_log.py).
"""

from __future__ import annotations

from ..domain import audit_log
from ..extensions import db
from ..jobs import jobs

WALK_JOB = "chorus-audit-walk"


def walk_whole() -> None:
    """Job (`bulk`): walk the whole chain and record what it found. Safe to run twice."""
    audit_log.walk_whole()
    db.session.commit()


def request_walk(status: audit_log.ChainStatus) -> bool:
    """Queue a walk unless one is already on its way (commits the request); True when
    this call queued it (with JOBS_EAGER it has run by the time this returns)."""
    if not audit_log.ask_for_walk(status):
        db.session.rollback()
        return False
    db.session.commit()
    return jobs().enqueue(walk_whole, priority="bulk", job_id=WALK_JOB)
