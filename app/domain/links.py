"""Personal links: a member's own page for one consultation, reached from a text.

A link is `PUBLIC_BASE_URL/v/{token}`: the token is 12 random characters from the 62
letters and digits (`secrets`, about 2^71 tokens), so a link from a 20-character origin
is 35 characters and leaves room in a text. Only the token's SHA-256 is stored, in
`personal_link`, one row per member and consultation; a copy of the table opens no
page. The token itself is in the text that carried it (the outbox keeps every text's
body, until MESSAGE_RETENTION_DAYS clears it).

One live link per member per consultation: issuing a link again (LINK by text, "Text
me my link", a broadcast with links) makes a new token and the older link stops
working. A hash cannot be turned back into its token, so the same link cannot be sent
twice; and a member who asks again has most likely lost the first text, or fears that
someone else has it, so the newest link is the only one that should work.

A link stops working when
- staff revoke it (`revoke`: API `POST /api/v1/members/{phone}/links/revoke`),
- the member is erased (`revoke_all_for_member`, called by the erasure),
- 30 days after its consultation was decided (`LIVE_AFTER_DECISION`; checked whenever a
  link is opened, so nothing has to run for it to expire).

Whoever holds the link can vote as that member on that one consultation: it is sent
only to the member's phone. The page's form carries a short-lived signature over the
token (`form_key`, signed with SECRET_KEY), so a post must come from a form this server
rendered recently.

Broadcasts with links store each text with `MARKER` where the token goes; the sender
issues the link when it claims the text and stores the final body in the same
transaction as the claim (`app.domain.outbox.claims.claimed`), see docs/broadcasts.md.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .. import audit
from ..config import Settings, settings
from ..extensions import db
from ..models import Consultation, LinkTextDay, Member, Outcome, PersonalLink, utcnow
from ..sms.render import render
from .sql import changed
from .votes import in_audience

#: Letters and digits: every one of them is a plain GSM-7 character and URL-safe.
TOKEN_ALPHABET = string.ascii_letters + string.digits
#: 62**12 is about 2**71.
TOKEN_LENGTH = 12
#: The path in front of a token.
PATH = "/v/"
#: A link works until this long after its consultation was decided.
LIVE_AFTER_DECISION = timedelta(days=30)
#: Where a member's token goes in a stored broadcast text until it is sent: as long as a
#: token and plain GSM-7 too, so the text's segments and cost are already exact.
MARKER = "#CHORUSLINK#"
assert len(MARKER) == TOKEN_LENGTH

FORM_SALT = "chorus.personal-form.v1"
#: How long a rendered form may wait before it is posted (seconds).
FORM_MAX_AGE = 24 * 3600


# ---------------------------------------------------------------------- tokens


def new_token() -> str:
    """A fresh random token."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: object) -> bool:
    """True when `token` has a token's shape (checked before any query)."""
    return (
        isinstance(token, str)
        and len(token) == TOKEN_LENGTH
        and token.isascii()
        and token.isalnum()
    )


def link_url(base: str, token: str) -> str:
    """The absolute URL of the page a token opens."""
    return f"{base.rstrip('/')}{PATH}{token}"


def origin(settings: Settings, base_url: str | None = None) -> str:
    """PUBLIC_BASE_URL, else `base_url` (a route passes its request's host URL); with
    neither, ValueError (a text needs an absolute link)."""
    base = settings.public_base_url or base_url
    if not base:
        raise ValueError("set PUBLIC_BASE_URL, or pass base_url, to build a link")
    return base.rstrip("/")


# ---------------------------------------------------------------------- issuing


def _insert(dialect: str) -> Any:
    """The INSERT of this database that can say ON CONFLICT (SQLite and PostgreSQL)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def issue(member_id: int, consultation_id: int) -> str:
    """A new token for the member's page on the consultation; the older one, if any,
    stops working (flushed, not committed). One statement: an upsert on the pair, so
    two issues at once leave one row, holding whichever came last."""
    token = new_token()
    insert = _insert(db.session.get_bind().dialect.name)
    statement = insert(PersonalLink.__table__).values(
        member_id=member_id,
        consultation_id=consultation_id,
        token_hash=token_hash(token),
        created_at=utcnow(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["member_id", "consultation_id"],
        set_={
            "token_hash": statement.excluded.token_hash,
            "created_at": statement.excluded.created_at,
        },
    )
    db.session.execute(statement)
    return token


def issue_url(
    settings: Settings, member_id: int, consultation_id: int, *, base_url: str | None = None
) -> str:
    """Issue a link (see `issue`) and return its absolute URL; ValueError without an
    origin (see `origin`), before anything is written."""
    base = origin(settings, base_url)
    return link_url(base, issue(member_id, consultation_id))


def personal_url(
    settings: Settings,
    member: Member,
    consultation: Consultation,
    *,
    base_url: str | None = None,
) -> str:
    """`issue_url` for a member and a consultation (a new link: the older one stops)."""
    return issue_url(settings, member.id, consultation.id, base_url=base_url)


# ---------------------------------------------------------------------- opening


def decided_at(consultation: Consultation) -> datetime | None:
    """When the consultation was decided (its outcome recorded), or None."""
    if consultation.status != "decided":
        return None
    outcome = db.session.execute(
        select(Outcome.created_at).where(Outcome.consultation_id == consultation.id)
    ).scalar_one_or_none()
    return outcome or consultation.closed_at or consultation.created_at


def expired(consultation: Consultation, now: datetime | None = None) -> bool:
    """True when links to this consultation no longer work: decided 30 days ago."""
    when = decided_at(consultation)
    return when is not None and (now or utcnow()) >= when + LIVE_AFTER_DECISION


def find(token: str) -> tuple[Member, Consultation] | None:
    """The member and consultation a live token opens, or None: malformed, unknown
    (never issued, replaced, revoked, the member erased), or expired."""
    if not well_formed(token):
        return None
    row = db.session.execute(
        select(PersonalLink.member_id, PersonalLink.consultation_id).where(
            PersonalLink.token_hash == token_hash(token)
        )
    ).first()
    if row is None:
        return None
    member = db.session.get(Member, row.member_id)
    consultation = db.session.get(Consultation, row.consultation_id)
    if member is None or member.status == "erased":
        return None  # erasure revokes the links; this holds even if a row were left
    if consultation is None or expired(consultation):
        return None
    return member, consultation


# ---------------------------------------------------------------------- revoking


def revoke(member: Member, consultation: Consultation | None = None, *, actor: str) -> int:
    """Staff stop the member's links (to one consultation, or all of them); how many
    there were. Audited, naming the member by id (flushed, not committed)."""
    where = [PersonalLink.member_id == member.id]
    if consultation is not None:
        where.append(PersonalLink.consultation_id == consultation.id)
    revoked = changed(
        delete(PersonalLink).where(*where).execution_options(synchronize_session=False)
    )
    audit.record(
        actor,
        "member.links_revoked",
        "member",
        member.id,
        {"consultation": consultation.code if consultation else None, "links": revoked},
    )
    return revoked


def revoke_all_for_member(member_id: int) -> int:
    """Every link of the member stops working (the erasure calls this; it audits the
    erasure itself). How many there were; flushed, not committed."""
    return changed(
        delete(PersonalLink)
        .where(PersonalLink.member_id == member_id)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------- texts with links


def marked_url(base: str) -> str:
    """The link as a stored broadcast text holds it until it is sent: MARKER for the token."""
    return link_url(base, MARKER)


def fill(body: str, token: str) -> str:
    """`body` with its (last) marked link made the link of `token`; unchanged without one.

    The last one: the link line comes after everything staff wrote."""
    head, found, tail = body.rpartition(PATH + MARKER)
    return f"{head}{PATH}{token}{tail}" if found else body


def waiting_for_link(body: str) -> bool:
    """True when a stored text still has to get its member's link."""
    return PATH + MARKER in body


# ---------------------------------------------------------------------- the page's form


def _secret(secret_key: str | None) -> list[str]:
    """The keys to check with, the one to sign with last (itsdangerous's order)."""
    if secret_key:
        return [secret_key]
    current = settings()
    return [*current.secret_key_fallbacks, current.secret_key]


def form_key(token: str, *, secret_key: str | None = None) -> str:
    """A hidden form field tying a post to a page rendered for this token, recently."""
    return URLSafeTimedSerializer(_secret(secret_key), salt=FORM_SALT).dumps(token)


def form_key_ok(token: str, key: str | None, *, secret_key: str | None = None) -> bool:
    """True when `key` was made by `form_key(token)` less than FORM_MAX_AGE ago."""
    if not key or len(key) > 400:
        return False
    serializer = URLSafeTimedSerializer(_secret(secret_key), salt=FORM_SALT)
    try:
        signed: object = serializer.loads(key, max_age=FORM_MAX_AGE)
        return signed == token
    except BadSignature:  # SignatureExpired is a BadSignature too
        return False


def refusal(member: Member, consultation: Consultation) -> str | None:
    """Why the member cannot vote or comment on their page now, or None when they can.

    `closed` (the consultation is closed or decided), `pending` (not yet a member),
    `audience` (the consultation is for other groups). A member who sent STOP gets no
    texts but may still vote here, as votes.record_vote allows. It mirrors the checks
    in votes.record_vote so the page can say why before anyone posts; record_vote
    stays the guard.
    """
    if consultation.status != "open":
        return "closed"
    if member.status == "pending":
        return "pending"
    if not in_audience(consultation, member):
        return "audience"
    return None


# ---------------------------------------------------------------------- "Text me my link"


def today(settings: Settings, now: datetime | None = None) -> date:
    """The organisation's date now (its TIMEZONE): the day LINK_TEXTS_PER_DAY counts in."""
    return (now or utcnow()).astimezone(ZoneInfo(settings.timezone)).date()


def link_texts_today(settings: Settings, now: datetime | None = None) -> int:
    """How many texts "Text me my link" has caused today."""
    count = db.session.execute(
        select(LinkTextDay.texts).where(LinkTextDay.day == today(settings, now))
    ).scalar_one_or_none()
    return count or 0


def cap_reached(settings: Settings, now: datetime | None = None) -> bool:
    """True when "Text me my link" may cause no more texts today."""
    return link_texts_today(settings, now) >= settings.link_texts_per_day


def take_link_text(settings: Settings, now: datetime | None = None) -> bool:
    """Count one more text caused by "Text me my link" today, if the cap allows; False
    when it does not (flushed, not committed). Two statements whatever the load: the
    day's row is made if missing, then one guarded UPDATE takes a text; the row lock
    makes concurrent requests in every process queue, so the cap holds exactly."""
    day = today(settings, now)
    insert = _insert(db.session.get_bind().dialect.name)
    db.session.execute(
        insert(LinkTextDay.__table__)
        .values(day=day, texts=0)
        .on_conflict_do_nothing(index_elements=["day"])
    )
    taken = changed(
        update(LinkTextDay)
        .where(LinkTextDay.day == day, LinkTextDay.texts < settings.link_texts_per_day)
        .values(texts=LinkTextDay.texts + 1)
        .execution_options(synchronize_session=False)
    )
    return taken == 1


def link_text(
    settings: Settings, phone: str, consultation: Consultation, *, base_url: str | None = None
) -> tuple[Member, str] | None:
    """What "Text me my link" sends to `phone` (E.164): (member, text), a new link issued
    and the day's count taken; None when nothing may be sent: not a member, a member
    who may not be texted (pending, opted out), not in the consultation's audience, or
    the day's LINK_TEXTS_PER_DAY reached. Flushed, not committed: the caller queues the
    text and commits, or rolls back."""
    member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one_or_none()
    if member is None or member.status != "active" or not in_audience(consultation, member):
        return None
    base = origin(settings, base_url)
    if not take_link_text(settings):
        return None
    url = link_url(base, issue(member.id, consultation.id))
    return member, render("link", member.language, code=consultation.code, url=url)
