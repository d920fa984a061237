"""The sweeper's consultation duties: closing on time and the automatic reminder."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update

from .. import audit
from ..config import settings
from ..domain import DomainError, broadcasts, consultations
from ..domain.sql import changed
from ..extensions import db
from ..models import Consultation, utcnow
from . import broadcasts as broadcast_tasks

log = logging.getLogger(__name__)


def close_due(now: datetime | None = None) -> int:
    """Close open consultations whose closing time has passed (actor "system"); commits
    each."""
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
        claimed = changed(
            update(Consultation)
            .where(Consultation.id == consultation_id, Consultation.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed != 1:
            db.session.rollback()
            continue
        consultation = db.session.get(Consultation, consultation_id)
        assert consultation is not None
        try:
            broadcast, _ = broadcasts.create_reminder(
                consultation, actor="system", settings=settings()
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
        broadcast_tasks.launch(broadcast)
        sent += 1
    return sent
