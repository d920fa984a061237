"""Who may do what: every staff and API route × every kind of caller.

Built from the app's url_map: each staff page and API call must have a row in NEEDS
(the least role it allows). A route without one fails the test, so a new screen cannot
ship without someone deciding who may use it; a route whose declaration (@requires)
disagrees with its row fails too, so a widened role cannot slip in unnoticed.

Callers: anonymous, viewer, organiser, admin, a disabled account (it was signed in
before it was disabled) and, for the API, tokens of each role and a revoked one.
Expected answers: anonymous and disabled accounts are sent to the sign-in page (the
API: 401); a role below the need gets 403; a role at or above it gets anything but
401/403/the sign-in page (a 404 or 422 for the made-up ids and empty forms is fine:
the door was opened). A revoked token gets 401.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app import accounts
from app.api.auth import create_token
from app.extensions import db
from app.models import Broadcast, StaffRole, utcnow
from app.roles import OPEN, SIMULATOR, declared
from tests.staff_helpers import PASSWORD, csrf, make_account, sign_in

VIEWER, ORGANISER, ADMIN = StaffRole.VIEWER, StaffRole.ORGANISER, StaffRole.ADMIN

# The least role each route allows (OPEN: anyone; SIMULATOR: organiser unless
# SIMULATOR_OPEN=true). Keyed by endpoint; a route with several methods shares a row.
NEEDS: dict[str, StaffRole | str] = {
    # the staff console
    "staff.login": OPEN,
    "staff.logout": OPEN,
    "staff.dashboard": VIEWER,
    "staff.simulator": SIMULATOR,
    "staff.simulator_send": SIMULATOR,
    "staff.translations": VIEWER,
    # consultations and broadcasts (docs/console.md)
    "staff.consultations": VIEWER,
    "staff.consultation": VIEWER,
    "staff.consultation_new": ORGANISER,
    "staff.consultation_edit": ORGANISER,
    "staff.consultation_open": ORGANISER,
    "staff.consultation_close": ORGANISER,
    "staff.broadcast_new": ORGANISER,
    "staff.broadcast_confirm": ORGANISER,
    "staff.broadcast_send": ORGANISER,
    "staff.broadcasts": VIEWER,
    "staff.broadcast": VIEWER,
    "staff.broadcast_pause": ORGANISER,
    "staff.broadcast_resume": ORGANISER,
    "staff.broadcast_cancel": ORGANISER,
    # results, comment moderation, exports, assisted votes, outcomes (docs/console.md)
    "staff.results": VIEWER,
    "staff.comment_hide": ORGANISER,
    "staff.comment_show": ORGANISER,
    "staff.comments_csv": VIEWER,
    "staff.votes_csv": VIEWER,
    "staff.assisted": ORGANISER,
    "staff.assisted_post": ORGANISER,
    "staff.assisted_done": ORGANISER,
    "staff.outcome": ORGANISER,
    "staff.outcome_post": ORGANISER,
    "staff.outcome_publish": ORGANISER,
    "staff.outcome_notify_confirm": ORGANISER,
    "staff.outcome_notify": ORGANISER,
    # dashboard, members, imports, members' data
    "staff.members": VIEWER,
    "staff.members_export": VIEWER,
    "staff.member": VIEWER,
    "staff.member_new": ORGANISER,
    "staff.member_edit": ORGANISER,
    "staff.members_import": ORGANISER,
    "staff.member_import": ORGANISER,
    "staff.member_import_confirm": ORGANISER,
    "staff.member_import_discard": ORGANISER,
    "staff.member_export": ORGANISER,
    "staff.member_erase": ORGANISER,
    # inbox, audit log, staff and tokens
    "staff.inbox": VIEWER,
    "staff.inbox_reply": ORGANISER,
    "staff.inbox_handled": ORGANISER,
    "staff.audit_log": VIEWER,
    "staff.audit_verify": VIEWER,
    "staff.accounts": ADMIN,
    "staff.account_new": ADMIN,
    "staff.account_detail": ADMIN,
    "staff.account_role": ADMIN,
    "staff.account_disable": ADMIN,
    "staff.account_enable": ADMIN,
    "staff.account_sign_out": ADMIN,
    "staff.account_password": ADMIN,
    "staff.token_new": ADMIN,
    "staff.token_revoke": ADMIN,
    # the staff API
    "api.openapi": OPEN,
    "api.create_member": ORGANISER,
    "api.get_member": VIEWER,
    "api.revoke_member_links": ORGANISER,
    "api.export_member": ORGANISER,
    "api.erase_member": ORGANISER,
    "api.create_consultation": ORGANISER,
    "api.get_consultation": VIEWER,
    "api.open_consultation": ORGANISER,
    "api.close_consultation": ORGANISER,
    "api.consultation_results": VIEWER,
    "api.consultation_outcome": ORGANISER,
    "api.broadcast_consultation": ORGANISER,
    "api.broadcast_preview": VIEWER,
    "api.remind_consultation": ORGANISER,
    "api.get_broadcast": VIEWER,
    "api.pause_broadcast": ORGANISER,
    "api.resume_broadcast": ORGANISER,
    "api.cancel_broadcast": ORGANISER,
}

# Values for the routes' URL parameters; ids that exist are filled in by the fixture.
PARAMS: dict[str, str] = {
    "code": "P1",
    "phone": "+447400123456",
    "broadcast_id": "BROADCAST",
    "comment_id": "1",
    "vote_id": "1",
    # the spare admin that the "disabled" caller signs in as, and the revoked token:
    # an admin's empty POSTs to them change nothing another caller relies on
    "account_id": "4",
    "member_id": "1",
    "import_id": "1",
    "token_id": "4",
}

RANK = {VIEWER: 0, ORGANISER: 1, ADMIN: 2}


def _routes(app):
    """(endpoint, method, path) for every staff and API route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(("staff.", "api.")):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule))
    return found


def _path(rule, values: dict[str, str]) -> str:
    missing = [name for name in rule.arguments if name not in values]
    assert not missing, f"{rule.rule}: add a value for {missing} to PARAMS"
    return rule.build({name: values[name] for name in rule.arguments})[1]


@pytest.fixture
def setting(app, world):
    """The app with one consultation, member and broadcast, and the callers."""
    world.member(phone="+447400123456")
    world.consultation("P1")
    with app.app_context():
        broadcast = Broadcast(kind="announcement", bodies={"en": "hi"}, status="completed")
        db.session.add(broadcast)
        db.session.commit()
        values = {**PARAMS, "broadcast_id": str(broadcast.id)}
        tokens = {}
        for role in StaffRole:
            _row, tokens[role] = create_token(f"matrix-{role}", role)
        revoked, tokens["revoked"] = create_token("matrix-revoked", StaffRole.ADMIN)
        revoked.revoked_at = utcnow()
        db.session.commit()
    for role in StaffRole:
        make_account(app, role.value)
    make_account(app, "admin", email="gone@example.org")
    return values, tokens


def _client(app, caller: str):
    """A test client for `caller` (anonymous, a role, or the disabled account)."""
    client = app.test_client()
    if caller == "anonymous":
        return client
    email = "gone@example.org" if caller == "disabled" else f"{caller}@example.org"
    assert sign_in(client, email, PASSWORD).status_code == 303
    if caller == "disabled":
        with app.app_context():
            accounts.disable(accounts.find(email), actor="test")
            db.session.commit()
    return client


def _to_sign_in(response) -> bool:
    return response.status_code in (302, 303) and "/staff/login" in response.headers.get(
        "Location", ""
    )


def test_every_route_has_a_row_and_agrees_with_its_declaration(app):
    endpoints = {endpoint for endpoint, _method, _rule in _routes(app)}
    missing = sorted(endpoints - set(NEEDS))
    assert not missing, f"routes with no row in NEEDS (decide who may use them): {missing}"
    stale = sorted(set(NEEDS) - endpoints)
    assert not stale, f"rows for routes that no longer exist: {stale}"
    for endpoint in endpoints:
        assert declared(app.view_functions[endpoint]) == NEEDS[endpoint], endpoint


@pytest.mark.parametrize("caller", ["anonymous", "viewer", "organiser", "admin", "disabled"])
def test_staff_pages(app, setting, caller):
    values, _tokens = setting
    client = _client(app, caller)
    token = csrf(client)
    for endpoint, method, rule in _routes(app):
        if not endpoint.startswith("staff.") or endpoint == "staff.logout":
            continue
        need = NEEDS[endpoint]
        path = _path(rule, values)
        if method == "GET":
            response = client.get(path)
        else:
            response = client.open(path, method=method, data={"csrf_token": token})
        response.close()  # a streamed download holds its request context until closed
        where = f"{caller} {method} {path} (needs {need})"
        if need == OPEN:
            assert response.status_code not in (401, 403), where
            continue
        role = StaffRole.ORGANISER if need == SIMULATOR else need
        if caller in ("anonymous", "disabled"):
            assert _to_sign_in(response), f"{where}: {response.status_code}"
        elif RANK[StaffRole(caller)] < RANK[role]:
            assert response.status_code == 403, f"{where}: {response.status_code}"
        else:
            assert response.status_code not in (401, 403), where
            assert not _to_sign_in(response), where


def test_the_simulator_opens_to_anyone_only_with_simulator_open(make_app):
    app = make_app(SIMULATOR_OPEN="true")
    assert app.test_client().get("/staff/simulator").status_code == 200
    assert _to_sign_in(app.test_client().get("/staff/"))


@pytest.mark.parametrize("caller", ["none", "viewer", "organiser", "admin", "revoked"])
def test_api_calls(app, setting, caller):
    values, tokens = setting
    client = app.test_client()
    headers = {} if caller == "none" else {"Authorization": f"Bearer {tokens[_key(caller)]}"}
    for endpoint, method, rule in _routes(app):
        if not endpoint.startswith("api."):
            continue
        need = NEEDS[endpoint]
        path = _path(rule, values)
        response = client.open(path, method=method, headers=headers, json={})
        where = f"{caller} {method} {path} (needs {need})"
        if need == OPEN:
            assert response.status_code == 200, where
        elif caller in ("none", "revoked"):
            assert response.status_code == 401, where
            assert response.get_json() == {
                "error": "a valid 'Authorization: Bearer TOKEN' header is required"
            }
        elif RANK[StaffRole(caller)] < RANK[need]:
            assert response.status_code == 403, where
            assert "role" in response.get_json()["error"]
        else:
            assert response.status_code not in (401, 403), where


def _key(caller: str):
    return "revoked" if caller == "revoked" else StaffRole(caller)


def test_a_route_that_declares_nothing_is_closed(make_app):
    """The default is closed: an undeclared staff page answers 403 even to an admin.
    (Flask runs the staff blueprint's guard for any endpoint named staff.*.)"""
    app = make_app()
    app.add_url_rule("/staff/undeclared-for-test", "staff.undeclared_for_test", lambda: "open?")
    make_account(app, "admin")
    client = app.test_client()
    assert sign_in(client, "admin@example.org").status_code == 303
    assert client.get("/staff/undeclared-for-test").status_code == 403
    assert client.get("/staff/").status_code == 200


def test_api_tokens_record_when_they_were_last_used(app, setting):
    _values, tokens = setting
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens[StaffRole.VIEWER]}"}
    assert client.get("/api/v1/consultations/P1", headers=headers).status_code == 200
    with app.app_context():
        from app.models import ApiToken

        row = db.session.execute(
            select(ApiToken).where(ApiToken.name == "matrix-viewer")
        ).scalar_one()
        assert row.last_used_at is not None


def test_viewer_pages_mask_phone_numbers(app, setting):
    """The masking helper the console's templates use, as a viewer and an organiser."""
    from app.staff.access import mask_phone

    for role, expected in (("viewer", r"\+44\*+3456"), ("organiser", r"\+447400123456")):
        client = _client(app, role)
        with client:
            client.get("/staff/")
            assert re.fullmatch(expected, mask_phone("+447400123456"))
