"""Staff sign-in for the console: a staff API token, exchanged once for a session.

Until the console has accounts of its own, staff sign in with a token made by
`flask --app wsgi api-token create NAME` (only its hash is stored). With the console
SMS backend nothing ever leaves the machine, so the simulator is open there: that
is how `make run` lands a new user in it within a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, g, redirect, request, session, url_for

from ..config import settings
from ..extensions import db
from ..models import ApiToken


def signed_in() -> ApiToken | None:
    """The token the session signed in with, if it is still live."""
    token_id = session.get("staff_token")
    if not isinstance(token_id, int):
        return None
    row = db.session.get(ApiToken, token_id)
    return row if row is not None and row.revoked_at is None else None


def open_console() -> bool:
    """True when no text can leave this machine (console backend): no sign-in needed."""
    return settings().sms_backend == "console"


def csrf_token() -> str:
    """This session's form token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """400 unless the form carries this session's token."""
    sent = request.form.get("csrf_token", "")
    wanted = session.get("csrf", "")
    if not wanted or not hmac.compare_digest(
        hashlib.sha256(sent.encode()).digest(), hashlib.sha256(wanted.encode()).digest()
    ):
        abort(400, "the form expired; reload the page and try again")


def staff_required(view):
    """Let signed-in staff through (anyone, with the console backend); others sign in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        row = signed_in()
        if row is None and not open_console():
            return redirect(url_for("staff.login", next=request.full_path.rstrip("?")), code=303)
        g.staff = f"staff:{row.name}" if row else "staff:console"
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the simulator (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return url_for("staff.simulator")
