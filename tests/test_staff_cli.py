"""The `staff` and `api-token` commands, run through Flask's CLI runner."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, StaffAccount, StaffRole
from tests.staff_helpers import sign_in


def test_create_with_a_piped_password_then_sign_in(app, runner):
    result = runner.invoke(
        args=["staff", "create", "Ann@Example.org", "--role", "organiser"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    client = app.test_client()
    assert sign_in(client, "ann@example.org", "a long enough password").status_code == 303
    with app.app_context():
        account = db.session.execute(select(StaffAccount)).scalar_one()
        assert account.email == "ann@example.org" and account.role == StaffRole.ORGANISER
        assert account.password_hash.startswith("$argon2id$")


def test_create_without_a_password_prints_a_generated_one_alone_on_the_last_line(app, runner):
    result = runner.invoke(args=["staff", "create", "bo@example.org", "--role", "viewer"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1]
    assert len(password) >= 16 and " " not in password
    assert sign_in(app.test_client(), "bo@example.org", password).status_code == 303


def test_refusals_change_nothing(app, runner):
    short = runner.invoke(
        args=["staff", "create", "c@example.org", "--role", "admin"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    bad_role = runner.invoke(args=["staff", "create", "c@example.org", "--role", "boss"])
    assert bad_role.exit_code != 0
    bad_email = runner.invoke(args=["staff", "create", "not-an-email", "--role", "admin"])
    assert bad_email.exit_code != 0 and "email" in bad_email.output
    runner.invoke(args=["staff", "create", "c@example.org", "--role", "admin"])
    again = runner.invoke(args=["staff", "create", "C@example.org", "--role", "admin"])
    assert again.exit_code != 0 and "already" in again.output
    with app.app_context():
        assert len(db.session.execute(select(StaffAccount)).all()) == 1


def test_list_disable_and_set_password(app, runner):
    runner.invoke(
        args=["staff", "create", "d@example.org", "--role", "admin"], input="first password!\n"
    )
    client = app.test_client()
    assert sign_in(client, "d@example.org", "first password!").status_code == 303
    assert client.get("/staff/").status_code == 200

    changed = runner.invoke(
        args=["staff", "set-password", "d@example.org"], input="second password!\n"
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/staff/").status_code == 303  # the old session ended
    assert sign_in(client, "d@example.org", "first password!").status_code == 401
    assert sign_in(client, "d@example.org", "second password!").status_code == 303

    disabled = runner.invoke(args=["staff", "disable", "d@example.org"])
    assert disabled.exit_code == 0, disabled.output
    assert client.get("/staff/").status_code == 303
    assert sign_in(client, "d@example.org", "second password!").status_code == 401
    listing = runner.invoke(args=["staff", "list"])
    assert "d@example.org\tadmin\tdisabled" in listing.output
    missing = runner.invoke(args=["staff", "disable", "nobody@example.org"])
    assert missing.exit_code != 0


def test_api_tokens_have_a_role_a_list_and_can_be_revoked(app, runner):
    made = runner.invoke(args=["api-token", "create", "reader", "--role", "viewer"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/consultations/NOPE", headers=headers).status_code == 404
    refused = client.post("/api/v1/members", headers=headers, json={"phone": "+447400123456"})
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "this call needs a token with the organiser role"}

    listing = runner.invoke(args=["api-token", "list"])
    assert "reader\tviewer" in listing.output and "last used 20" in listing.output

    revoked = runner.invoke(args=["api-token", "revoke", "reader"])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/consultations/NOPE", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["api-token", "list"]).output
    assert runner.invoke(args=["api-token", "revoke", "reader"]).exit_code != 0
    with app.app_context():
        row = db.session.execute(select(ApiToken)).scalar_one()
        assert row.role == StaffRole.VIEWER


def test_a_token_made_without_a_role_is_an_organiser(runner, app):
    made = runner.invoke(args=["api-token", "create", "default"])
    token = made.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    answer = app.test_client().post(
        "/api/v1/members", headers=headers, json={"phone": "+447400123457"}
    )
    assert answer.status_code == 201
