"""Personal links: a member's own page for one consultation, reached from a text.

The link carries `(member_id, consultation_id)` signed with SECRET_KEY (itsdangerous,
a salt of its own), so it needs no login and no database row, and a changed or made-up
token is refused. Whoever holds the link can vote as that member on that one
consultation: it is sent only to the member's phone. Links signed with a key listed in
SECRET_KEY_FALLBACKS still open, so keys can be rotated; a key dropped from both
invalidates every link it signed.

The page's form carries a second, short-lived signature over the token
(`form_key`), so a post must come from a form this server rendered recently.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from ..config import Settings, settings
from ..models import Consultation, Member
from .votes import in_audience

SALT = "chorus.personal-link.v1"
FORM_SALT = "chorus.personal-form.v1"
#: How long a rendered form may wait before it is posted (seconds).
FORM_MAX_AGE = 24 * 3600


def _secret(secret_key: str | None) -> list[str]:
    """The keys to check with, the one to sign with last (itsdangerous's order)."""
    if secret_key:
        return [secret_key]
    current = settings()
    return [*current.secret_key_fallbacks, current.secret_key]


def personal_token(
    member: Member, consultation: Consultation, *, secret_key: str | None = None
) -> str:
    """The signed token for `member`'s page on `consultation` (URL-safe, about 36 chars)."""
    return URLSafeSerializer(_secret(secret_key), salt=SALT).dumps([member.id, consultation.id])


def read_token(token: str, *, secret_key: str | None = None) -> tuple[int, int] | None:
    """`(member_id, consultation_id)` from a token, or None when it is forged or malformed."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    try:
        value = URLSafeSerializer(_secret(secret_key), salt=SALT).loads(token)
    except BadSignature:
        return None
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )
    return (value[0], value[1]) if valid else None


def personal_url(
    settings: Settings,
    member: Member,
    consultation: Consultation,
    *,
    base_url: str | None = None,
) -> str:
    """The absolute URL of `member`'s page on `consultation`.

    The origin is PUBLIC_BASE_URL, else `base_url` (a route passes its request's host
    URL); with neither, ValueError (a text needs an absolute link).
    """
    base = settings.public_base_url or base_url
    if not base:
        raise ValueError("set PUBLIC_BASE_URL, or pass base_url, to build a link")
    token = personal_token(member, consultation, secret_key=settings.secret_key)
    return f"{base.rstrip('/')}/v/{token}"


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
