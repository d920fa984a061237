"""Members: creating them (and welcoming those staff add), and their consent: opt-in,
opt-out, and the carrier's own block (Twilio's 21610).

The audit log names a member by id, never by phone number: erasing a member must leave
no number behind, and the log cannot be edited (app.audit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import LANGUAGES, Settings
from ..extensions import db
from ..models import ConsentSource, Member, MemberStatus, Message, OptOutSource, utcnow
from ..phones import InvalidPhone, to_e164
from ..sms.render import render
from . import Conflict, Invalid, NotFound, grammar
from .outbox.queue import queue_message

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
#: The kind of the text a member added by staff gets first (messages/added.txt). The
#: outbox sends nothing else to that member while it is queued or being sent
#: (app.domain.outbox.claims), so it is the first text they get from us.
WELCOME_KIND = "added"
#: The texts that lift Twilio's own opt-out block, alone in a message: its default
#: opt-in keywords on long codes (START, UNSTOP and YES; a toll-free number takes only
#: START and UNSTOP). Any other opt-in word (JOIN, YMUNO, ALTA...) makes the member
#: active in Chorus but leaves Twilio refusing to text them (21610) until they send one
#: of these, unless the Messaging Service's Advanced Opt-Out lists more words.
CARRIER_OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})


def clean_groups(groups: object) -> list[str]:
    """Validate a list of group names (lower-case words) and return them de-duplicated."""
    if groups is None:
        return []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise Invalid("groups must be a list of group names")
    names = sorted({g.strip().lower() for g in groups})
    for name in names:
        if not GROUP_NAME.match(name):
            raise Invalid(f"{name!r} is not a group name (letters, digits, - and _)")
    return names


def find_by_phone(phone: str, region: str) -> Member | None:
    """The member with this number (any format the region allows), or None."""
    try:
        e164 = to_e164(phone, region)
    except InvalidPhone:
        return None
    return db.session.execute(select(Member).where(Member.phone == e164)).scalar_one_or_none()


def get_by_phone(phone: str, region: str) -> Member:
    """The member with this number, or NotFound."""
    member = find_by_phone(phone, region)
    if member is None:
        raise NotFound("no member has that phone number")
    return member


def create_member(
    phone: object,
    *,
    region: str,
    default_language: str,
    name: object = None,
    language: object = None,
    groups: object = None,
    status: str = "active",
    consent_source: str = "staff",
    consent_by: str | None = None,
    actor: str = "system",
) -> Member:
    """Add a member, refusing invalid numbers (Invalid) and existing ones (Conflict).

    `consent_by` is who recorded the consent (staff adding them); None when it is the
    member's own text. Staff adding a member goes through `add_member`, which also
    queues their welcome text.
    """
    if not isinstance(phone, str):
        raise Invalid("phone is required and must be a string")
    try:
        e164 = to_e164(phone, region)
    except InvalidPhone as exc:
        raise Invalid(str(exc)) from None
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise Invalid("name must be a string of at most 200 characters")
    if name is not None and "\x00" in name:  # PostgreSQL text cannot hold it
        raise Invalid("name must not contain NUL characters")
    language = language if language is not None else default_language
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    group_names = clean_groups(groups)
    if db.session.execute(select(Member.id).where(Member.phone == e164)).first():
        raise Conflict(f"a member with phone {e164} already exists")
    # A number that texted STOP before it was a member stays opted out until it texts
    # START: staff adding it is not the person's consent.
    stop = last_stop(e164)
    if stop is not None:
        status = "opted_out"
    now = utcnow()
    member = Member(
        phone=e164,
        name=name.strip() if isinstance(name, str) else None,
        language=language,
        status=status,
        consent_at=now if status == "active" else None,
        consent_source=consent_source if status == "active" else None,
        consent_by=(consent_by or (actor if consent_source != "sms" else None))
        if status == "active"
        else None,
        opted_out_at=stop.created_at if stop is not None else None,
        opt_out_source="sms" if stop is not None else None,
    )
    member.set_groups(group_names)
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before the
        # SAVEPOINT, so a member added outside it would clash outside it too and poison
        # the caller's transaction (PostgreSQL), losing the inbound text that made it.
        with db.session.begin_nested():
            db.session.add(member)
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"a member with phone {e164} already exists") from None
    # By id only: the audit log must never hold a phone number (see the module docstring).
    audit.record(
        actor,
        "member.created",
        "member",
        member.id,
        {"via": consent_source, "status": member.status},
    )
    return member


@dataclass
class Added:
    """A member staff added, and the welcome text queued for them (None when they
    cannot be texted, e.g. a number that texted STOP before)."""

    member: Member
    welcome: Message | None


def add_member(
    phone: object,
    *,
    settings: Settings,
    actor: str,
    source: str = "staff",
    name: object = None,
    language: object = None,
    groups: object = None,
) -> Added:
    """Staff add a member (the API, the console, a CSV import: `source` says which of
    "api", "staff"): the consent record names `actor` and now, and a welcome text naming
    the organisation and how to stop is queued ahead of anything else for them.

    Flushed, not committed. After committing, the caller enqueues the welcome's send
    (`app.tasks.outbox.enqueue_queued([added.welcome.id])`); the sweeper sends it
    anyway within a sweep if that is forgotten. Invalid / Conflict as create_member.
    """
    member = create_member(
        phone,
        region=settings.default_region,
        default_language=settings.default_language,
        name=name,
        language=language,
        groups=groups,
        consent_source=source,
        consent_by=actor,
        actor=actor,
    )
    return Added(member, welcome(member, settings))


def welcome(member: Member, settings: Settings) -> Message | None:
    """Queue the welcome text of a member staff added (high priority, flushed); None
    when the member may not be texted."""
    if not may_text(member):
        return None
    return queue_message(
        phone=member.phone,
        body=render(WELCOME_KIND, member.language, org=settings.org_name),
        kind=WELCOME_KIND,
        member_id=member.id,
        priority="high",
    )


def may_text(member: Member) -> bool:
    """True when texts may be sent to the member: active, and not blocked by the carrier."""
    return member.status == MemberStatus.ACTIVE and member.carrier_blocked_at is None


def textable() -> ColumnElement[bool]:
    """SQL on Member: `may_text` (what a broadcast's audience is made of)."""
    return and_(Member.status == MemberStatus.ACTIVE, Member.carrier_blocked_at.is_(None))


def last_stop_or_start(phone: str, *where: Any) -> Message | None:
    """The newest STOP- or START-type text from this number (E.164), among the inbound
    texts matching `where` (all of them by default)."""
    return db.session.execute(
        select(Message)
        .where(
            Message.phone == phone,
            Message.direction == "in",
            Message.kind.in_(("stop", "start")),
            *where,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def last_stop(phone: str) -> Message | None:
    """The STOP this number (E.164) last texted, unless a START-type text came after it."""
    last = last_stop_or_start(phone)
    return last if last is not None and last.kind == "stop" else None


def opt_out(member: Member, source: str, when: datetime | None = None) -> bool:
    """Mark the member opted out; True if that changed anything."""
    if member.status in ("opted_out", "erased"):
        return False
    member.status = MemberStatus.OPTED_OUT
    member.opted_out_at = when or utcnow()
    member.opt_out_source = OptOutSource(source)
    audit.record(f"member:{member.id}", "member.opted_out", "member", member.id, {"via": source})
    return True


def opt_in(member: Member, source: str, when: datetime | None = None) -> bool:
    """Mark the member active with fresh consent (their own: `consent_by` is cleared);
    True if that changed anything."""
    if member.status in ("active", "erased"):
        return False
    member.status = MemberStatus.ACTIVE
    member.consent_at = when or utcnow()
    member.consent_source = ConsentSource(source)
    member.consent_by = None
    audit.record(f"member:{member.id}", "member.opted_in", "member", member.id, {"via": source})
    return True


# --- the carrier's block ----------------------------------------------------------------


def lifts_carrier_block(text: str) -> bool:
    """True when this inbound text makes Twilio lift its opt-out block (START, UNSTOP or
    YES alone; case, spaces and punctuation do not matter)."""
    return grammar.normalise(text) in CARRIER_OPT_IN_WORDS


def carrier_blocked(member: Member, code: str = "21610", when: datetime | None = None) -> bool:
    """Twilio refused to text the member because the number is on its opt-out list
    (error `code`, 21610); True if that changed anything (flushed by the caller).

    The member is shown as blocked by the carrier (`carrier_blocked_at`, with the
    reason) until they text START or UNSTOP, and nothing is sent to them meanwhile.
    When the block follows an opt-in by the member's own text (a word Twilio does not
    take, such as YMUNO or JOIN), their wish to get texts stands: they stay active.
    Otherwise the number told Twilio STOP without Chorus hearing it, and the member is
    opted out as well (source twilio-21610), as before.
    """
    if member.status == MemberStatus.ERASED or member.carrier_blocked_at is not None:
        return False
    follows_opt_in = (
        member.status == MemberStatus.ACTIVE and member.consent_source == ConsentSource.SMS
    )
    if follows_opt_in:
        word = _opt_in_word(member)
        reason = (
            f"Twilio {code}: the number is on Twilio's opt-out list; the member opted in "
            f"by text{f' ({word})' if word else ''}, which does not lift it. "
            "Texting START does."
        )
    else:
        reason = (
            f"Twilio {code}: the number told Twilio STOP and has not texted START since. "
            "Texting START lifts the block."
        )
        opt_out(member, OptOutSource.CARRIER, when)
    member.carrier_blocked_at = when or utcnow()
    member.carrier_blocked_reason = reason[:200]
    audit.record(
        "twilio",
        "member.carrier_blocked",
        "member",
        member.id,
        {"error": code, "still_active": member.status == MemberStatus.ACTIVE},
    )
    return True


def clear_carrier_block(member: Member) -> bool:
    """The member texted a word that lifts Twilio's block: texts may go again (if they
    are active). True if there was a block."""
    if member.carrier_blocked_at is None:
        return False
    member.carrier_blocked_at = None
    member.carrier_blocked_reason = None
    audit.record(f"member:{member.id}", "member.carrier_unblocked", "member", member.id)
    return True


def _opt_in_word(member: Member) -> str | None:
    """The member's last START-type text (their opt-in word, e.g. YMUNO), upper case."""
    last = last_stop_or_start(member.phone)
    if last is None or last.kind != "start":
        return None
    word = " ".join(last.body.split())[:20].upper()
    return word or None


def clean_language(language: object) -> str:
    """One of the ten language codes (any case, spaces around), or Invalid."""
    code = language.strip().lower() if isinstance(language, str) else language
    if code not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    assert isinstance(code, str)
    return code


def clean_name(name: object) -> str | None:
    """A member's name: stripped, at most 200 characters, no NUL; blank is None."""
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > 200:
        raise Invalid("name must be a string of at most 200 characters")
    if "\x00" in name:  # PostgreSQL text cannot hold it
        raise Invalid("name must not contain NUL characters")
    return name.strip() or None


def update_member(
    member: Member, *, name: object, language: object, groups: object, actor: str
) -> list[str]:
    """Change a member's name, language and groups; returns the names of the fields
    that changed (audited by name only: the audit log outlives an erasure).

    Consent is not among them: only the member can opt in again (START), and staff
    can neither re-subscribe someone who texted STOP nor change when or how anyone
    agreed."""
    new_name, new_language, new_groups = (
        clean_name(name),
        clean_language(language),
        clean_groups(groups),
    )
    changed = [
        field
        for field, before, after in (
            ("name", member.name, new_name),
            ("language", member.language, new_language),
            ("groups", member.groups, new_groups),
        )
        if before != after
    ]
    if not changed:
        return []
    member.name = new_name
    member.language = new_language
    member.set_groups(new_groups)
    member.updated_at = utcnow()
    audit.record(actor, "member.updated", "member", member.id, {"fields": changed})
    return changed
