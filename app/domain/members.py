"""Members: creating them, and their consent (opt-in / opt-out)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import LANGUAGES
from ..extensions import db
from ..models import ConsentSource, Member, MemberStatus, Message, OptOutSource, utcnow
from ..phones import InvalidPhone, to_e164
from . import Conflict, Invalid, NotFound

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


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
    actor: str = "system",
) -> Member:
    """Add a member, refusing invalid numbers (Invalid) and existing ones (Conflict)."""
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
        # Who recorded the consent; a person joining by text gave it themselves.
        consent_by=actor if status == "active" and consent_source != "sms" else None,
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
    audit.record(
        actor,
        "member.created",
        "member",
        member.id,
        {"phone": e164, "via": consent_source, "status": member.status},
    )
    return member


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
    if member.status == "opted_out":
        return False
    member.status = MemberStatus.OPTED_OUT
    member.opted_out_at = when or utcnow()
    member.opt_out_source = OptOutSource(source)
    audit.record(f"member:{member.id}", "member.opted_out", "member", member.id, {"via": source})
    return True


def opt_in(member: Member, source: str, when: datetime | None = None) -> bool:
    """Mark the member active with fresh consent; True if that changed anything."""
    if member.status == "active":
        return False
    member.status = MemberStatus.ACTIVE
    member.consent_at = when or utcnow()
    member.consent_source = ConsentSource(source)
    member.consent_by = None  # the member's own doing
    audit.record(f"member:{member.id}", "member.opted_in", "member", member.id, {"via": source})
    return True


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
