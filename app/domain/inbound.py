"""An incoming text: record it once, understand it, act on it, and say what to reply.

`handle_inbound` is the whole of `POST /twilio/inbound` minus HTTP: the webhook and
the phone simulator both call it, inside an app context, and commit afterwards (one
request, one transaction) unless its result says the fast path already committed
(`InboundResult.committed`). It never touches the network or the job queue; extra
texts it wants sent (the rest of a long INFO) come back as `InboundResult.queued`
for the caller to enqueue after the commit.

Exactly once: the inbound Message's `twilio_sid` is unique in the database. A repeat
delivery of the same MessageSid fails that key on insert (nothing is looked up first,
which saves a query on every new text); the transaction is rolled back and the answer
is the reply stored for the first delivery (an outbound Message whose `reply_to_id` is
the inbound one), so a Twilio retry gets the same TwiML and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import Settings
from ..extensions import db
from ..models import Consultation, Member, Message, utcnow
from ..phones import try_e164
from ..sms import segments
from ..sms.render import render
from . import Conflict, Invalid, comments, grammar, links
from . import consultations as consultations_ops
from . import members as members_ops
from .current import Current, current_for, latest_for
from .inbound_fast import MAX_STORED, handle_common
from .outbox import queue as outbox_queue
from .replies import confirm_vote
from .votes import in_audience, record_vote

log = logging.getLogger(__name__)

MAX_TWIML = 1600  # the most Twilio sends as one message
TALLY_TOP = 5  # a choice tally by text shows the leading options only
CLOSED_STATUSES = ("closed", "decided")
WELCOMES_PER_DAY = 3  # to one unknown number: enough for a person, a bound for a bot loop

# Language names in ASCII, so the menu is one GSM-7 segment; the grammar accepts each.
MENU_NAMES = {
    "en": "English",
    "cy": "Cymraeg",
    "es": "Espanol",
    "fr": "Francais",
    "pt": "Portugues",
    "pl": "Polski",
    "ro": "Romana",
    "ar": "Arabic",
    "ur": "Urdu",
    "bn": "Bangla",
}


@dataclass
class InboundResult:
    """What handling one inbound text did, and the reply to send (None: send nothing)."""

    message_id: int | None
    reply: str | None
    kind: str | None = None  # the reply's message kind, e.g. "vote_recorded"
    duplicate: bool = False  # this MessageSid was handled before
    queued: list[int] = field(default_factory=list)  # outbound ids to enqueue after commit
    # True when the write committed itself (the fast path's autocommit on PostgreSQL):
    # the caller has nothing to commit. Otherwise the caller commits the session.
    committed: bool = False


@dataclass
class Reply:
    """A reply decided by a handler: its kind, text and the consultation it concerns."""

    kind: str
    text: str
    consultation: Consultation | None = None
    queued: list[int] = field(default_factory=list)


@dataclass
class Context:
    """Everything a handler needs about the text being handled."""

    settings: Settings
    message: Message
    member: Member | None
    intent: grammar.Intent
    language: str
    # The origin for links when PUBLIC_BASE_URL is unset (the request's, in development).
    base_url: str | None = None

    def reply(self, kind: str, consultation: Consultation | None = None, **values: Any) -> Reply:
        """Render message `kind` in the language of this conversation."""
        return Reply(kind, render(kind, self.language, **values), consultation)


class _Outbox(Protocol):
    """What this module uses of `app.domain.outbox.queue` (found by `_outbox`)."""

    def queue_message(
        self,
        *,
        phone: str,
        body: str,
        kind: str,
        member_id: int | None = None,
        consultation_id: int | None = None,
        reply_to_id: int | None = None,
        priority: str = "high",
    ) -> Message: ...


def language_menu() -> str:
    """`1 English, 2 Cymraeg, ...`: menu numbers the grammar reads after LANG."""
    return ", ".join(f"{n} {MENU_NAMES[code]}" for n, code in enumerate(grammar.LANGUAGES, 1))


def handle_inbound(
    settings: Settings,
    sid: str,
    from_: str,
    to: str,
    body: str,
    *,
    base_url: str | None = None,
) -> InboundResult:
    """Record and act on one incoming text; the caller commits unless the result says
    `committed` (see InboundResult).

    `sid` is Twilio's MessageSid, `from_` the sender as Twilio gives it, `to` our number
    (unused while Chorus has one sender); `base_url` the origin of personal links when
    PUBLIC_BASE_URL is unset (a route passes its request's).
    A sid seen before returns the stored reply with `duplicate=True` and writes nothing.
    Call it at the start of a transaction: a duplicate rolls the session back.
    """
    phone = try_e164(from_, settings.default_region) or from_.strip()[:32]
    # PostgreSQL text cannot hold NUL; it means nothing in an SMS, so it goes.
    text = (body or "").replace("\x00", "")[:MAX_STORED]
    intent = grammar.parse(text)
    # Votes, comments and HELP from active members: two round trips (inbound_fast).
    done = handle_common(settings, sid, phone, text, intent)
    if done is not None:
        message_id, answer, kind, committed = done
        return InboundResult(message_id, answer, kind, committed=committed)
    member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one_or_none()
    info = segments.count(text)
    message = Message(
        direction="in",
        status="received",
        member_id=member.id if member else None,
        phone=phone,
        body=text,
        kind=intent.kind,
        twilio_sid=sid,
        segments=max(info.segments, 1),
        encoding=info.encoding,
        priority="high",
    )
    db.session.add(message)
    try:
        db.session.flush()
    except IntegrityError:
        # This MessageSid is stored already (a retry, or a concurrent delivery that won
        # the insert): answer as it was answered.
        db.session.rollback()
        stored = _find_inbound(sid)
        if stored is None:
            raise
        return _replay(stored)

    if member is not None and members_ops.lifts_carrier_block(text):
        # START/UNSTOP (or YES) made Twilio lift its block: texts may reach them again.
        members_ops.clear_carrier_block(member)
    language = member.language if member else (intent.hint or settings.default_language)
    ctx = Context(settings, message, member, intent, language, base_url)
    reply = _dispatch(ctx)
    if reply is not None and ctx.member is not None and ctx.member.carrier_blocked_at:
        # Twilio would refuse it (21610): nothing goes to a member the carrier blocks
        # but what START brings. What the text did (a vote, a comment) still stands.
        reply = None
    if reply is None:
        return InboundResult(message.id, None)
    _store_reply(ctx, reply)
    return InboundResult(message.id, reply.text, reply.kind, queued=reply.queued)


def _find_inbound(sid: str) -> Message | None:
    return db.session.execute(
        select(Message).where(Message.twilio_sid == sid, Message.direction == "in")
    ).scalar_one_or_none()


def _replay(inbound: Message) -> InboundResult:
    """The answer already given to this inbound message (None if it got no reply)."""
    reply = db.session.execute(
        select(Message).where(Message.reply_to_id == inbound.id).order_by(Message.id).limit(1)
    ).scalar_one_or_none()
    # Only an answer given as TwiML is given again: one sent as a text of its own (a
    # recovered text's reply) has reached the member already, or is on its way.
    as_twiml = reply is not None and reply.twilio_sid is None and reply.status == "sent"
    if reply is None or not as_twiml or _silenced_since(inbound):
        return InboundResult(inbound.id, None, duplicate=True)
    return InboundResult(inbound.id, reply.body, reply.kind, duplicate=True)


def _silenced_since(inbound: Message) -> bool:
    """True when the number has opted out since `inbound`: a retry of it must get nothing.

    A later STOP/START-type text decides; without one, a member opted out some other way
    (a carrier's 21610) is silenced too, except for the replay of their own STOP's answer.
    """
    later = members_ops.last_stop_or_start(inbound.phone, Message.id > inbound.id)
    if later is not None:
        return later.kind == "stop"
    member = db.session.get(Member, inbound.member_id) if inbound.member_id else None
    return member is not None and member.status == "opted_out" and inbound.kind != "stop"


def _store_reply(ctx: Context, reply: Reply) -> None:
    """Keep the reply as an outbound Message: the record, and the answer to a retry."""
    info = segments.count(reply.text)
    db.session.add(
        Message(
            direction="out",
            member_id=ctx.member.id if ctx.member else None,
            phone=ctx.message.phone,
            body=reply.text,
            kind=reply.kind,
            # Twilio sends a TwiML reply itself; we never hold its sid.
            status="sent",
            sent_at=utcnow(),
            segments=info.segments,
            encoding=info.encoding,
            consultation_id=reply.consultation.id if reply.consultation else None,
            reply_to_id=ctx.message.id,
            priority="high",
        )
    )


def _dispatch(ctx: Context) -> Reply | None:
    member = ctx.member
    if member is None or member.status == "pending":
        return _from_stranger(ctx)
    if member.status == "opted_out":
        return _from_opted_out(ctx)
    kind = ctx.intent.kind
    if kind == "stop":
        members_ops.opt_out(member, "sms")
        return ctx.reply("opted_out")
    if kind == "start":
        return ctx.reply("subscribed", org=ctx.settings.org_name)
    if kind == "help":
        return ctx.reply("help", org=ctx.settings.org_name)
    if kind == "empty":
        return ctx.reply("empty")
    if kind == "language":
        return _language(ctx)
    if kind == "info":
        return _info(ctx)
    if kind == "results":
        return _results(ctx)
    if kind == "link":
        return _link(ctx)
    if kind == "vote":
        return _vote(ctx)
    return _text(ctx)


# --- people who are not (active) members ---------------------------------------------


def _stopped_stranger(message: Message) -> bool:
    """True when this unknown number's last STOP/START-type text before `message` was STOP."""
    last = members_ops.last_stop_or_start(message.phone, Message.id != message.id)
    return last is not None and last.kind == "stop"


def _from_stranger(ctx: Context) -> Reply | None:
    """Unknown numbers and pending members: JOIN (or START) makes them active members."""
    kind = ctx.intent.kind
    org = ctx.settings.org_name
    member = ctx.member
    if kind == "stop":
        if member is not None:
            members_ops.opt_out(member, "sms")
            return ctx.reply("opted_out")
        # Nobody to mark: the STOP itself, stored with its kind, silences this number.
        return None if _stopped_stranger(ctx.message) else ctx.reply("opted_out")
    if kind == "start":
        if member is not None:  # pending: staff added them, their JOIN is the consent
            members_ops.opt_in(member, "sms")
            return ctx.reply("joined", org=org)
        if not ctx.settings.open_joining:
            return ctx.reply("join_closed", org=org)
        try:
            member = members_ops.create_member(
                ctx.message.phone,
                region=ctx.settings.default_region,
                default_language=ctx.settings.default_language,
                language=ctx.intent.hint or ctx.settings.default_language,
                groups=["community"],
                consent_source="sms",
                actor="sms",
            )
        except (Invalid, Conflict) as exc:
            log.info("JOIN from %s not accepted: %s", ctx.message.phone, exc)
            return None
        ctx.member = member
        ctx.message.member_id = member.id
        return ctx.reply("joined", org=org)
    if member is None and _stopped_stranger(ctx.message):
        return None
    if _welcomes_today(ctx.message.phone) >= WELCOMES_PER_DAY:
        # Another auto-responder would answer our welcome with a text of its own, for ever.
        return None
    return ctx.reply("welcome" if ctx.settings.open_joining else "join_closed", org=org)


def _welcomes_today(phone: str) -> int:
    """How many welcome texts this number got in the last 24 hours."""
    return db.session.execute(
        select(func.count())
        .select_from(Message)
        .where(
            Message.phone == phone,
            Message.direction == "out",
            Message.kind.in_(("welcome", "join_closed")),
            Message.created_at > utcnow() - timedelta(hours=24),
        )
    ).scalar_one()


def _from_opted_out(ctx: Context) -> Reply | None:
    """After STOP: only START/JOIN or a bare YES gets an answer (and opts them back in).
    A YES read from a slip ("yse") is not consent: it gets no answer, like any other text."""
    intent = ctx.intent
    bare_yes = (
        intent.kind == "vote"
        and intent.choice == "yes"
        and intent.code is None
        and intent.comment is None
        and intent.typo is None
    )
    if intent.kind == "start" or bare_yes:
        assert ctx.member is not None  # _dispatch sends only members here
        members_ops.opt_in(ctx.member, "sms")
        return ctx.reply("opted_in", org=ctx.settings.org_name)
    return None


# --- language -------------------------------------------------------------------------


def _language(ctx: Context) -> Reply:
    member = ctx.member
    assert member is not None  # _dispatch sends only members here
    wanted = ctx.intent.language
    if wanted is None:
        return ctx.reply("language_menu", menu=language_menu())
    if wanted != member.language:
        audit.record(
            f"member:{member.id}",
            "member.language_changed",
            "member",
            member.id,
            {"from": member.language, "to": wanted, "via": "sms"},
        )
        member.language = wanted
    ctx.language = wanted
    # The confirmation is written in the new language, so name it as its speakers do.
    return ctx.reply("language_set", name=grammar.language_name(wanted))


# --- which consultation ---------------------------------------------------------------


@dataclass
class Target:
    """The consultation a text is about, or the reply that says why there is none."""

    consultation: Consultation | None = None
    current: Current | None = None  # set when it came from "current", not from a code
    refusal: Reply | None = None

    @property
    def other(self) -> str | None:
        """The code of another open consultation the member could have meant."""
        if self.current is not None and self.current.others:
            return self.current.others[0].code
        return None


def _target(ctx: Context, *, for_taking_part: bool) -> Target:
    """Resolve the text's code, or the member's current consultation.

    For taking part (votes, comments) the consultation must be open and the member in
    its audience; otherwise the Target carries the refusal to send instead.
    """
    assert ctx.member is not None  # _dispatch sends only members here
    code = ctx.intent.code
    if code is not None:
        consultation = consultations_ops.find(code)
        if consultation is None or consultation.status == "draft":
            return Target(refusal=ctx.reply("unknown_code", code=code))
        current = None
    else:
        current = current_for(ctx.member)
        consultation = current.consultation
        if consultation is None:
            latest = latest_for(ctx.member, current)
            if latest is not None and (not for_taking_part or latest.status in CLOSED_STATUSES):
                consultation, current = latest, None
            else:
                return Target(refusal=ctx.reply("nothing_open"))
    if for_taking_part:
        if consultation.status != "open":
            return Target(refusal=ctx.reply("closed", consultation, code=consultation.code))
        if not in_audience(consultation, ctx.member):
            return Target(
                refusal=ctx.reply("not_in_audience", consultation, code=consultation.code)
            )
    return Target(consultation, current)


# --- votes and comments ---------------------------------------------------------------


def _vote(ctx: Context) -> Reply:
    target = _target(ctx, for_taking_part=True)
    if target.refusal is not None:
        return target.refusal
    consultation = target.consultation
    assert consultation is not None and ctx.member is not None  # no refusal; from a member
    intent = ctx.intent
    if consultation.kind == "open":
        # Comments only: a "yes" here is what they have to say.
        return _comment(ctx, target, ctx.message.body.strip())
    if intent.choice not in consultation.choices:
        if consultation.kind == "choice":
            return ctx.reply(
                "choose_number",
                consultation,
                code=consultation.code,
                count=len(consultation.options),
            )
        return ctx.reply("choose_yes_no", consultation, code=consultation.code)
    result = record_vote(
        consultation, ctx.member, intent.choice, channel="sms", message_id=ctx.message.id
    )
    if intent.comment:
        _add_comment(ctx, consultation, intent.comment)
    kind, text = confirm_vote(
        consultation,
        ctx.language,
        choice=result.vote.choice,
        previous=result.previous,
        receipt=result.vote.receipt,
        other=target.other,
        with_comment=bool(intent.comment),
        changed=result.changed,
        typed=intent.typo,
    )
    return Reply(kind, text, consultation)


def _text(ctx: Context) -> Reply:
    """Free text: a comment on the named or current consultation, else a note to staff."""
    body = (ctx.intent.comment or ctx.message.body).strip()
    assert ctx.member is not None  # _dispatch sends only members here
    if ctx.intent.code is None:
        current = current_for(ctx.member)
        if current.consultation is None:
            _add_comment(ctx, None, body)
            return ctx.reply("comment_to_staff")
        # current_for only yields open consultations the member is in the audience of.
        return _comment(ctx, Target(current.consultation, current), body)
    target = _target(ctx, for_taking_part=True)
    if target.refusal is not None:
        return target.refusal
    return _comment(ctx, target, body)


def _comment(ctx: Context, target: Target, body: str) -> Reply:
    consultation = target.consultation
    assert consultation is not None  # a target without a refusal has one
    _add_comment(ctx, consultation, body)
    if target.other:
        return ctx.reply(
            "comment_recorded_other", consultation, code=consultation.code, other=target.other
        )
    return ctx.reply("comment_recorded", consultation, code=consultation.code)


def _add_comment(ctx: Context, consultation: Consultation | None, body: str) -> None:
    assert ctx.member is not None  # _dispatch sends only members here
    comments.add(
        consultation_id=consultation.id if consultation else None,
        member_id=ctx.member.id,
        body=body[:MAX_STORED],
        channel="sms",
        language=ctx.member.language,
        message_id=ctx.message.id,
    )


# --- INFO / MORE and RESULTS -------------------------------------------------------------


def _info(ctx: Context) -> Reply:
    target = _target(ctx, for_taking_part=False)
    if target.refusal is not None:
        return target.refusal
    consultation = target.consultation
    assert consultation is not None and ctx.member is not None  # no refusal; from a member
    language = ctx.language
    full = consultation.text("body", language) or consultation.text("summary", language)
    text = f"{consultation.code}: {consultation.text('title', language)}\n{full}".strip()
    parts = chunk(text, MAX_TWIML)
    if len(parts) == 1:
        return Reply("info", text, consultation)
    if _outbox() is None or not members_ops.may_text(ctx.member):
        # No outbox to send the rest: one TwiML message of 1,600 characters, cut at a word.
        return Reply("info", chunk(text, MAX_TWIML - 3)[0] + "...", consultation)
    reply = Reply("info", parts[0], consultation)
    for part in parts[1:]:
        queued = queue_direct(ctx.member, part, "info", consultation)
        if queued is not None:
            reply.queued.append(queued.id)
    return reply


def chunk(text: str, limit: int) -> list[str]:
    """Split `text` into as few parts of at most `limit` characters as possible.

    Parts end at a line break or space where one is near, so no word is cut across
    two texts; each part is then cut by `segments.split` when the phone receives it.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit + 1), rest.rfind(" ", 0, limit + 1))
        if cut < limit // 2:  # no break near the end: cut mid-word rather than waste a text
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def queue_direct(
    member: Member | None,
    body: str,
    kind: str,
    consultation: Consultation | None = None,
) -> Message | None:
    """Queue a one-to-one text (high priority) in the outbox; None when it cannot be.

    The outbound sender owns sending: this only adds the queued Message row (through
    `app.domain.outbox.queue.queue_message`), and the caller passes its id to
    `app.tasks.outbox.enqueue_queued` once the transaction commits. Nothing is queued
    for someone who is not an active member (or is blocked by the carrier), or when
    there is no outbox to send it.
    """
    outbox = _outbox()
    if member is None or not members_ops.may_text(member) or outbox is None:
        return None
    return outbox.queue_message(
        phone=member.phone,
        body=body,
        kind=kind,
        member_id=member.id,
        consultation_id=consultation.id if consultation else None,
        priority="high",
    )


def _outbox() -> _Outbox | None:
    """Where one-to-one texts are queued (tests replace it, e.g. with None: no outbox)."""
    return outbox_queue


# --- LINK ---------------------------------------------------------------------------------


def _link(ctx: Context) -> Reply:
    """The member's personal link to the named or current consultation (a new one: the
    link they had before stops working, see app.domain.links)."""
    target = _target(ctx, for_taking_part=False)
    if target.refusal is not None:
        return target.refusal
    consultation = target.consultation
    assert consultation is not None and ctx.member is not None  # no refusal; from a member
    code = consultation.code
    if not in_audience(consultation, ctx.member):
        return ctx.reply("not_in_audience", consultation, code=code)
    try:
        base = links.origin(ctx.settings, ctx.base_url)
    except ValueError:  # no PUBLIC_BASE_URL and no request (a recovered text, in development)
        log.warning("LINK from member %s: no PUBLIC_BASE_URL to build it", ctx.member.id)
        return ctx.reply("help", org=ctx.settings.org_name)
    if links.expired(consultation):
        return ctx.reply("link_expired", consultation, code=code, url=f"{base}/c/{code}")
    url = links.link_url(base, links.issue(ctx.member.id, consultation.id))
    return ctx.reply("link", consultation, code=code, url=url)


def tally_text(consultation: Consultation, votes: dict[str, int]) -> str:
    """The leading options of a choice tally: `2:14, 1:9, 3:2`."""
    ranked = sorted(votes.items(), key=lambda item: (-item[1], int(item[0])))
    return ", ".join(f"{number}:{count}" for number, count in ranked[:TALLY_TOP])


def _results(ctx: Context) -> Reply:
    target = _target(ctx, for_taking_part=False)
    if target.refusal is not None:
        return target.refusal
    consultation = target.consultation
    assert consultation is not None  # a target without a refusal has one
    code = consultation.code
    if not consultation.results_public:
        return ctx.reply("results_private", consultation, code=code)
    results = consultations_ops.results(consultation)
    votes = results["votes"]
    people = results["participants"]
    if consultation.kind == "yes_no":
        return ctx.reply(
            "results_yes_no",
            consultation,
            code=code,
            yes=votes["yes"],
            no=votes["no"],
            abstain=votes["abstain"],
            people=people,
        )
    if consultation.kind == "choice":
        return ctx.reply(
            "results_choice",
            consultation,
            code=code,
            tally=tally_text(consultation, votes),
            people=people,
        )
    return ctx.reply("results_open", consultation, code=code, comments=results["comments"])
