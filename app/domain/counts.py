"""How many texts there are, by direction and status (for the operator's metrics).

A GROUP BY over the whole message table: a quarter of a second at 400,000 texts on
PostgreSQL, and growing with the table. So it is not run by /metrics on each scrape
(which would hold a web worker that long, every scrape, in front of Twilio's
webhooks): the sweeper runs it once per METRICS_COUNT_INTERVAL and publishes the
numbers (app/tasks/counts.py), and /metrics reads what was published.
"""

from __future__ import annotations

from sqlalchemy import func, select

from ..extensions import db
from ..models import Message


def text_counts() -> list[tuple[str, str, int]]:
    """(direction, status, count) for every pair that has texts."""
    rows = db.session.execute(
        select(Message.direction, Message.status, func.count()).group_by(
            Message.direction, Message.status
        )
    )
    return [(str(direction), str(status), int(count)) for direction, status, count in rows]
