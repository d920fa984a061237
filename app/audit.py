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


def _digest(event: AuditEvent) -> str:
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
    event.hash = _digest(event)
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
    """Result of checking the chain."""

    ok: bool
    checked: int
    problem: str | None = None


def verify() -> Verification:
    """Walk the chain in order and report the first broken link, if any."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    rows = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
    for event in rows:
        if event.seq != expected_seq:
            return Verification(False, checked, f"event #{expected_seq} is missing")
        if event.prev_hash != prev:
            return Verification(False, checked, f"event #{event.seq} does not follow its previous")
        if _digest(event) != event.hash:
            return Verification(
                False, checked, f"event #{event.seq} was changed after it was written"
            )
        prev = event.hash
        expected_seq += 1
        checked += 1
    head = db.session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != checked or head_hash != prev:
        return Verification(
            False, checked, f"the log ends at #{checked} but #{head_seq} was written"
        )
    return Verification(True, checked)
