"""Retention: the sweeper empties message bodies older than MESSAGE_RETENTION_DAYS."""

from __future__ import annotations

import logging

from ..config import settings
from ..domain import privacy
from ..extensions import db

log = logging.getLogger(__name__)

#: Batches one sweep clears at most; the rest waits for the next sweep.
BATCHES_PER_SWEEP = 10


def clear_old_bodies(batches: int = BATCHES_PER_SWEEP, batch: int = privacy.RETENTION_BATCH) -> int:
    """The sweep's step: empty old message bodies, `batch` rows per transaction, at most
    `batches` of them; returns how many were emptied. Cheap when there is nothing to do
    (one look at an index of the texts that still have a body)."""
    days = settings().message_retention_days
    cleared = 0
    for _ in range(batches):
        try:
            done = privacy.clear_old_bodies(days, limit=batch)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        cleared += done
        if done < batch:
            break
    if cleared:
        log.info("retention: emptied the bodies of %d texts older than %d days", cleared, days)
    return cleared
