"""The append-only audit log: every staff action and decision, hash-chained.

Each event's hash covers its own fields and the previous event's hash, so editing
or deleting any row breaks the chain from there on; `audit_head` anchors the tail.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64


# What `digest` reads of an event (a row of these columns will do).
FIELDS = (
    "seq",
    "created_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "data",
    "prev_hash",
    "hash",
)


def digest(event: Any) -> str:
    """The hash of an event (an AuditEvent, or a row of its `FIELDS`)."""
    payload = json.dumps(
        {
            "seq": event.seq,
            "at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": event.actor,
            "action": event.action,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
            "data": event.data,
            "prev": event.prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: object | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the current transaction (the caller commits).

    The head row is locked before it is read, so concurrent appends queue up instead
    of forking the chain (or failing on the unique `seq`).
    """
    session = db.session
    head = _locked_head()
    if head is None:
        # The first event ever, and a concurrent first event may be adding the row too:
        # the savepoint keeps our transaction usable when it wins; then we lock its row.
        try:
            with session.begin_nested():
                session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        except IntegrityError:
            pass
        head = _locked_head()
        assert head is not None  # the row is there now, ours or the concurrent event's
    event = AuditEvent(
        seq=head.seq + 1,
        created_at=utcnow(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        data=json.loads(json.dumps(data or {}, default=str)),
        prev_hash=head.hash,
    )
    event.hash = digest(event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    return event


def _locked_head() -> AuditHead | None:
    """The head row, locked until this transaction ends (None before the first event).

    A no-op UPDATE is the lock: it holds the row on PostgreSQL, and it takes SQLite's
    write lock, where SELECT ... FOR UPDATE does nothing and two writers read one head.
    The read then skips the identity map, which may hold an older head.
    """
    session = db.session
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq)
        .execution_options(synchronize_session=False)
    )
    return session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar()


@dataclass
class Verification:
    """Result of checking the chain (or its events after a point already checked).

    `seq` and `hash` are the last event that checked out (the point to carry on from);
    `checked` counts the events checked by this call.
    """

    ok: bool
    checked: int
    problem: str | None = None
    seq: int = 0
    hash: str = GENESIS


VERIFY_CHUNK = 2000  # events read per query: memory stays flat however long the log


def verify(after_seq: int = 0, after_hash: str = GENESIS) -> Verification:
    """Walk the chain in order and report the first broken link, if any.

    By default from the first event; given the seq and hash of an event already checked,
    only the events after it (`after_hash` must be that event's stored hash, which the
    first of them must follow). Either way the head row must name the last event.
    """
    prev = after_hash
    expected_seq = after_seq + 1
    checked = 0
    table = AuditEvent.__table__
    columns = [table.c[name] for name in FIELDS]
    # Core rows on the session's connection (same transaction), not ORM loading: a
    # third less time over a long log.
    connection = db.session.connection()
    while True:
        rows = connection.execute(
            select(*columns)
            .where(table.c.seq >= expected_seq)
            .order_by(table.c.seq)
            .limit(VERIFY_CHUNK)
        ).all()
        for event in rows:
            last = (expected_seq - 1, prev)
            if event.seq != expected_seq:
                return Verification(False, checked, f"event #{expected_seq} is missing", *last)
            if event.prev_hash != prev:
                problem = f"event #{event.seq} does not follow its previous"
                return Verification(False, checked, problem, *last)
            if digest(event) != event.hash:
                problem = f"event #{event.seq} was changed after it was written"
                return Verification(False, checked, problem, *last)
            prev = event.hash
            expected_seq += 1
            checked += 1
        if len(rows) < VERIFY_CHUNK:
            break
    last_seq = expected_seq - 1
    head = db.session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != prev:
        problem = f"the log ends at #{last_seq} but #{head_seq} was written"
        return Verification(False, checked, problem, last_seq, prev)
    return Verification(True, checked, None, last_seq, prev)
