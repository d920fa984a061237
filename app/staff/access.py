"""Who may open which console page, decided in one place (declared with app.roles).

Every staff route declares what it needs with `@requires(...)`: a role (viewer,
organiser or admin; each allows what the one before allows), `OPEN` (the sign-in page)
or `SIMULATOR` (organiser, or nobody when SIMULATOR_OPEN=true). `enforce`, run before
every request to the staff blueprint, reads that declaration; a route without one is
refused (403), so a forgotten decorator closes a page instead of opening it. The
authorization matrix test (tests/test_authorization.py) walks the app's url_map and
fails on any route whose declared need it has no expectation for.

Sessions (Flask-Login): the session holds the account id and its `session_version`;
an account that was disabled, got a new password or signed out since no longer
matches and is signed out. A session lasts at most 8 hours from sign-in and ends
after 30 minutes without a request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user

from ..config import settings
from ..extensions import db, login_manager
from ..models import StaffAccount, StaffRole
from ..roles import OPEN, SIMULATOR, declared, requires

MAX_SESSION = 8 * 3600
MAX_IDLE = 30 * 60


@dataclass(eq=False)
class SignedIn(UserMixin):
    """The account behind the current session, as Flask-Login wants it."""

    account: StaffAccount

    def get_id(self) -> str:
        return f"{self.account.id}:{self.account.session_version}"

    @property
    def role(self) -> StaffRole:
        return self.account.role

    def can(self, role: StaffRole | str) -> bool:
        return self.account.role.allows(StaffRole(role))


@login_manager.user_loader
def load_account(session_id: str) -> SignedIn | None:
    """The session's account, if it still exists, is enabled and has the same version."""
    account_id, _, version = session_id.partition(":")
    if not account_id.isdigit() or not version.isdigit():
        return None
    account = db.session.get(StaffAccount, int(account_id))
    if account is None or account.disabled_at is not None:
        return None
    if account.session_version != int(version):
        return None
    return SignedIn(account)


def start_session(account: StaffAccount) -> None:
    """Sign `account` in with a fresh session (nothing carried over from before)."""
    session.clear()
    login_user(SignedIn(account), remember=False)
    session.permanent = True  # the cookie itself lasts PERMANENT_SESSION_LIFETIME (8 h)
    now = int(time.time())
    session["signed_in_at"] = now
    session["seen_at"] = now


def end_session() -> None:
    """Sign out of this browser."""
    logout_user()
    session.clear()


def current_account() -> StaffAccount | None:
    """The signed-in account, or None."""
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.account


def actor() -> str:
    """Who the audit log and the records name for the current request."""
    account = current_account()
    if account is not None:
        return f"staff:{account.email}"
    return "staff:simulator"


def can(role: StaffRole | str) -> bool:
    """True when the signed-in account's role allows `role` (for templates too)."""
    account = current_account()
    return account is not None and account.role.allows(StaffRole(role))


def mask_phone(phone: str | None) -> str:
    """A number as a viewer sees it (`+44******3456`); organisers see it whole."""
    if not phone:
        return ""
    if can(StaffRole.ORGANISER):
        return phone
    return masked(phone)


def masked(phone: str) -> str:
    """`phone` masked, whoever asks (for a streamed export, decided once up front)."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def _session_expired() -> bool:
    now = time.time()
    signed_in_at = session.get("signed_in_at")
    seen_at = session.get("seen_at")
    if not isinstance(signed_in_at, int) or not isinstance(seen_at, int):
        return True
    return now - signed_in_at > MAX_SESSION or now - seen_at > MAX_IDLE


def enforce():
    """Before every staff request: the route's declared need against the session."""
    view = current_app.view_functions.get(request.endpoint or "")
    need = declared(view)
    if need is None:
        abort(403)  # a route that declares nothing is closed
    account = current_account()
    if account is not None and _session_expired():
        end_session()
        account = None
    if account is not None:
        session["seen_at"] = int(time.time())
    g.staff = account
    if need == OPEN:
        return None
    if need == SIMULATOR:
        if settings().simulator_open:
            return None
        need = StaffRole.ORGANISER
    if account is None:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")), code=303)
    if not account.role.allows(StaffRole(need)):
        abort(403)
    return None


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the dashboard (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("staff.dashboard")


# The console's navigation: (endpoint, label, role needed). An entry whose endpoint is
# not (yet) a route is left out, so screens can be added one at a time.
NAV = [
    ("staff.dashboard", _l("Dashboard"), StaffRole.VIEWER),
    ("staff.members", _l("Members"), StaffRole.VIEWER),
    ("staff.consultations", _l("Consultations"), StaffRole.VIEWER),
    ("staff.broadcasts", _l("Broadcasts"), StaffRole.VIEWER),
    ("staff.inbox", _l("Inbox"), StaffRole.VIEWER),
    ("staff.audit_log", _l("Audit log"), StaffRole.VIEWER),
    ("staff.translations", _l("Translations"), StaffRole.VIEWER),
    ("staff.accounts", _l("Staff and tokens"), StaffRole.ADMIN),
    ("staff.simulator", _l("Phone simulator"), StaffRole.ORGANISER),
]


ROLE_NAMES = {
    StaffRole.VIEWER: _l("viewer"),
    StaffRole.ORGANISER: _l("organiser"),
    StaffRole.ADMIN: _l("admin"),
}


def navigation() -> list[tuple[str, str]]:
    """The (url, label) entries the signed-in account may open."""
    routes = current_app.view_functions
    return [
        (url_for(endpoint), str(label))
        for endpoint, label, role in NAV
        if endpoint in routes and can(role)
    ]


def init_app(app: Flask) -> None:
    """Session lifetime and the template helpers (`can`, `mask_phone`, `staff_nav`)."""
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(seconds=MAX_SESSION))
    login_manager.init_app(app)
    login_manager.session_protection = None  # the session version does this job

    @app.context_processor
    def staff_helpers():
        return {
            "can": can,
            "mask_phone": mask_phone,
            "staff_nav": navigation,
            "role_names": ROLE_NAMES,
        }


__all__ = ["OPEN", "SIMULATOR", "declared", "requires"]
