"""Bearer tokens for the staff API: made by a command, stored only as a SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import g, request
from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, utcnow

PREFIX = "chorus_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str) -> tuple[ApiToken, str]:
    """Make a token called `name`; returns the row and the token, shown only once."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_hash(token))
    db.session.add(row)
    return row, token


def authenticate() -> ApiToken | None:
    """The token row named by the request's `Authorization: Bearer` header, if valid."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    digest = _hash(token)
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    # The lookup is by hash, so timing reveals nothing useful; compare anyway for clarity.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    g.api_token = row
    return row


def actor() -> str:
    """The audit actor for the current API request."""
    token = g.get("api_token")
    return f"api:{token.name}" if token else "api:anonymous"


def touch(row: ApiToken) -> None:
    """Record that the token was used."""
    row.last_used_at = utcnow()
