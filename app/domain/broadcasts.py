"""Broadcasts: one text to many members, in each member's language.

A broadcast is created with its per-language bodies fixed (what staff previewed is
what goes), the audience counted with one SQL COUNT, and nothing else: the API
answers at once. A job then *expands* it: one INSERT ... SELECT turns the audience
into queued Message rows inside the database (never the audience in memory),
numbered into batches of 100, and batch jobs send them (`app.tasks.broadcasts`).
Everything here only flushes: the route or job that calls it commits.

Kinds: ``summary`` (a consultation's summary and how to reply, to its audience),
``reminder`` (to the audience members who have not replied yet), ``outcome`` (to
everyone who voted or commented). Members who are not active when the broadcast
expands are counted as skipped and get no row; members who opt out later are
skipped when their turn comes.

With links (summaries and reminders), each body ends with a marked personal link
(`links.MARKER` where the token goes, as long as a token): the expansion copies it like
any body, and the sender issues each member's link when it claims their text
(`outbox.claims.claimed`). See docs/broadcasts.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy import Integer, String, case, exists, func, insert, literal, or_, select, update

from .. import audit
from ..config import LANGUAGES, Settings
from ..config import settings as current_settings
from ..extensions import db
from ..models import (
    Broadcast,
    BroadcastStatus,
    Comment,
    Consultation,
    Member,
    MemberGroup,
    Message,
    Vote,
    utcnow,
)
from ..sms import segments
from ..sms.render import render
from . import Conflict, Invalid, NotFound, links
from .members import textable
from .outbox.queue import due
from .outbox.quiet import quiet_until
from .outbox.status import PENDING
from .sql import changed

#: The most segments one broadcast text may cost, in any language. Staff see it in
#: the preview; a broadcast over it is refused (422) until the text is shortened.
SEGMENT_BUDGET = 6
#: Texts per batch: a batch job sends one batch (see app.tasks.broadcasts).
BATCH_SIZE = 100
#: A closing time as a member reads it in a reminder (Babel pattern): `Wed 24 Sep 23:59`.
CLOSES_FORMAT = "EEE d MMM HH:mm"


def get(broadcast_id: Any, *, lock: bool = False) -> Broadcast:
    """The broadcast with this id, or NotFound; `lock` holds its row until the commit
    (pause/resume/cancel: a transition committed meanwhile is seen, not overwritten)."""
    # Beyond the 32-bit id column the database refuses the query itself (a 500).
    in_range = isinstance(broadcast_id, int) and 0 < broadcast_id < 2**31
    found = (
        db.session.get(Broadcast, broadcast_id, with_for_update=lock, populate_existing=lock)
        if in_range
        else None
    )
    if found is None:
        raise NotFound(f"no broadcast has the id {broadcast_id!r}")
    return found


# ---------------------------------------------------------------------- texts


def instructions(consultation: Consultation, language: str) -> str:
    """How to reply to this consultation, in `language` (choice: with numbered options)."""
    text = render(f"broadcast_{consultation.kind}", language, code=consultation.code)
    if consultation.kind == "choice":
        lines = [
            f"{n} {consultation.option_label(n, language)}"
            for n in range(1, len(consultation.options) + 1)
        ]
        text = "\n".join([text, *lines])
    return text


def closes_text(consultation: Consultation, language: str, timezone: str) -> str | None:
    """The closing time as a member reads it (`Wed 24 Sep 23:59`), or None."""
    if consultation.closes_at is None:
        return None
    return format_datetime(
        consultation.closes_at, CLOSES_FORMAT, tzinfo=ZoneInfo(timezone), locale=language
    )


def _language_for(texts: dict[str, str], language: str, default: str) -> str:
    """The language a member gets: theirs if the text exists in it, else the default,
    else (no text in the default language either) the first language it has, so the
    whole text, instructions included, is in one language."""
    if texts.get(language):
        return language
    if texts.get(default):
        return default
    return next((code for code, text in texts.items() if text and code in LANGUAGES), default)


def link_line(language: str, base: str | None) -> str:
    """The line that carries a member's personal link (empty without `base`): the link
    is marked, and each member's own is put in when their text is sent."""
    if base is None:
        return ""
    return "\n" + render("broadcast_link", language, url=links.marked_url(base))


def summary_bodies(
    consultation: Consultation, settings: Settings, link_base: str | None = None
) -> dict[str, str]:
    """The summary broadcast's text for a member of each language; with `link_base`
    (the links' origin), a last line with the member's personal link."""
    out: dict[str, str] = {}
    for language in LANGUAGES:
        used = _language_for(consultation.summary, language, settings.default_language)
        summary = consultation.text("summary", used, settings.default_language)
        out[language] = (
            f"{consultation.code}: {summary}\n{instructions(consultation, used)}"
            + link_line(used, link_base)
        )
    return out


def reminder_bodies(
    consultation: Consultation, settings: Settings, link_base: str | None = None
) -> dict[str, str]:
    """The reminder's text for a member of each language (with `link_base`, with the
    member's personal link, as in `summary_bodies`)."""
    out: dict[str, str] = {}
    for language in LANGUAGES:
        used = _language_for(consultation.title, language, settings.default_language)
        header = render(
            "reminder",
            used,
            code=consultation.code,
            date=closes_text(consultation, used, settings.timezone),
        )
        title = consultation.text("title", used, settings.default_language)
        out[language] = f"{header}\n{title}\n{instructions(consultation, used)}" + link_line(
            used, link_base
        )
    return out


def _link_base(settings: Settings, wanted: bool, base_url: str | None) -> str | None:
    """The origin of the links when they are `wanted`, else None; Invalid when there is
    none (no PUBLIC_BASE_URL and no request to take it from)."""
    if not wanted:
        return None
    try:
        return links.origin(settings, base_url)
    except ValueError:
        raise Invalid("personal links need PUBLIC_BASE_URL to be set") from None


def outcome_bodies(
    consultation: Consultation, texts: dict[str, str], settings: Settings
) -> dict[str, str]:
    """The outcome's text for a member of each language."""
    out: dict[str, str] = {}
    for language in LANGUAGES:
        used = _language_for(texts, language, settings.default_language)
        text = texts.get(used) or next(iter(texts.values()))
        out[language] = f"{render('outcome', used, code=consultation.code)}\n{text}"
    return out


# ---------------------------------------------------------------------- audiences


def _audience_clauses(
    consultation_id: int | None, audience: list[str], audience_filter: str, kind: str
) -> list[Any]:
    """WHERE clauses on Member picking a broadcast's audience (whatever their status)."""
    clauses: list[Any] = []
    if audience:
        clauses.append(
            exists().where(MemberGroup.member_id == Member.id, MemberGroup.name.in_(audience))
        )
    voted = exists().where(Vote.consultation_id == consultation_id, Vote.member_id == Member.id)
    commented = exists().where(
        Comment.consultation_id == consultation_id, Comment.member_id == Member.id
    )
    if audience_filter == "not_voted":
        clauses.append(~(commented if kind == "open" else voted))
    elif audience_filter == "participants":
        clauses.append(or_(voted, commented))
    return clauses


def _clauses_for(broadcast: Broadcast, consultation: Consultation | None) -> list[Any]:
    return _audience_clauses(
        broadcast.consultation_id,
        broadcast.audience or [],
        broadcast.audience_filter,
        consultation.kind if consultation else "",
    )


def count_audience(clauses: list[Any]) -> tuple[int, int]:
    """(members who will be texted, members skipped because they are not active or are
    blocked by the carrier)."""
    active = func.coalesce(func.sum(case((textable(), 1), else_=0)), 0)
    total, recipients = db.session.execute(
        select(func.count(), active).select_from(Member).where(*clauses)
    ).one()
    return int(recipients), int(total) - int(recipients)


def recipients_by_language(clauses: list[Any]) -> dict[str, int]:
    """Active members of the audience per language (not those blocked by the carrier)."""
    rows = db.session.execute(
        select(Member.language, func.count()).where(textable(), *clauses).group_by(Member.language)
    )
    return {language: n for language, n in rows}


def audience_by_language(groups: list[str]) -> dict[str, int]:
    """Active members in any of `groups` (everyone when empty), per language: who a
    consultation with that audience would text."""
    return recipients_by_language(_audience_clauses(None, groups, "all", ""))


#: How a preview shows the token of each member's link (the same length as a token).
PREVIEW_TOKEN = "x" * links.TOKEN_LENGTH


def displayed(body: str) -> str:
    """A stored broadcast body as staff should see it: the marked link of a broadcast
    with links shows PREVIEW_TOKEN where each member's own token goes."""
    return links.fill(body, PREVIEW_TOKEN)


def _describe(
    bodies: dict[str, str],
    per_language: dict[str, int],
    default: str,
    sources: dict[str, str],
    plain: dict[str, str] | None = None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Per-language body, segments, encoding, recipients and cost, plus totals and the
    budget. `plain`: the same bodies without links, to say what the links add; the price
    is `settings`' (the app's when not given)."""
    settings = settings or current_settings()
    price = settings.sms_price_per_segment
    languages = []
    total_segments = 0
    within = True
    for language in LANGUAGES:
        count = per_language.get(language, 0)
        if not count and language not in sources and language != default:
            continue
        info = segments.count(bodies[language])
        over = info.segments > SEGMENT_BUDGET
        if count and over:
            within = False
        total_segments += info.segments * count
        added = info.segments - segments.count(plain[language]).segments if plain else 0
        shown = displayed(bodies[language])
        languages.append(
            {
                "language": language,
                "text_language": _language_for(sources, language, default),
                "body": shown,
                "characters": len(shown),
                "segments": info.segments,
                "link_segments": added,
                "encoding": info.encoding,
                "recipients": count,
                "cost": str(price * info.segments * count),
                "link_cost": str(price * added * count),
                "within_budget": not over,
            }
        )
    return {
        "segment_budget": SEGMENT_BUDGET,
        "within_budget": within,
        "total_segments": total_segments,
        "cost": str(price * total_segments),
        "currency": settings.sms_price_currency,
        "languages": languages,
    }


def preview(
    consultation: Consultation,
    settings: Settings,
    kind: str = "summary",
    *,
    with_links: bool = False,
    base_url: str | None = None,
) -> dict[str, Any]:
    """What a summary (or reminder) broadcast would send now, per language, and its cost.

    `with_links`: each text ends with the member's personal link; the preview shows a
    link with `PREVIEW_TOKEN` for the token, and what the links add (segments, cost).
    """
    base = _link_base(settings, with_links, base_url)
    audience_filter = "not_voted" if kind == "reminder" else "all"
    clauses = _audience_clauses(
        consultation.id, consultation.audience or [], audience_filter, consultation.kind
    )
    make = reminder_bodies if kind == "reminder" else summary_bodies
    sources = consultation.title if kind == "reminder" else consultation.summary
    bodies = make(consultation, settings, base)
    plain = make(consultation, settings) if base else None
    recipients, skipped = count_audience(clauses)
    described = _describe(
        bodies,
        recipients_by_language(clauses),
        settings.default_language,
        sources or {},
        plain,
        settings=settings,
    )
    return {
        "code": consultation.code,
        "kind": kind,
        "links": base is not None,
        "recipients": recipients,
        "skipped": skipped,
        **described,
    }


def preview_outcome(
    consultation: Consultation, texts: dict[str, str], settings: Settings
) -> dict[str, Any]:
    """What notifying the outcome `texts` would send now: to everyone who voted or
    commented (as `create_outcome` picks them), per language, with segments."""
    clauses = _audience_clauses(consultation.id, [], "participants", consultation.kind)
    recipients, skipped = count_audience(clauses)
    described = _describe(
        outcome_bodies(consultation, texts, settings),
        recipients_by_language(clauses),
        settings.default_language,
        texts,
    )
    return {
        "code": consultation.code,
        "kind": "outcome",
        "recipients": recipients,
        "skipped": skipped,
        **described,
    }


# ---------------------------------------------------------------------- creating


def _create(
    *,
    kind: str,
    consultation: Consultation | None,
    bodies: dict[str, str],
    audience: list[str],
    audience_filter: str,
    actor: str,
    at: datetime | None,
    settings: Settings,
    with_links: bool = False,
) -> tuple[Broadcast, int]:
    clauses = _audience_clauses(
        consultation.id if consultation else None,
        audience,
        audience_filter,
        consultation.kind if consultation else "",
    )
    per_language = recipients_by_language(clauses)
    for language, count in per_language.items():
        cost = segments.count(bodies.get(language, bodies[settings.default_language])).segments
        if count and cost > SEGMENT_BUDGET:
            raise Invalid(
                f"the {language} text is {cost} segments; the budget is {SEGMENT_BUDGET}. "
                "Shorten it (see the preview)"
            )
    recipients, skipped = count_audience(clauses)
    now = utcnow()
    broadcast = Broadcast(
        kind=kind,
        consultation_id=consultation.id if consultation else None,
        bodies=bodies,
        audience=audience,
        audience_filter=audience_filter,
        status="scheduled" if at else "sending",
        scheduled_at=at,
        total=recipients + skipped,
        skipped_at_start=skipped,
        created_by=actor,
        created_at=now,
        started_at=None if at else now,
        links=with_links,
    )
    db.session.add(broadcast)
    db.session.flush()
    audit.record(
        actor,
        "broadcast.scheduled" if at else "broadcast.created",
        "broadcast",
        broadcast.id,
        {
            "kind": kind,
            "consultation": consultation.code if consultation else None,
            "recipients": recipients,
            "at": at.isoformat() if at else None,
            "links": with_links,
        },
    )
    return broadcast, recipients


def _require_open(consultation: Consultation, what: str) -> None:
    if consultation.status != "open":
        raise Conflict(
            f"{consultation.code} is {consultation.status}; only an open consultation can be {what}"
        )


def create_summary(
    consultation: Consultation,
    *,
    actor: str,
    settings: Settings,
    at: datetime | None = None,
    with_links: bool = False,
    base_url: str | None = None,
) -> tuple[Broadcast, int]:
    """A broadcast of the consultation's summary to its audience (not yet committed).

    `with_links`: each member's text ends with their own personal link, from
    PUBLIC_BASE_URL (else `base_url`, the request's origin)."""
    _require_open(consultation, "broadcast")
    base = _link_base(settings, with_links, base_url)
    return _create(
        kind="summary",
        consultation=consultation,
        bodies=summary_bodies(consultation, settings, base),
        audience=list(consultation.audience or []),
        audience_filter="all",
        actor=actor,
        at=at,
        settings=settings,
        with_links=with_links,
    )


def create_reminder(
    consultation: Consultation,
    *,
    actor: str,
    settings: Settings,
    with_links: bool = False,
    base_url: str | None = None,
) -> tuple[Broadcast, int]:
    """A reminder to the audience members who have not replied (not yet committed);
    `with_links` as for `create_summary`."""
    _require_open(consultation, "reminded about")
    base = _link_base(settings, with_links, base_url)
    return _create(
        kind="reminder",
        consultation=consultation,
        bodies=reminder_bodies(consultation, settings, base),
        audience=list(consultation.audience or []),
        audience_filter="not_voted",
        actor=actor,
        at=None,
        settings=settings,
        with_links=with_links,
    )


def create_outcome(
    consultation: Consultation, texts: dict[str, str], *, actor: str, settings: Settings
) -> tuple[Broadcast, int]:
    """The outcome, to every member who voted or commented (not yet committed)."""
    return _create(
        kind="outcome",
        consultation=consultation,
        bodies=outcome_bodies(consultation, texts, settings),
        audience=[],
        audience_filter="participants",
        actor=actor,
        at=None,
        settings=settings,
    )


# ---------------------------------------------------------------------- expanding


def expand(broadcast_id: int, settings: Settings) -> int:
    """Turn the audience into queued Message rows, once; returns rows added (flushed).

    One INSERT ... SELECT in the database, with the body, segments and encoding
    chosen by a CASE on the member's language and batch = (row number - 1) / 100.
    Running it again changes nothing (expanded_at is claimed in the same
    transaction, and (broadcast_id, member_id) is unique).
    """
    broadcast = db.session.get(Broadcast, broadcast_id)
    if (
        broadcast is None
        or broadcast.expanded_at is not None
        or broadcast.status not in ("sending", "paused")
    ):
        return 0
    now = utcnow()
    # The status again here: a cancel may have committed since the read above (this
    # UPDATE waits for its row lock, then sees it), and its rows would stay queued.
    claimed = changed(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.expanded_at.is_(None),
            Broadcast.status.in_(("sending", "paused")),
        )
        .values(expanded_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed != 1:
        return 0
    consultation = (
        db.session.get(Consultation, broadcast.consultation_id)
        if broadcast.consultation_id
        else None
    )
    clauses = _clauses_for(broadcast, consultation)
    default = settings.default_language
    bodies = broadcast.bodies
    counted = {language: segments.count(text) for language, text in bodies.items()}

    def by_language(values: dict[str, Any], type_: Any) -> Any:
        whens = {language: literal(value, type_) for language, value in values.items()}
        return case(whens, value=Member.language, else_=literal(values[default], type_))

    row_number = func.row_number().over(order_by=Member.id)
    stamp = Message.__table__.c.created_at.type
    chosen = select(
        literal("out", String),
        Member.id,
        Member.phone,
        by_language(bodies, String),
        literal(broadcast.kind, String),
        literal("queued", String),
        by_language({k: max(1, v.segments) for k, v in counted.items()}, Integer),
        by_language({k: v.encoding for k, v in counted.items()}, String),
        literal(broadcast_id, Integer),
        (row_number - 1).self_group().op("/")(BATCH_SIZE),
        literal(broadcast.consultation_id, Integer),
        literal("bulk", String),
        literal(0, Integer),
        literal(now, stamp),
        literal(now, stamp),
    ).where(
        textable(),
        *clauses,
        ~exists().where(Message.broadcast_id == broadcast_id, Message.member_id == Member.id),
    )
    columns = [
        "direction",
        "member_id",
        "phone",
        "body",
        "kind",
        "status",
        "segments",
        "encoding",
        "broadcast_id",
        "batch",
        "consultation_id",
        "priority",
        "error_count",
        "created_at",
        "updated_at",
    ]
    # rowcount of an INSERT is only kept when asked for (SQLAlchemy 2.0.28+).
    added: int = changed(
        insert(Message.__table__)
        .from_select(columns, chosen)
        .execution_options(preserve_rowcount=True)
    )
    _, skipped = count_audience(clauses)
    broadcast.skipped_at_start = skipped
    broadcast.total = added + skipped
    db.session.flush()
    return added


def unexpanded() -> list[int]:
    """Sending or paused broadcasts that have not expanded yet (e.g. a lost job)."""
    return list(
        db.session.execute(
            select(Broadcast.id).where(
                Broadcast.status.in_(("sending", "paused")), Broadcast.expanded_at.is_(None)
            )
        )
        .scalars()
        .all()
    )


# ---------------------------------------------------------------------- sending in batches


def sending() -> list[int]:
    """Expanded broadcasts that are sending."""
    return list(
        db.session.execute(
            select(Broadcast.id).where(
                Broadcast.status == "sending", Broadcast.expanded_at.is_not(None)
            )
        )
        .scalars()
        .all()
    )


def due_batches(broadcast_id: int, window: int) -> list[int]:
    """The first `window` batches of a broadcast that have due queued texts."""
    batches = db.session.execute(
        select(Message.batch)
        .where(Message.broadcast_id == broadcast_id, Message.status == "queued", due())
        .group_by(Message.batch)
        .order_by(Message.batch)
        .limit(window)
    ).scalars()
    return [batch for batch in batches if batch is not None]


def due_in_batch(broadcast_id: int, batch: int) -> list[tuple[int, int]]:
    """(message id, segments) of a batch's due queued texts, in order."""
    rows = db.session.execute(
        select(Message.id, Message.segments)
        .where(
            Message.broadcast_id == broadcast_id,
            Message.batch == batch,
            Message.status == "queued",
            due(),
        )
        .order_by(Message.id)
    ).all()
    return [(message_id, cost) for message_id, cost in rows]


def may_send_bulk(broadcast_id: int, settings: Settings) -> bool:
    """True while the broadcast is sending and it is not quiet hours."""
    status = db.session.execute(
        select(Broadcast.status).where(Broadcast.id == broadcast_id)
    ).scalar_one_or_none()
    return status == "sending" and quiet_until(settings) is None


# ---------------------------------------------------------------------- lifecycle


def start(broadcast_id: int, now: datetime | None = None) -> bool:
    """A scheduled broadcast whose time has come starts sending; True if it did (flushed)."""
    now = now or utcnow()
    started = changed(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == "scheduled",
            Broadcast.scheduled_at <= now,
        )
        .values(status="sending", started_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(started == 1)


def due_to_start(now: datetime | None = None) -> list[int]:
    """Scheduled broadcasts whose time has come."""
    return list(
        db.session.execute(
            select(Broadcast.id).where(
                Broadcast.status == "scheduled", Broadcast.scheduled_at <= (now or utcnow())
            )
        )
        .scalars()
        .all()
    )


def complete_if_done(broadcast_id: int) -> bool:
    """Mark a sending, expanded broadcast completed if nothing is queued or sending;
    True if it was (flushed, not committed)."""
    pending = exists().where(Message.broadcast_id == broadcast_id, Message.status.in_(PENDING))
    done = changed(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == "sending",
            Broadcast.expanded_at.is_not(None),
            ~pending,
        )
        .values(status="completed", completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(done == 1)


def still_wanted(broadcast: Broadcast) -> bool:
    """A summary or reminder stops (cancelled, flushed) once its consultation is no
    longer open; False then."""
    if broadcast.kind not in ("summary", "reminder") or broadcast.consultation_id is None:
        return True
    status = db.session.execute(
        select(Consultation.status).where(Consultation.id == broadcast.consultation_id)
    ).scalar_one_or_none()
    if status == "open":
        return True
    _cancel(broadcast, "system", reason=f"consultation {status}")
    db.session.flush()
    return False


def pause(broadcast: Broadcast, *, actor: str) -> Broadcast:
    """Stop sending; texts already handed to Twilio still go."""
    if broadcast.status not in ("scheduled", "sending"):
        raise Conflict(f"broadcast {broadcast.id} is {broadcast.status}; it cannot be paused")
    broadcast.status = BroadcastStatus.PAUSED
    audit.record(actor, "broadcast.paused", "broadcast", broadcast.id)
    return broadcast


def resume(broadcast: Broadcast, *, actor: str) -> Broadcast:
    """Carry on from where it stopped (or wait again for its scheduled time)."""
    if broadcast.status != "paused":
        raise Conflict(f"broadcast {broadcast.id} is {broadcast.status}; only a paused one resumes")
    if (
        broadcast.expanded_at is None
        and broadcast.scheduled_at is not None
        and broadcast.scheduled_at > utcnow()
    ):
        broadcast.status = BroadcastStatus.SCHEDULED
    else:
        broadcast.status = BroadcastStatus.SENDING
        broadcast.started_at = broadcast.started_at or utcnow()
    audit.record(actor, "broadcast.resumed", "broadcast", broadcast.id, {"to": broadcast.status})
    return broadcast


def cancel(broadcast: Broadcast, *, actor: str) -> Broadcast:
    """Stop for good: every text not yet handed to Twilio is skipped."""
    if broadcast.status not in ("scheduled", "sending", "paused"):
        raise Conflict(f"broadcast {broadcast.id} is {broadcast.status}; it cannot be cancelled")
    _cancel(broadcast, actor, reason="broadcast cancelled")
    return broadcast


def _cancel(broadcast: Broadcast, actor: str, reason: str) -> None:
    now = utcnow()
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.completed_at = now
    skipped = changed(
        update(Message)
        .where(Message.broadcast_id == broadcast.id, Message.status == "queued")
        .values(status="skipped", failed_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        actor,
        "broadcast.cancelled",
        "broadcast",
        broadcast.id,
        {"reason": reason, "unsent": skipped},
    )


# ---------------------------------------------------------------------- reading


def counts(broadcast: Broadcast) -> dict[str, int]:
    """Messages per status, plus those skipped at expansion."""
    rows = db.session.execute(
        select(Message.status, func.count())
        .where(Message.broadcast_id == broadcast.id)
        .group_by(Message.status)
    )
    return {status: n for status, n in rows}


def progress(broadcast: Broadcast) -> dict[str, int]:
    """Where a broadcast is, as staff read it (the API and the console alike).

    `total`: audience members (texted, to be texted, skipped); `sent`: accepted by
    Twilio, including those since delivered or undelivered; `pending`: queued or being
    sent; `skipped`: never sent (not active at the start, opted out, or cancelled);
    `unknown`: in doubt for good, never sent again.
    """
    return _progress(broadcast, counts(broadcast))


def progress_of(broadcasts: list[Broadcast]) -> dict[int, dict[str, int]]:
    """`progress` of each of `broadcasts` (a page of them), with one query."""
    by_id: dict[int, dict[str, int]] = {b.id: {} for b in broadcasts}
    if by_id:
        rows = db.session.execute(
            select(Message.broadcast_id, Message.status, func.count())
            .where(Message.broadcast_id.in_(list(by_id)))
            .group_by(Message.broadcast_id, Message.status)
        )
        for broadcast_id, status, n in rows:
            by_id[broadcast_id][status] = n
    return {b.id: _progress(b, by_id[b.id]) for b in broadcasts}


def _progress(broadcast: Broadcast, n: dict[str, int]) -> dict[str, int]:
    expanded = broadcast.expanded_at is not None
    return {
        "total": sum(n.values()) + broadcast.skipped_at_start if expanded else broadcast.total,
        "sent": n.get("sent", 0) + n.get("delivered", 0) + n.get("undelivered", 0),
        "delivered": n.get("delivered", 0),
        "undelivered": n.get("undelivered", 0),
        "failed": n.get("failed", 0),
        "skipped": n.get("skipped", 0) + broadcast.skipped_at_start,
        "pending": n.get("queued", 0) + n.get("sending", 0),
        "unknown": n.get("unknown", 0),
    }


def _code(consultation_id: int | None) -> str | None:
    if consultation_id is None:
        return None
    return db.session.execute(
        select(Consultation.code).where(Consultation.id == consultation_id)
    ).scalar_one_or_none()
