"""The forward-only order of an outbound message's statuses, kept in this one place."""

from __future__ import annotations

from sqlalchemy import ColumnElement, case

from ...models import Message

# Forward-only ranks: a status only ever moves to a higher rank. `skipped` and `unknown`
# rank with `sending` because only a status callback (proof that Twilio sent it)
# overrides them.
RANK: dict[str, int] = {
    "queued": 0,
    "sending": 1,
    "skipped": 1,
    "unknown": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
}
#: Not yet settled: the outbox may still send these.
PENDING: tuple[str, ...] = ("queued", "sending")


def lower_than(status: str) -> list[str]:
    """The statuses a message may move from to reach `status` (those ranked below it)."""
    return [name for name, rank in RANK.items() if rank < RANK[status]]


def forward_to(status: str) -> ColumnElement[str]:
    """SQL for 'the new status if it ranks higher than the current one, else unchanged'."""
    return case((Message.status.in_(lower_than(status)), status), else_=Message.status)
