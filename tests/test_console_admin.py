"""The console's staff and tokens screen (admin only): accounts and API tokens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, AuditEvent, StaffAccount
from tests.staff_helpers import PASSWORD, make_account, post, sign_in, staff_client


@pytest.fixture
def admin(app):
    return staff_client(app, "admin")


def account_row(app, email: str) -> StaffAccount:
    with app.app_context():
        row = db.session.execute(select(StaffAccount).where(StaffAccount.email == email)).scalar()
        db.session.expunge_all()
        return row


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        )


def shown_once(html: str) -> str:
    """The password or token on a 'shown once' page."""
    return re.search(r'<input id="secret" type="text" readonly value="([^"]+)"', html).group(1)


ADMIN_PAGES = ["/staff/accounts", "/staff/accounts/new", "/staff/tokens/new"]


@pytest.mark.parametrize("role", ["viewer", "organiser"])
def test_only_admins_open_these_pages(app, role):
    client = staff_client(app, role)
    target = make_account(app, "viewer", "someone@example.org")
    for path in [*ADMIN_PAGES, f"/staff/accounts/{target.id}"]:
        assert client.get(path).status_code == 403, path
    for path in [
        "/staff/accounts/new",
        "/staff/tokens/new",
        f"/staff/accounts/{target.id}/role",
        f"/staff/accounts/{target.id}/disable",
        f"/staff/accounts/{target.id}/password",
        f"/staff/accounts/{target.id}/sign-out",
    ]:
        assert post(client, path, {"role": "admin", "email": "x@example.org"}).status_code == 403
    assert account_row(app, "someone@example.org").role == "viewer"
    assert account_row(app, "x@example.org") is None
    html = client.get("/staff/").get_data(as_text=True)
    assert "/staff/accounts" not in html  # not in their navigation either


def test_the_list_shows_accounts_and_tokens(app, admin):
    make_account(app, "viewer", "vera@example.org")
    app.test_cli_runner().invoke(args=["api-token", "create", "crm-sync", "--role", "viewer"])
    html = admin.get("/staff/accounts").get_data(as_text=True)
    assert "vera@example.org" in html and "admin@example.org" in html
    assert "crm-sync" in html
    assert '<th scope="col">Last sign-in</th>' in html
    assert "never" in html  # vera never signed in; the token never used
    assert "<script" not in html


def test_create_an_account_with_a_generated_password_shown_once(app, admin):
    response = post(
        admin,
        "/staff/accounts/new",
        {"email": "New.Person@Example.org", "name": "New Person", "role": "organiser"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = shown_once(response.get_data(as_text=True))
    assert len(password) >= 12
    row = account_row(app, "new.person@example.org")
    assert row.role == "organiser" and row.name == "New Person"
    assert password not in str(row.password_hash)
    # The password works.
    client = app.test_client()
    assert sign_in(client, "new.person@example.org", password).status_code == 303
    assert client.get("/staff/inbox").status_code == 200
    # Posting the form again makes nothing more.
    again = post(
        admin, "/staff/accounts/new", {"email": "new.person@example.org", "role": "viewer"}
    )
    assert again.status_code == 422
    assert "There is already an account with that email." in again.get_data(as_text=True)
    assert "staff.created" in audit_actions(app)


def test_create_an_account_with_a_typed_password(app, admin):
    response = post(
        admin,
        "/staff/accounts/new",
        {"email": "typed@example.org", "role": "viewer", "password": "a long enough one"},
    )
    assert response.status_code == 303
    follow = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "typed@example.org added with the password you typed" in follow
    assert sign_in(app.test_client(), "typed@example.org", "a long enough one").status_code == 303


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "", "role": "viewer"}, "email", "Enter an email address."),
        ({"email": "not-an-email", "role": "viewer"}, "email", "name@example.org"),
        ({"email": "a@example.org", "role": "boss"}, "role", "Not a valid choice"),
        (
            {"email": "a@example.org", "role": "viewer", "password": "too short"},
            "password",
            "A password needs at least 12 characters.",
        ),
    ],
)
def test_bad_account_input_gets_the_form_again(app, admin, form, field, message):
    before = len(audit_actions(app))
    response = post(admin, "/staff/accounts/new", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'<p id="{field}-error" class="field-error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert account_row(app, "a@example.org") is None
    assert len(audit_actions(app)) == before


def test_change_role_ends_the_accounts_sessions(app, admin):
    target = make_account(app, "viewer", "vic@example.org")
    vic = app.test_client()
    sign_in(vic, "vic@example.org")
    assert vic.get("/staff/inbox").status_code == 200
    response = post(admin, f"/staff/accounts/{target.id}/role", {"role": "organiser"})
    assert response.status_code == 303
    assert account_row(app, "vic@example.org").role == "organiser"
    assert vic.get("/staff/inbox").status_code == 303  # signed out: sign in again
    assert "staff.role_changed" in audit_actions(app)


def test_disable_ends_the_accounts_session_on_its_next_request(app, admin):
    target = make_account(app, "organiser", "olga@example.org")
    olga = app.test_client()
    sign_in(olga, "olga@example.org")
    assert olga.get("/staff/inbox").status_code == 200
    assert post(admin, f"/staff/accounts/{target.id}/disable").status_code == 303
    response = olga.get("/staff/inbox")
    assert response.status_code == 303 and "/staff/login" in response.headers["Location"]
    assert sign_in(app.test_client(), "olga@example.org").status_code == 401
    html = admin.get(f"/staff/accounts/{target.id}").get_data(as_text=True)
    assert "disabled since" in html
    # Enabled again: the same password works.
    assert post(admin, f"/staff/accounts/{target.id}/enable").status_code == 303
    assert sign_in(app.test_client(), "olga@example.org").status_code == 303
    changes = [a for a in audit_actions(app) if a in ("staff.disabled", "staff.enabled")]
    assert changes == ["staff.disabled", "staff.enabled"]


def test_a_new_password_ends_sessions_and_is_shown_once(app, admin):
    target = make_account(app, "viewer", "pat@example.org")
    pat = app.test_client()
    sign_in(pat, "pat@example.org")
    response = post(admin, f"/staff/accounts/{target.id}/password", {"password": ""})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = shown_once(response.get_data(as_text=True))
    assert pat.get("/staff/audit").status_code == 303
    assert sign_in(app.test_client(), "pat@example.org", PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "pat@example.org", password).status_code == 303
    short = post(admin, f"/staff/accounts/{target.id}/password", {"password": "short"})
    assert short.status_code == 422
    assert "A password needs at least 12 characters." in short.get_data(as_text=True)


def test_sign_out_everywhere(app, admin):
    target = make_account(app, "viewer", "sol@example.org")
    sol = app.test_client()
    sign_in(sol, "sol@example.org")
    assert post(admin, f"/staff/accounts/{target.id}/sign-out").status_code == 303
    assert sol.get("/staff/audit").status_code == 303
    assert sign_in(sol, "sol@example.org").status_code == 303  # the password still works


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(app, admin):
    me = account_row(app, "admin@example.org")
    response = post(admin, f"/staff/accounts/{me.id}/disable")
    assert response.status_code == 409
    assert "This is the only active admin" in response.get_data(as_text=True)
    response = post(admin, f"/staff/accounts/{me.id}/role", {"role": "organiser"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert re.search(r'<p id="role-error" class="field-error">This is the only active admin', html)
    row = account_row(app, "admin@example.org")
    assert row.role == "admin" and row.disabled_at is None
    assert admin.get("/staff/accounts").status_code == 200  # still signed in
    # A disabled admin does not count; a second active one does.
    other = make_account(app, "admin", "second@example.org")
    with app.app_context():
        db.session.get(StaffAccount, other.id).disabled_at = me.created_at
        db.session.commit()
    assert post(admin, f"/staff/accounts/{me.id}/role", {"role": "viewer"}).status_code == 409
    assert post(admin, f"/staff/accounts/{other.id}/enable").status_code == 303
    response = post(admin, f"/staff/accounts/{me.id}/role", {"role": "viewer"})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert account_row(app, "admin@example.org").role == "viewer"
    assert admin.get("/staff/accounts").status_code == 303  # the session ended


def test_token_create_works_on_the_api_with_its_role_and_revoke_stops_it(app, admin):
    response = post(admin, "/staff/tokens/new", {"name": "reporting", "role": "viewer"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = shown_once(response.get_data(as_text=True))
    assert token.startswith("chorus_")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/members/%2B447400123456", headers=headers).status_code == 404
    created = api.post("/api/v1/members", json={"phone": "07400 123456"}, headers=headers)
    assert created.status_code == 403
    with app.app_context():
        row = db.session.execute(select(ApiToken).where(ApiToken.name == "reporting")).scalar()
        assert row.role == "viewer" and row.owner == "admin@example.org"
        assert row.last_used_at is not None
        token_id = row.id
    html = admin.get("/staff/accounts").get_data(as_text=True)
    assert "reporting" in html and "live" in html
    # The same name again while it is live: refused, nothing made.
    again = post(admin, "/staff/tokens/new", {"name": "reporting", "role": "viewer"})
    assert again.status_code == 422
    assert "A live token already has that name." in again.get_data(as_text=True)
    # Revoked: 401 at once.
    assert post(admin, f"/staff/tokens/{token_id}/revoke").status_code == 303
    assert api.get("/api/v1/members/%2B447400123456", headers=headers).status_code == 401
    assert "revoked" in admin.get("/staff/accounts").get_data(as_text=True)
    actions = audit_actions(app)
    assert "api_token.created" in actions and actions[-1] == "api_token.revoked"
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "api_token.created")
        ).scalar()
        assert event.actor == "staff:admin@example.org"
        assert event.data == {"name": "reporting", "role": "viewer", "owner": "admin@example.org"}


def test_an_organiser_token_may_write(app, admin):
    response = post(
        admin, "/staff/tokens/new", {"name": "importer", "role": "organiser", "owner": "Data team"}
    )
    token = shown_once(response.get_data(as_text=True))
    created = app.test_client().post(
        "/api/v1/members",
        json={"phone": "07400 123457"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    with app.app_context():
        owner = db.session.execute(select(ApiToken.owner).where(ApiToken.name == "importer"))
        assert owner.scalar() == "Data team"


def test_bad_token_input_gets_the_form_again(app, admin):
    response = post(admin, "/staff/tokens/new", {"name": "  ", "role": "viewer"})
    assert response.status_code == 422
    assert '<p id="name-error" class="field-error">Give the token a name.</p>' in response.get_data(
        as_text=True
    )
    response = post(admin, "/staff/tokens/new", {"name": "x", "role": "root"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.execute(select(ApiToken)).first() is None


def test_the_pages_in_arabic_are_right_to_left(app, admin):
    target = make_account(app, "viewer", "rtl@example.org")
    for path in [*ADMIN_PAGES, f"/staff/accounts/{target.id}"]:
        html = admin.get(path + "?lang=ar").get_data(as_text=True)
        assert '<html lang="ar" dir="rtl">' in html, path
