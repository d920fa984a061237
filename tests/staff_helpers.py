"""Signing in to the console in tests, and posting its forms with their CSRF token."""

from __future__ import annotations

import re

from app import accounts
from app.extensions import db
from app.models import StaffAccount

PASSWORD = "correct horse battery staple"


def make_account(app, role: str = "organiser", email: str | None = None) -> StaffAccount:
    """A staff account with PASSWORD (email: <role>@example.org unless given)."""
    with app.app_context():
        account = accounts.create(email or f"{role}@example.org", role, PASSWORD, actor="test")
        db.session.commit()
        db.session.refresh(account)
        db.session.expunge(account)
        return account


def csrf(client, path: str = "/staff/login") -> str:
    """A CSRF token for this client's session, read from a form on `path`."""
    html = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', html)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client, email: str, password: str = PASSWORD, next_path: str | None = None):
    """Post the sign-in form; returns the answer (303 when it worked)."""
    data = {"email": email, "password": password, "csrf_token": csrf(client)}
    path = "/staff/login" + (f"?next={next_path}" if next_path else "")
    return client.post(path, data=data)


def staff_client(app, role: str = "organiser", email: str | None = None):
    """A test client signed in with a new account of `role`."""
    account = make_account(app, role, email)
    client = app.test_client()
    answer = sign_in(client, account.email)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def post(client, path: str, data: dict | None = None, **kwargs):
    """Post a console form with this session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kwargs)
