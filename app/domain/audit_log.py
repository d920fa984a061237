"""The audit log as staff read it: a search, a page at a time, and the chain's status.

Searching filters in SQL and pages by keyset on `seq`, newest first, so a page costs
the same however long the log is. Checking the chain reads every event (app.audit.verify:
seconds for 100,000 events), so a page never does that itself. The `audit_check` row,
shared by every process, holds the last event known good and when the whole chain was
last walked; `chain_status` checks only the events written since (and that the last
checked event is unchanged) and moves the row on. A walk of the whole chain runs as a
job (app/tasks/audit.py) when the last one is older than FULL_CHECK_EVERY, when there
has never been one, or when staff ask for it; it finds an edit of an old event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, cast, or_, select, update

from .. import audit
from ..extensions import db
from ..models import AuditCheck, AuditEvent, AuditHead, utcnow
from .sql import keyset_page

PER_PAGE = 50
FULL_CHECK_EVERY = 3600.0  # seconds between walks of the whole chain
WALK_TIMEOUT = timedelta(minutes=15)  # a walk asked for and not done by then is asked again


@dataclass
class Search:
    """What to look for; every part optional. Dates are days in the organisation's zone."""

    actor: str = ""
    action: str = ""
    subject_type: str = ""
    subject_id: str = ""
    since: date | None = None
    until: date | None = None
    text: str = ""


@dataclass
class AuditPage:
    """One page of events, newest first, and the cursors either side (None: none)."""

    events: list[AuditEvent]
    newer: int | None  # pass as `after`
    older: int | None  # pass as `before`


def _like(value: str) -> str:
    """`value` for a LIKE pattern, its wildcards taken literally (escape character /)."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _conditions(search: Search, timezone: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if search.actor.strip():
        pattern = f"%{_like(search.actor.strip())}%"
        where.append(AuditEvent.actor.ilike(pattern, escape="/"))
    if search.action.strip():
        # "staff." finds every staff action; "staff.created" that one.
        where.append(AuditEvent.action.like(f"{_like(search.action.strip())}%", escape="/"))
    if search.subject_type.strip():
        where.append(AuditEvent.subject_type == search.subject_type.strip())
    if search.subject_id.strip():
        where.append(AuditEvent.subject_id == search.subject_id.strip())
    zone = ZoneInfo(timezone)
    if search.since is not None:
        start = datetime.combine(search.since, datetime.min.time(), zone)
        where.append(AuditEvent.created_at >= start)
    if search.until is not None:
        end = datetime.combine(search.until + timedelta(days=1), datetime.min.time(), zone)
        where.append(AuditEvent.created_at < end)
    text = search.text.strip()
    if text:
        data = cast(AuditEvent.data, String)
        # The data is stored as JSON, where "café" may be written "caf\u00e9".
        escaped = json.dumps(text)[1:-1]
        options = {f"%{_like(text)}%", f"%{_like(escaped)}%"}
        where.append(or_(*(data.ilike(option, escape="/") for option in sorted(options))))
    return where


def search_page(
    search: Search,
    *,
    timezone: str,
    before: int | None = None,
    after: int | None = None,
    per_page: int = PER_PAGE,
) -> AuditPage:
    """The events matching `search`, newest first: the newest `per_page`, those before
    seq `before`, or those after seq `after`."""
    where = _conditions(search, timezone)

    def exists(condition: ColumnElement[bool]) -> bool:
        found = select(AuditEvent.seq).where(*where, condition).limit(1)
        return db.session.execute(found).first() is not None

    events, newer, older = keyset_page(
        select(AuditEvent).where(*where),
        AuditEvent.seq,
        lambda event: event.seq,
        exists,
        before=before,
        after=after,
        per_page=per_page,
        scalars=True,
    )
    return AuditPage(events, newer, older)


# --- the chain's status ----------------------------------------------------------------


@dataclass(frozen=True)
class ChainStatus:
    """Whether the hash chain holds, as far as it has been checked.

    `events` is how many events the log holds (the head); `checked_up_to` the last one
    known good; `whole_checked_at` when the whole chain was last walked (None: never;
    an edit of an event already checked shows at the next walk); `checked_now` how many
    newer events this look checked; `walk_due` that a walk of the whole chain is due
    (never done, or older than FULL_CHECK_EVERY); `walk_asked_at` when one was last
    asked for.
    """

    ok: bool
    events: int
    checked_up_to: int
    whole_checked_at: datetime | None
    walk_asked_at: datetime | None
    problem: str | None = None
    checked_now: int = 0
    walk_due: bool = False

    @property
    def walk_running(self) -> bool:
        """A walk was asked for and has not finished since (nor given up: WALK_TIMEOUT)."""
        asked = self.walk_asked_at
        if asked is None or utcnow() - asked > WALK_TIMEOUT:
            return False
        return self.whole_checked_at is None or asked > self.whole_checked_at


def _head_seq() -> int:
    seq = db.session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
    return int(seq or 0)


def _checkpoint() -> AuditCheck | None:
    return db.session.execute(
        select(AuditCheck).where(AuditCheck.id == 1).execution_options(populate_existing=True)
    ).scalar()


def _unchanged(seq: int, stored_hash: str) -> bool:
    """True when event `seq` still holds `stored_hash` and still hashes to it."""
    if seq == 0:
        return True
    table = AuditEvent.__table__
    row = (
        db.session.connection()
        .execute(select(*[table.c[name] for name in audit.FIELDS]).where(table.c.seq == seq))
        .first()
    )
    return row is not None and row.hash == stored_hash and audit.digest(row) == stored_hash


def walk_whole() -> ChainStatus:
    """Walk the whole chain (seconds for 100,000 events) and record what it found."""
    result = audit.verify()
    now = utcnow()
    check = _checkpoint()
    if check is None:
        check = AuditCheck(id=1)
        db.session.add(check)
    check.seq, check.hash, check.ok, check.problem = (
        result.seq,
        result.hash,
        result.ok,
        (result.problem or "")[:200] or None,
    )
    check.whole_checked_at = now
    db.session.flush()
    return ChainStatus(
        ok=result.ok,
        events=_head_seq(),
        checked_up_to=result.seq,
        whole_checked_at=now,
        walk_asked_at=check.walk_requested_at,
        problem=check.problem,
        checked_now=result.checked,
    )


def chain_status(*, full_every: float = FULL_CHECK_EVERY) -> ChainStatus:
    """The chain's status from the shared checkpoint, extended to the newest event.

    Checks only the events written since the checkpoint (and that the last event it
    covers is unchanged), and moves the checkpoint on (flushed; the caller commits).
    Never walks the whole chain: `walk_due` says when a walk should be asked for
    (`ask_for_walk`, then app.tasks.audit runs `walk_whole` in the background). Once
    broken, the status stays broken until a walk of the whole chain finds it whole.
    """
    check = _checkpoint()
    events = _head_seq()
    if check is None or check.whole_checked_at is None:
        return ChainStatus(
            ok=True,
            events=events,
            checked_up_to=0,
            whole_checked_at=None,
            walk_asked_at=check.walk_requested_at if check else None,
            walk_due=True,
        )
    due = (utcnow() - check.whole_checked_at).total_seconds() > full_every
    known = (check.seq, check.hash)
    checked_now = 0
    if check.ok:
        if not _unchanged(*known):
            ok, seq, last, problem = False, check.seq, check.hash, None
            problem = f"event #{check.seq} was changed or removed after it was checked"
        else:
            result = audit.verify(*known)
            ok, seq, last, problem = result.ok, result.seq, result.hash, result.problem
            checked_now = result.checked
        if (ok, seq, last) != (True, *known):
            # Compare-and-set: another process may have moved the checkpoint meanwhile.
            db.session.execute(
                update(AuditCheck)
                .where(
                    AuditCheck.id == 1,
                    AuditCheck.seq == known[0],
                    AuditCheck.hash == known[1],
                    AuditCheck.ok.is_(True),
                )
                .values(seq=seq, hash=last, ok=ok, problem=(problem or "")[:200] or None)
                .execution_options(synchronize_session=False)
            )
    else:
        ok, seq, problem = False, check.seq, check.problem
    return ChainStatus(
        ok=ok,
        events=events,
        checked_up_to=seq,
        whole_checked_at=check.whole_checked_at,
        walk_asked_at=check.walk_requested_at,
        problem=problem,
        checked_now=checked_now,
        walk_due=due,
    )


def ask_for_walk(status: ChainStatus) -> bool:
    """Note that a walk of the whole chain is wanted; True when this caller should queue
    it (nobody asked in the last WALK_TIMEOUT, or the last walk finished since).
    Compare-and-set on the row, so of several processes asking at once one queues it."""
    if status.walk_running:
        return False
    now = utcnow()
    if db.session.execute(select(AuditCheck.id).where(AuditCheck.id == 1)).first() is None:
        db.session.add(AuditCheck(id=1, seq=0, hash=audit.GENESIS, ok=True))
        db.session.flush()
    asked = AuditCheck.walk_requested_at
    before = status.walk_asked_at
    changed = db.session.execute(
        update(AuditCheck)
        .where(AuditCheck.id == 1, asked.is_(None) if before is None else asked == before)
        .values(walk_requested_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(changed, "rowcount", 0) == 1)
