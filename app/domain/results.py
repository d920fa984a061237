"""Results for staff: the tally broken down by channel, language and group, the
audience a consultation counts against, whether its decision rule is met, and the
anonymous votes for export.

The totals themselves come from `consultations.results` (what the results API and
the public pages show), so every screen says the same numbers. Everything is counted
in SQL with GROUP BY: a consultation with 50,000 votes costs a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select

from ..extensions import db
from ..models import Comment, Consultation, Member, MemberGroup, MemberStatus, Vote

#: Rows read per query when exporting (keyset paging on the id: memory stays flat).
EXPORT_CHUNK = 1000
#: The group name a breakdown uses for members in no group.
NO_GROUP = ""


@dataclass
class BreakdownRow:
    """Votes per choice (every choice present), and visible comments, for one key."""

    key: str
    votes: dict[str, int]
    comments: int = 0

    @property
    def total(self) -> int:
        """Votes cast in this row."""
        return sum(self.votes.values())


@dataclass
class Breakdowns:
    """The tally by channel (sms/web/assisted), by member language and by group."""

    channel: list[BreakdownRow]
    language: list[BreakdownRow]
    group: list[BreakdownRow]


def _rows(
    choices: list[str],
    votes: Any,
    comments: Any,
    order: list[str] | None = None,
) -> list[BreakdownRow]:
    """Rows from (key, choice, n) and (key, n) results, keys in `order` then sorted."""
    found: dict[str, BreakdownRow] = {}

    def row(key: str | None) -> BreakdownRow:
        name = str(key) if key else ""
        if name not in found:
            found[name] = BreakdownRow(name, dict.fromkeys(choices, 0))
        return found[name]

    for key, choice, n in votes:
        target = row(key)
        if choice in target.votes:
            target.votes[choice] = int(n)
    for key, n in comments:
        row(key).comments = int(n)
    first = [key for key in order or [] if key in found]
    rest = sorted(key for key in found if key not in first)
    return [found[key] for key in (*first, *rest)]


def breakdowns(consultation: Consultation) -> Breakdowns:
    """Votes and visible comments per channel, per language and per group (6 queries).

    Votes count by the member's language now; comments by the language they came in.
    A member in several groups counts once in each of them; members in no group are
    the row whose key is NO_GROUP.
    """
    choices = consultation.choices
    of_votes = Vote.consultation_id == consultation.id
    of_comments = (Comment.consultation_id == consultation.id, Comment.visible.is_(True))

    channel = _rows(
        choices,
        db.session.execute(
            select(Vote.channel, Vote.choice, func.count())
            .where(of_votes)
            .group_by(Vote.channel, Vote.choice)
        ),
        db.session.execute(
            select(Comment.channel, func.count()).where(*of_comments).group_by(Comment.channel)
        ),
        order=["sms", "web", "assisted"],
    )
    language = _rows(
        choices,
        db.session.execute(
            select(Member.language, Vote.choice, func.count())
            .select_from(Vote)
            .join(Member, Member.id == Vote.member_id)
            .where(of_votes)
            .group_by(Member.language, Vote.choice)
        ),
        db.session.execute(
            select(Comment.language, func.count()).where(*of_comments).group_by(Comment.language)
        ),
    )
    in_no_group = ~exists().where(MemberGroup.member_id == Vote.member_id)
    comment_in_no_group = ~exists().where(MemberGroup.member_id == Comment.member_id)
    group_votes = [
        *db.session.execute(
            select(MemberGroup.name, Vote.choice, func.count())
            .select_from(Vote)
            .join(MemberGroup, MemberGroup.member_id == Vote.member_id)
            .where(of_votes)
            .group_by(MemberGroup.name, Vote.choice)
        ),
        *(
            (NO_GROUP, choice, n)
            for choice, n in db.session.execute(
                select(Vote.choice, func.count()).where(of_votes, in_no_group).group_by(Vote.choice)
            )
        ),
    ]
    group_comments = [
        *db.session.execute(
            select(MemberGroup.name, func.count())
            .select_from(Comment)
            .join(MemberGroup, MemberGroup.member_id == Comment.member_id)
            .where(*of_comments)
            .group_by(MemberGroup.name)
        ),
        (
            NO_GROUP,
            db.session.execute(
                select(func.count()).select_from(Comment).where(*of_comments, comment_in_no_group)
            ).scalar_one(),
        ),
    ]
    group = _rows(
        choices,
        group_votes,
        [(key, n) for key, n in group_comments if n],
        order=list(consultation.audience or []),
    )
    # Members in no group last, whatever the sort said.
    group.sort(key=lambda row: row.key == NO_GROUP)
    return Breakdowns(channel=channel, language=language, group=group)


def audience_size(consultation: Consultation) -> int:
    """Members who may take part: in the audience's groups (none: everyone) and not
    pending. Opted-out members count: STOP ends texts, not the right to vote on the
    web page or through staff."""
    clauses: list[Any] = [Member.status != MemberStatus.PENDING]
    if consultation.audience:
        clauses.append(
            exists().where(
                MemberGroup.member_id == Member.id, MemberGroup.name.in_(consultation.audience)
            )
        )
    return int(
        db.session.execute(select(func.count()).select_from(Member).where(*clauses)).scalar_one()
    )


@dataclass
class RuleCheck:
    """Whether a consultation's quorum and threshold are met by `results`.

    `quorum_reached` / `threshold_reached` are None where there is no such rule (or,
    for the threshold, nothing to vote on). `leaders` are the choices with the most
    votes (more than one: a tie); `leader_share` their share of the votes cast.
    """

    participants: int
    cast: int
    quorum: int | None = None
    quorum_reached: bool | None = None
    threshold: float | None = None
    threshold_reached: bool | None = None
    leaders: list[str] = field(default_factory=list)
    leader_share: float = 0.0


def check_rule(consultation: Consultation, results: dict[str, Any]) -> RuleCheck:
    """Compare the results (as `consultations.results` gives them) with the rule.

    Quorum: at least `quorum` people took part (voted or commented), as the public
    page states it. Threshold, yes/no: YES has at least `threshold` of the votes cast
    (abstentions count as cast, as in the public shares). Threshold, choice: one
    option alone leads and has at least `threshold` of the votes cast.
    """
    votes: dict[str, int] = results["votes"]
    cast = sum(votes.values())
    check = RuleCheck(participants=int(results["participants"]), cast=cast)
    if consultation.quorum:  # 0 or none: no quorum (as the public page reads it)
        check.quorum = consultation.quorum
        check.quorum_reached = check.participants >= consultation.quorum
    if consultation.threshold is None or consultation.kind == "open":
        return check
    check.threshold = consultation.threshold
    if consultation.kind == "yes_no":
        check.leaders = ["yes"]
        yes = votes.get("yes", 0)
        check.leader_share = yes / cast if cast else 0.0
        check.threshold_reached = bool(cast) and yes >= consultation.threshold * cast
        return check
    top = max(votes.values(), default=0)
    check.leaders = [choice for choice, n in votes.items() if n == top] if top else []
    check.leader_share = top / cast if cast else 0.0
    check.threshold_reached = (
        len(check.leaders) == 1 and bool(cast) and top >= consultation.threshold * cast
    )
    return check


def anonymous_votes(consultation_id: int) -> Iterator[tuple[str, str, str, str, datetime]]:
    """Every current vote as (choice, channel, language, groups, time), oldest vote
    first, read EXPORT_CHUNK at a time. No member id, phone, name or receipt: groups
    are joined with ';' and the time is when the current choice was recorded."""
    last = 0
    while True:
        chunk = list(
            db.session.execute(
                select(
                    Vote.id,
                    Vote.member_id,
                    Vote.choice,
                    Vote.channel,
                    Member.language,
                    Vote.updated_at,
                )
                .select_from(Vote)
                .join(Member, Member.id == Vote.member_id)
                .where(Vote.consultation_id == consultation_id, Vote.id > last)
                .order_by(Vote.id)
                .limit(EXPORT_CHUNK)
            )
        )
        if not chunk:
            return
        groups: dict[int, list[str]] = {}
        for member_id, name in db.session.execute(
            select(MemberGroup.member_id, MemberGroup.name)
            .where(MemberGroup.member_id.in_([row.member_id for row in chunk]))
            .order_by(MemberGroup.member_id, MemberGroup.name)
        ):
            groups.setdefault(member_id, []).append(name)
        for row in chunk:
            yield (
                row.choice,
                str(row.channel),
                row.language,
                ";".join(groups.get(row.member_id, [])),
                row.updated_at,
            )
        last = chunk[-1].id
