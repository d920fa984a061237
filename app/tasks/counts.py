"""The sweep's step that counts texts for /metrics and publishes the numbers."""

from __future__ import annotations

import time

from ..config import settings
from ..domain import counts
from ..extensions import db
from ..jobs import jobs

PUBLISHED = "text-counts"


def publish_text_counts_due() -> int | None:
    """Count once per METRICS_COUNT_INTERVAL across every process (None: not due)."""
    if not jobs().tick("text-counts", settings().metrics_count_interval):
        return None
    return publish_text_counts()


def publish_text_counts() -> int:
    """Count texts by direction and status now and publish them; the number of pairs."""
    rows = counts.text_counts()
    db.session.rollback()  # a read-only look: end the transaction it opened
    jobs().publish(PUBLISHED, {"at": time.time(), "counts": [list(row) for row in rows]})
    return len(rows)


def published_text_counts() -> tuple[float, list[tuple[str, str, int]]] | None:
    """(when, counts) as last published, or None before the first count."""
    value = jobs().published(PUBLISHED)
    if value is None:
        return None
    rows = [(str(d), str(s), int(n)) for d, s, n in value.get("counts", [])]
    return float(value.get("at", 0.0)), rows
