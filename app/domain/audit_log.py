"""The audit log as staff read it: a search, a page at a time, and the chain's status.

Searching filters in SQL and pages by keyset on `seq`, newest first, so a page costs
the same however long the log is. Checking the chain reads every event (app.audit.verify:
seconds for 100,000 events), so `chain_status` keeps what it learnt in a cache the
caller owns (one per process): the last event that checked out, its hash and when the
whole chain was last walked. Each later look checks only the events written since
(and that the last checked event is unchanged); the whole chain is walked again when
that walk is older than FULL_CHECK_EVERY, or when staff ask for it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, cast, or_, select

from .. import audit
from ..extensions import db
from ..models import AuditEvent, AuditHead, utcnow

PER_PAGE = 50
FULL_CHECK_EVERY = 3600.0  # seconds between walks of the whole chain
RECHECK_AT_MOST_EVERY = 10.0  # a "check it all now" this soon after one reuses it
_CACHE_KEY = "chain"


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
    query = select(AuditEvent).where(*where)
    if after is not None:
        query = query.where(AuditEvent.seq > after).order_by(AuditEvent.seq.asc())
    else:
        if before is not None:
            query = query.where(AuditEvent.seq < before)
        query = query.order_by(AuditEvent.seq.desc())
    events = list(db.session.execute(query.limit(per_page + 1)).scalars())
    more = len(events) > per_page
    events = events[:per_page]
    if after is not None:
        events.reverse()
    if not events:
        return AuditPage([], None, None)
    first, last = events[0].seq, events[-1].seq

    def exists(condition: ColumnElement[bool]) -> bool:
        found = select(AuditEvent.seq).where(*where, condition).limit(1)
        return db.session.execute(found).first() is not None

    if after is not None:
        newer = first if more else None
        older = last if exists(AuditEvent.seq < last) else None
    else:
        older = last if more else None
        newer = first if before is not None and exists(AuditEvent.seq > first) else None
    return AuditPage(events, newer, older)


# --- the chain's status ----------------------------------------------------------------


@dataclass(frozen=True)
class ChainStatus:
    """Whether the hash chain holds, as far as it has been checked.

    `events` is how many events the log holds (the head), `checked_up_to` the last one
    known good, `whole_checked_at` when the whole chain was last walked (an edit of an
    event older than the previous check shows from the next walk), `checked_now` how
    many events this look checked, and `seconds` how long it took.
    """

    ok: bool
    events: int
    checked_up_to: int
    last_hash: str
    whole_checked_at: datetime
    whole_checked_mono: float
    problem: str | None = None
    checked_now: int = 0
    seconds: float = 0.0


def _head_seq() -> int:
    seq = db.session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar()
    return int(seq or 0)


def _walk_all(started: float) -> ChainStatus:
    result = audit.verify()
    return ChainStatus(
        ok=result.ok,
        events=_head_seq(),
        checked_up_to=result.seq,
        last_hash=result.hash,
        whole_checked_at=utcnow(),
        whole_checked_mono=started,
        problem=result.problem,
        checked_now=result.checked,
        seconds=time.monotonic() - started,
    )


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


def chain_status(
    cache: dict[str, Any],
    *,
    whole: bool = False,
    full_every: float = FULL_CHECK_EVERY,
    recheck_every: float = RECHECK_AT_MOST_EVERY,
) -> ChainStatus:
    """The chain's status, checking as little as it safely can (see the module's doc).

    `cache` is a dict the caller keeps between calls (per process); `whole` walks the
    whole chain now (unless that was done in the last RECHECK_AT_MOST_EVERY seconds).
    A broken chain stays reported broken until a walk of the whole chain finds it whole.
    """
    started = time.monotonic()
    known: ChainStatus | None = cache.get(_CACHE_KEY)
    age = started - known.whole_checked_mono if known is not None else None
    walk = known is None or (age is not None and age > full_every)
    if whole and age is not None and age >= recheck_every:
        walk = True
    if (
        not walk
        and known is not None
        and known.ok
        and not _unchanged(known.checked_up_to, known.last_hash)
    ):
        walk = True  # the last event we checked was changed (or removed) since
    if walk or known is None:
        status = _walk_all(started)
    elif not known.ok:
        status = replace(known, events=_head_seq(), checked_now=0, seconds=0.0)
    else:
        result = audit.verify(known.checked_up_to, known.last_hash)
        status = replace(
            known,
            ok=result.ok,
            events=_head_seq(),
            checked_up_to=result.seq,
            last_hash=result.hash,
            problem=result.problem,
            checked_now=result.checked,
            seconds=time.monotonic() - started,
        )
    cache[_CACHE_KEY] = status
    return status
