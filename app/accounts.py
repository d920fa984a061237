"""Staff accounts: made, checked, disabled and given new passwords (no request in here).

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106's
recommendation for memory-constrained hosts). A hash made with older parameters is
replaced at the next successful sign-in. Every change that must end the account's
sessions bumps `session_version` (app/staff/access.py compares it on every request).
The caller commits.
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from . import audit
from .extensions import db
from .models import StaffAccount, StaffRole, utcnow

HASHER = PasswordHasher()
MIN_PASSWORD = 12
MAX_PASSWORD = 200
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# A hash to check against when the email is unknown, so that a wrong email and a wrong
# password take the same time (no way to learn who has an account).
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account change, with a message for the person making it."""


def normal_email(email: str) -> str:
    """The stored form of an email address: trimmed, lower-case; AccountError if malformed."""
    email = (email or "").strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise AccountError("Enter an email address like name@example.org.")
    return email


def check_password_rules(password: str) -> None:
    """AccountError unless `password` is 12 to 200 characters."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"A password can have at most {MAX_PASSWORD} characters.")


def generate_password() -> str:
    """A random password of about 120 bits, easy to copy (URL-safe characters)."""
    return secrets.token_urlsafe(15)


def find(email: str) -> StaffAccount | None:
    """The account with this email (any case), disabled or not."""
    try:
        email = normal_email(email)
    except AccountError:
        return None
    return db.session.execute(
        select(StaffAccount).where(func.lower(StaffAccount.email) == email)
    ).scalar_one_or_none()


def create(
    email: str, role: StaffRole | str, password: str, *, actor: str, name: str | None = None
) -> StaffAccount:
    """A new account; AccountError when the email is taken or the password too short."""
    email = normal_email(email)
    check_password_rules(password)
    try:
        role = StaffRole(role)
    except ValueError:
        raise AccountError("The role must be viewer, organiser or admin.") from None
    if find(email) is not None:
        raise AccountError("There is already an account with that email.")
    account = StaffAccount(
        email=email,
        name=(name or "").strip()[:200] or None,
        role=role,
        password_hash=HASHER.hash(password),
        session_version=1,
    )
    db.session.add(account)
    db.session.flush()
    audit.record(actor, "staff.created", "staff_account", account.id, {"role": role.value})
    return account


def authenticate(email: str, password: str) -> StaffAccount | None:
    """The live account for this email and password, or None (in about the same time)."""
    account = find(email)
    stored = account.password_hash if account is not None else _DUMMY_HASH
    try:
        HASHER.verify(stored, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled_at is not None:
        return None
    if HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = HASHER.hash(password)
    account.last_sign_in_at = utcnow()
    return account


def set_password(account: StaffAccount, password: str, *, actor: str) -> None:
    """A new password; every session of the account ends."""
    check_password_rules(password)
    account.password_hash = HASHER.hash(password)
    account.session_version += 1
    audit.record(actor, "staff.password_changed", "staff_account", account.id)


def set_role(account: StaffAccount, role: StaffRole | str, *, actor: str) -> None:
    """A new role; the account's sessions end so the new role applies at once."""
    role = StaffRole(role)
    if role == account.role:
        return
    previous = account.role
    account.role = role
    account.session_version += 1
    audit.record(
        actor,
        "staff.role_changed",
        "staff_account",
        account.id,
        {"from": previous.value, "to": role.value},
    )


def disable(account: StaffAccount, *, actor: str) -> None:
    """No more sign-ins, and every session of the account ends now."""
    if account.disabled_at is not None:
        return
    account.disabled_at = utcnow()
    account.session_version += 1
    audit.record(actor, "staff.disabled", "staff_account", account.id)


def enable(account: StaffAccount, *, actor: str) -> None:
    """Sign-ins allowed again (with the same password)."""
    if account.disabled_at is None:
        return
    account.disabled_at = None
    account.session_version += 1
    audit.record(actor, "staff.enabled", "staff_account", account.id)


def end_sessions(account: StaffAccount, *, actor: str) -> None:
    """Sign the account out everywhere (sign-out does this for its own account)."""
    account.session_version += 1
    audit.record(actor, "staff.signed_out", "staff_account", account.id)


def is_last_active_admin(account: StaffAccount) -> bool:
    """True when `account` is the only enabled admin: disabling or demoting it would
    leave nobody able to manage accounts from the console.

    The enabled admins' rows are locked (PostgreSQL) in id order until the transaction
    ends, so two admins demoting each other at once cannot both pass this check.
    """
    if account.role != StaffRole.ADMIN or account.disabled_at is not None:
        return False
    admins = db.session.execute(
        select(StaffAccount.id)
        .where(StaffAccount.role == StaffRole.ADMIN, StaffAccount.disabled_at.is_(None))
        .order_by(StaffAccount.id)
        .with_for_update()
    ).scalars()
    return [found for found in admins if found != account.id] == []


def all_accounts() -> list[StaffAccount]:
    """Every account, by email."""
    return list(db.session.execute(select(StaffAccount).order_by(StaffAccount.email)).scalars())
