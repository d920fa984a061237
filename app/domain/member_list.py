"""Finding members: search by name or by number in any format, filters, pages, export.

Everything is asked of the database a page at a time: a page is at most `size` rows
found by keyset on `member.id` (newest first), so page 2,000 of 100,000 members costs
what page 1 does. How many match is said only where that is cheap (`count_for`).

Searching by number: whatever is typed (`07400 123456`, `+44 7400 123456`,
`0044 7400...`, `7400 1234`) is read as a phone number first. A whole valid number
is looked up exactly (the unique index); the start of one (`+44 74`, `07400 12`, in
the national format of DEFAULT_REGION) is a prefix of the stored E.164 (digits that
start with 0 may also be from the middle or the end: those match too); other digits
(three or more) are looked for anywhere in the number. Text with letters is a name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import Row, exists, func, or_, select, text
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Member, MemberGroup
from ..phones import try_e164

PAGE_SIZE = 50
COUNT_CAP = 10_000
FILTER_COUNT_CAP = 1_000  # a filtered list says "more than 1,000" past this
EXPORT_CHUNK = 1000
MIN_DIGITS = 3
GROUP_CHOICES = 200  # group names offered in the filter


@dataclass(frozen=True)
class MemberQuery:
    """What staff asked for: free text, and a group, language and status ("" = any)."""

    text: str = ""
    group: str = ""
    language: str = ""
    status: str = ""

    @property
    def empty(self) -> bool:
        """True when nothing narrows the list."""
        return not (self.text.strip() or self.group or self.language or self.status)


@dataclass
class Page:
    """One page of members, newest first, and where the pages either side start."""

    members: list[Member]
    newer: int | None  # pass as `after` for the page before (newer members)
    older: int | None  # pass as `before` for the page after (older members)


def national_prefix(region: str) -> str:
    """The trunk prefix of national numbers in `region` ("0" in GB), or ""."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata is not None else ""


def phone_match(text: str, region: str) -> tuple[str, str, str] | None:
    """How `text` matches stored numbers: ("exact", e164, ""), ("prefix", "+4474", ""),
    ("national", "+4474", "074") for digits that start like a national or an
    international number (`074...`, `0044...`: the start of one, or digits from
    anywhere that happen to start with 0), ("contains",
    "123456", ""), or None when it is not a number (letters, too few digits)."""
    text = text.strip()
    if not text or any(ch.isalpha() for ch in text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < MIN_DIGITS:
        return None
    whole = try_e164(text, region)
    if whole is not None:
        return ("exact", whole, "")
    if text.startswith("+"):
        return ("prefix", "+" + digits, "")
    if digits.startswith("00"):  # the international prefix, or digits from the end
        return ("national", "+" + digits[2:], digits)
    trunk = national_prefix(region)
    if trunk and digits.startswith(trunk):
        code = phonenumbers.country_code_for_region(region)
        return ("national", f"+{code}{digits[len(trunk) :]}", digits)
    return ("contains", digits, "")


def clauses(query: MemberQuery, region: str) -> list[Any]:
    """WHERE clauses on Member for `query`."""
    found: list[Any] = []
    text = query.text.strip()
    if text:
        match = phone_match(text, region)
        if match is None:
            found.append(func.lower(Member.name).contains(text.lower(), autoescape=True))
        elif match[0] == "exact":
            found.append(Member.phone == match[1])
        elif match[0] == "prefix":
            found.append(Member.phone.startswith(match[1], autoescape=True))
        elif match[0] == "national":
            found.append(
                or_(
                    Member.phone.startswith(match[1], autoescape=True),
                    Member.phone.contains(match[2], autoescape=True),
                )
            )
        else:
            found.append(Member.phone.contains(match[1], autoescape=True))
    if query.group:
        found.append(
            exists().where(MemberGroup.member_id == Member.id, MemberGroup.name == query.group)
        )
    if query.language:
        found.append(Member.language == query.language)
    if query.status:
        found.append(Member.status == query.status)
    return found


def page(
    query: MemberQuery,
    region: str,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """The page of members matching `query` older than `before` (or newer than
    `after`; neither: the newest), each with its groups loaded."""
    where = clauses(query, region)
    base = select(Member).options(selectinload(Member.group_rows)).where(*where)
    if after is not None:
        rows = list(
            db.session.execute(base.where(Member.id > after).order_by(Member.id).limit(size + 1))
            .scalars()
            .all()
        )
        more_newer = len(rows) > size
        members = list(reversed(rows[:size]))
        more_older = True  # we came from there
    else:
        if before is not None:
            base = base.where(Member.id < before)
        members = list(
            db.session.execute(base.order_by(Member.id.desc()).limit(size + 1)).scalars().all()
        )
        more_older = len(members) > size
        members = members[:size]
        more_newer = before is not None
    if not members:
        return Page([], None, None)
    if more_newer and after is None:
        # Came back from an older page: say "newer" only when some are.
        newer_one = select(Member.id).where(*where, Member.id > members[0].id).limit(1)
        more_newer = db.session.execute(newer_one).first() is not None
    if more_older and after is not None:
        older_one = select(Member.id).where(*where, Member.id < members[-1].id).limit(1)
        more_older = db.session.execute(older_one).first() is not None
    return Page(
        members,
        newer=members[0].id if more_newer else None,
        older=members[-1].id if more_older else None,
    )


def count_capped(query: MemberQuery, region: str, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(how many members match, True when there are more than `cap`): counting stops
    at the cap, so a broad filter costs no more than `cap` rows."""
    inner = select(Member.id).where(*clauses(query, region)).limit(cap + 1).subquery()
    n = int(db.session.execute(select(func.count()).select_from(inner)).scalar_one())
    return min(n, cap), n > cap


def count_all() -> int:
    """Every member (one pass over the table's smallest index)."""
    return int(db.session.execute(select(func.count()).select_from(Member)).scalar_one())


def count_for(query: MemberQuery, region: str, shown: Page, first: bool) -> tuple[int, bool]:
    """What to say about how many match, at a bounded cost: (n, True) means "more than
    n". No search: all of them. The first page not full: what it shows. A text search
    (which reads the whole table): no more than the page says. Filters: up to a cap."""
    if query.empty:
        return count_all(), False
    if first and shown.older is None:
        return len(shown.members), False
    if query.text.strip():
        return len(shown.members), True
    return count_capped(query, region, FILTER_COUNT_CAP)


def group_names(limit: int = GROUP_CHOICES) -> list[str]:
    """Group names in use, sorted (at most `limit`: a filter, not a report).

    A "loose index scan": one step through the (name, member_id) index per name, so
    a few names among 200,000 memberships cost a few index lookups, not a scan."""
    rows = db.session.execute(
        text(
            "WITH RECURSIVE names(name) AS ("
            " SELECT min(name) FROM member_group"
            " UNION ALL"
            " SELECT (SELECT min(g.name) FROM member_group g WHERE g.name > names.name)"
            " FROM names WHERE names.name IS NOT NULL"
            ") SELECT name FROM names WHERE name IS NOT NULL LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [name for (name,) in rows]


EXPORT_FIELDS = (
    Member.id,
    Member.phone,
    Member.name,
    Member.language,
    Member.status,
    Member.consent_at,
    Member.consent_source,
    Member.opted_out_at,
    Member.opt_out_source,
    Member.created_at,
)


def export_rows(
    query: MemberQuery, region: str, chunk: int = EXPORT_CHUNK
) -> Iterator[tuple[Row[Any], list[str]]]:
    """(the member's EXPORT_FIELDS, their group names) for every member matching
    `query`, oldest first, read `chunk` at a time as plain rows (no ORM objects): for a
    streamed export, never the whole table in memory at once."""
    where = clauses(query, region)
    last = 0
    while True:
        rows = db.session.execute(
            select(*EXPORT_FIELDS).where(*where, Member.id > last).order_by(Member.id).limit(chunk)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        groups: dict[int, list[str]] = defaultdict(list)
        # By id range, not a list of 1,000 ids: the ranges of successive chunks do not
        # overlap, so a sparse filter reads each membership at most once in all.
        memberships = db.session.execute(
            select(MemberGroup.member_id, MemberGroup.name)
            .where(MemberGroup.member_id.between(ids[0], ids[-1]))
            .order_by(MemberGroup.member_id, MemberGroup.name)
        )
        for member_id, name in memberships:
            groups[member_id].append(name)
        for row in rows:
            yield row, groups.get(row.id, [])
        last = ids[-1]
