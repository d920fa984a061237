"""The staff API, driven as PRODUCT.md documents it."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent, Consultation, Member

YES_NO = {
    "code": "P12",
    "kind": "yes_no",
    "title": {"en": "Garden on Sundays", "cy": "Gardd ar ddydd Sul"},
    "summary": {"en": "Open the garden on Sundays?", "cy": "Agor yr ardd ar ddydd Sul?"},
    "audience": ["community"],
    "decision": {"by": "community", "quorum": 10, "threshold": 0.5},
}


def counts(app) -> tuple[int, int, int]:
    """Members, consultations and audit events in the database."""
    with app.app_context():
        return tuple(
            db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Member, Consultation, AuditEvent)
        )


def test_create_member_national_number_becomes_e164(api):
    r = api.post("/members", json={"phone": "07400 123456", "name": "Ann", "groups": ["community"]})
    assert r.status_code == 201, r.json
    assert r.json["phone"] == "+447400123456"
    assert r.json["language"] == "en"
    assert r.json["groups"] == ["community"]
    assert r.json["status"] == "active"
    got = api.get("/members/" + quote("+447400123456", safe=""))
    assert got.status_code == 200
    assert got.json["id"] == r.json["id"]


def test_member_language_and_international_number(api):
    r = api.post("/members", json={"phone": "+34 612 345 678", "language": "es"})
    assert r.status_code == 201
    assert (r.json["phone"], r.json["language"]) == ("+34612345678", "es")


@pytest.mark.parametrize(
    "payload, status, words",
    [
        ({"phone": "not a number"}, 422, "phone"),
        ({"phone": "07700 900123"}, 422, "valid"),  # drama range: not a real number
        ({"phone": "123"}, 422, "valid"),
        ({}, 422, "phone"),
        ({"phone": 7400123456}, 422, "phone"),
        ({"phone": "07400 123457", "language": "xx"}, 422, "language"),
        ({"phone": "07400 123457", "groups": "community"}, 422, "groups"),
        ({"phone": "07400 123457", "groups": ["Bad Name!"]}, 422, "group"),
        ({"phone": "0" * 1600}, 422, "long"),
    ],
)
def test_invalid_members_are_refused_and_change_nothing(app, api, payload, status, words):
    before = counts(app)
    r = api.post("/members", json=payload)
    assert r.status_code == status
    assert words in r.json["error"]
    assert counts(app) == before


def test_duplicate_member_conflicts(app, api):
    assert api.post("/members", json={"phone": "07400 123456"}).status_code == 201
    before = counts(app)
    r = api.post("/members", json={"phone": "+44 7400 123456"})
    assert r.status_code == 409
    assert "exists" in r.json["error"]
    assert counts(app) == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b'"text"', b"\xff\xfe"])
def test_malformed_json_is_422(app, api, raw):
    before = counts(app)
    r = api.post("/members", data=raw, content_type="application/json")
    assert r.status_code == 422
    assert "JSON" in r.json["error"]
    r = api.post("/consultations", data=raw, content_type="application/json")
    assert r.status_code == 422
    assert counts(app) == before


def test_unknown_member_is_404(api):
    assert api.get("/members/%2B447400999999").status_code == 404
    assert api.get("/members/nonsense").json["error"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": ""}],
)
def test_missing_or_wrong_token_is_401(app, client, token, headers):
    before = counts(app)
    r = client.post("/api/v1/members", json={"phone": "07400 123456"}, headers=headers)
    assert r.status_code == 401
    assert r.json["error"]
    assert client.get("/api/v1/consultations/P1/results", headers=headers).status_code == 401
    assert counts(app) == before


def test_revoked_or_other_tokens_dont_work(client, token):
    wrong = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    r = client.get("/api/v1/members/x", headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401


def test_token_is_stored_only_as_hash(app, token):
    with app.app_context():
        stored = db.session.execute(text("SELECT token_hash FROM api_token")).scalars().all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_consultation_lifecycle_and_results(api):
    r = api.post("/consultations", json=YES_NO)
    assert (r.status_code, r.json) == (201, {"code": "P12", "status": "draft"})
    assert api.post("/consultations/P12/open").json == {"code": "P12", "status": "open"}
    assert api.post("/consultations/p12/open").status_code == 409
    results = api.get("/consultations/P12/results")
    assert results.status_code == 200
    assert results.json == {
        "code": "P12",
        "status": "open",
        "votes": {"yes": 0, "no": 0, "abstain": 0},
        "comments": 0,
        "participants": 0,
    }
    assert api.post("/consultations/P12/close").json == {"code": "P12", "status": "closed"}
    assert api.post("/consultations/P12/close").status_code == 409
    assert api.post("/consultations/P12/open").status_code == 409


def test_choice_consultation_numbers_options(api):
    payload = {
        "code": "Q7",
        "kind": "choice",
        "title": {"en": "Meeting place"},
        "summary": {"en": "Where?"},
        "options": [
            {"label": {"en": "Library"}},
            {"label": {"en": "Hall"}},
            {"label": {"en": "Online"}},
        ],
        "closes_at": "2099-01-01T12:00:00Z",
    }
    assert api.post("/consultations", json=payload).status_code == 201
    assert api.get("/consultations/Q7/results").json["votes"] == {"1": 0, "2": 0, "3": 0}
    got = api.get("/consultations/Q7").json
    assert got["closes_at"].startswith("2099-01-01T12:00:00")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"code": "P 12"}, "code"),
        ({"code": "TOOLONG12345"}, "code"),
        ({"code": None}, "code"),
        ({"kind": "poll"}, "kind"),
        ({"title": "Garden"}, "title"),
        ({"title": {}}, "title"),
        ({"title": {"xx": "Garden"}}, "title"),
        ({"summary": {"en": ""}}, "summary"),
        ({"options": [{"label": {"en": "A"}}]}, "options"),
        ({"audience": "community"}, "groups"),
        ({"closes_at": "next tuesday"}, "closes_at"),
        ({"closes_at": "2001-01-01T00:00:00Z"}, "future"),
        ({"decision": {"by": "oracle"}}, "decision.by"),
        ({"decision": {"by": "community", "threshold": 1.5}}, "threshold"),
        ({"decision": {"by": "community", "quorum": -1}}, "quorum"),
        ({"decision": {"by": "community", "quorum": True}}, "quorum"),
    ],
)
def test_invalid_consultations_are_422(app, api, change, words):
    before = counts(app)
    r = api.post("/consultations", json=YES_NO | change)
    assert r.status_code == 422, r.json
    assert words in r.json["error"]
    assert counts(app) == before


def test_choice_needs_options(api):
    r = api.post("/consultations", json=YES_NO | {"kind": "choice"})
    assert r.status_code == 422 and "options" in r.json["error"]


def test_duplicate_code_conflicts(app, api):
    assert api.post("/consultations", json=YES_NO).status_code == 201
    before = counts(app)
    assert api.post("/consultations", json=YES_NO | {"code": "p12"}).status_code == 409
    assert counts(app) == before


@pytest.mark.parametrize("path", ["/open", "/close", "/results", ""])
def test_unknown_code_is_404(api, path):
    method = api.get if path in ("/results", "") else api.post
    r = method(f"/consultations/NOPE1{path}")
    assert r.status_code == 404
    assert "NOPE1" in r.json["error"]


def test_unknown_api_route_is_json_404(api):
    r = api.get("/nothing-here")
    assert r.status_code == 404 and "error" in r.json


def test_every_write_is_audited(app, api):
    api.post("/members", json={"phone": "07400 123456"})
    api.post("/consultations", json=YES_NO)
    api.post("/consultations/P12/open")
    api.post("/consultations/P12/close")
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        assert list(actions) == [
            "api_token.created",
            "member.created",
            "consultation.created",
            "consultation.opened",
            "consultation.closed",
        ]
        actors = set(db.session.execute(select(AuditEvent.actor)).scalars())
    assert "api:tests" in actors
