"""Bearer tokens for the staff API: made by a command, stored only as a SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import g, request
from sqlalchemy import select, update

from .. import audit
from ..extensions import db
from ..models import ApiToken, StaffRole, utcnow

PREFIX = "chorus_"
LAST_USED_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    name: str, role: StaffRole = StaffRole.ORGANISER, *, owner: str | None = None
) -> tuple[ApiToken, str]:
    """Make a token called `name`; returns the row and the token, shown only once."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_hash(token), role=role, owner=owner)
    db.session.add(row)
    return row, token


def issue_token(
    name: str, role: StaffRole, *, owner: str | None, actor: str
) -> tuple[ApiToken, str]:
    """`create_token`, flushed and audited (the caller commits): the row and the token."""
    row, token = create_token(name, role, owner=owner)
    db.session.flush()
    audit.record(
        actor,
        "api_token.created",
        "api_token",
        row.id,
        {"name": name, "role": role.value, "owner": owner},
    )
    return row, token


def revoke_token(row: ApiToken, *, actor: str) -> bool:
    """Revoke a token (calls with it get 401 at once), audited; False if it already was."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    audit.record(actor, "api_token.revoked", "api_token", row.id, {"name": row.name})
    return True


def live_token_named(name: str) -> ApiToken | None:
    """A live token called `name`, if there is one."""
    return db.session.execute(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).limit(1)
    ).scalar()


def all_tokens() -> list[ApiToken]:
    """Every token, live ones first, newest first."""
    return list(
        db.session.execute(
            select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        ).scalars()
    )


def find_token(token: str) -> ApiToken | None:
    """The live (not revoked) token row for `token`, or None."""
    token = (token or "").strip()
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = _hash(token)
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    # The lookup is by hash, so timing reveals nothing useful; compare anyway for clarity.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


def authenticate() -> ApiToken | None:
    """The token row named by the request's `Authorization: Bearer` header, if valid."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    row = find_token(token) if scheme.lower() == "bearer" else None
    if row is not None:
        g.api_token = row
        now = utcnow()
        # Kept to the minute: a write on every call would cost more than it tells.
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
            db.session.execute(
                update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
            )
            db.session.commit()
    return row


def actor() -> str:
    """The audit actor for the current API request."""
    token = g.get("api_token")
    return f"api:{token.name}" if token else "api:anonymous"
