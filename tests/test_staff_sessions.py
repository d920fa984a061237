"""The console's session rules (app/staff/access.py, app/staff/routes.py): idle and
maximum lifetimes, sessions ended by a new password and by signing out, sign-in rate
limits per account and per address, and every sign-in attempt in the audit log."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.staff.access import MAX_IDLE, MAX_SESSION
from tests.staff_helpers import PASSWORD, make_account, post, sign_in, staff_client


def signed_out(response) -> bool:
    return response.status_code == 303 and "/staff/login" in response.headers["Location"]


def shift(client, **seconds_ago: int) -> None:
    """Move the session's `signed_in_at` / `seen_at` this many seconds into the past."""
    now = int(time.time())
    with client.session_transaction() as session:
        for key, ago in seconds_ago.items():
            session[key] = now - ago


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).scalars()
        found = list(rows)
        db.session.expunge_all()
        return found


def test_a_session_ends_after_30_idle_minutes(app):
    client = staff_client(app, "viewer")
    shift(client, seen_at=MAX_IDLE - 60)
    assert client.get("/staff/audit").status_code == 200  # 29 minutes: still signed in
    shift(client, seen_at=MAX_IDLE + 1)
    assert signed_out(client.get("/staff/audit"))
    assert signed_out(client.get("/staff/audit"))  # and it stays ended


def test_each_request_restarts_the_idle_clock(app):
    client = staff_client(app, "viewer")
    shift(client, signed_in_at=3 * 3600, seen_at=MAX_IDLE - 60)
    assert client.get("/staff/audit").status_code == 200
    with client.session_transaction() as session:
        assert int(time.time()) - session["seen_at"] < 5


def test_a_session_lasts_8_hours_at_most_however_busy(app):
    client = staff_client(app, "viewer")
    shift(client, signed_in_at=MAX_SESSION - 60, seen_at=10)
    assert client.get("/staff/audit").status_code == 200
    shift(client, signed_in_at=MAX_SESSION + 1, seen_at=10)
    assert signed_out(client.get("/staff/audit"))


def test_a_session_without_its_times_is_not_trusted(app):
    client = staff_client(app, "viewer")
    with client.session_transaction() as session:
        del session["signed_in_at"]
    assert signed_out(client.get("/staff/audit"))


def test_a_new_password_ends_every_session(app):
    account = make_account(app, "organiser", "org@example.org")
    first, second = app.test_client(), app.test_client()
    sign_in(first, account.email)
    sign_in(second, account.email)
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", account.email], input="another long password\n"
    )
    assert result.exit_code == 0, result.output
    assert signed_out(first.get("/staff/inbox"))
    assert signed_out(second.get("/staff/inbox"))
    assert sign_in(first, account.email, PASSWORD).status_code == 401
    assert sign_in(first, account.email, "another long password").status_code == 303


def test_signing_out_ends_every_session_of_the_account(app):
    account = make_account(app, "viewer", "v@example.org")
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, account.email)
    sign_in(elsewhere, account.email)
    response = post(here, "/staff/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/login"
    assert signed_out(here.get("/staff/audit"))
    assert signed_out(elsewhere.get("/staff/audit"))
    assert [e.subject_id for e in events(app, "staff.signed_out")] == [str(account.id)]


def test_ten_failed_sign_ins_for_one_account_then_429(app):
    account = make_account(app, "viewer", "target@example.org")
    for _ in range(10):
        assert sign_in(app.test_client(), account.email, "wrong password!").status_code == 401
    # Even the right password waits now, from any browser; other accounts still sign in.
    blocked = sign_in(app.test_client(), account.email)
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert sign_in(app.test_client(), "TARGET@example.org").status_code == 429  # any case
    other = make_account(app, "viewer", "other@example.org")
    assert sign_in(app.test_client(), other.email).status_code == 303


def test_successful_sign_ins_do_not_count(app):
    account = make_account(app, "viewer", "often@example.org")
    for _ in range(12):
        assert sign_in(app.test_client(), account.email).status_code == 303


def test_thirty_failed_sign_ins_from_one_address_then_429(app):
    account = make_account(app, "viewer", "real@example.org")
    for n in range(30):
        answer = sign_in(app.test_client(), f"guess{n}@example.org", "wrong password!")
        assert answer.status_code == 401, n
    assert sign_in(app.test_client(), account.email).status_code == 429
    # Another address is not held up.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert sign_in(other, account.email).status_code == 303


def test_every_sign_in_attempt_is_audited(app):
    account = make_account(app, "viewer", "who@example.org")
    assert sign_in(app.test_client(), account.email, "wrong password!").status_code == 401
    assert sign_in(app.test_client(), "nobody@example.org", "wrong password!").status_code == 401
    assert sign_in(app.test_client(), account.email).status_code == 303
    failed = events(app, "staff.sign_in_failed")
    assert [(e.actor, e.subject_type, e.subject_id) for e in failed] == [
        ("staff:anonymous", "staff_account", str(account.id)),
        ("staff:anonymous", None, None),  # an unknown email: nobody to name
    ]
    assert all(e.data == {"address": "127.0.0.1"} for e in failed)
    assert "nobody@example.org" not in str([e.data for e in failed])
    (signed_in,) = events(app, "staff.signed_in")
    assert signed_in.actor == "staff:who@example.org"
    assert signed_in.subject_id == str(account.id)
