"""The staff API's schemas: the generated OpenAPI document, answers that match it, and
bad bodies refused as 422 {"error": ...} with nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select

from app.api.parser import describe
from app.extensions import db
from app.models import (
    ApiToken,
    AuditEvent,
    Broadcast,
    Comment,
    Consultation,
    Member,
    MemberGroup,
    Message,
    Outcome,
    Vote,
    utcnow,
)
from tests.inbound_helpers import inbound_params

DOC_URI = "urn:chorus:openapi"
PUBLIC = {("/api/v1/openapi.json", "get")}
YES_NO = {
    "code": "P12",
    "kind": "yes_no",
    "title": {"en": "Garden on Sundays", "cy": "Gardd ar ddydd Sul"},
    "summary": {"en": "Open the garden on Sundays?"},
    "audience": ["community"],
    "decision": {"by": "community", "quorum": 1, "threshold": 0.5},
}


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


@pytest.fixture
def doc(client) -> dict[str, Any]:
    """The OpenAPI document the app serves (no token needed)."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def openapi_path(rule: str) -> str:
    """A werkzeug rule (`/x/<int:id>`) as an OpenAPI path (`/x/{id}`)."""
    for converter in ("<path:", "<int:", "<"):
        rule = rule.replace(converter, "{")
    return rule.replace(">", "}")


def api_routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, lower-case method) for every route under /api/v1."""
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def follow(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or the object its local $ref ("#/components/...") points at in `doc`."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def answer_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the document declares for this answer."""
    response = follow(doc, doc["paths"][path][method]["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def check(doc: dict[str, Any], path: str, method: str, response) -> dict[str, Any]:
    """Validate a real answer against the schema the document declares for it."""
    schema = answer_schema(doc, path, method, response.status_code)
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    rooted = {"$ref": DOC_URI + schema["$ref"]} if "$ref" in schema else schema
    validator = Draft202012Validator(
        rooted, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [e.message for e in validator.iter_errors(response.json)]
    assert not errors, (path, method, response.status_code, response.json, errors)
    return response.json


# ---------------------------------------------------------------------- the document


def test_the_document_is_valid_openapi_3_1(doc):
    validate_openapi(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_every_api_route_is_documented_with_its_schemas(app, doc):
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == api_routes(app)
    for path, method in documented:
        operation = doc["paths"][path][method]
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1, (path, method)
        if (path, method) in PUBLIC:
            assert operation["security"] == []
            continue
        if success == ["204"]:  # no content: the answer has no body to describe
            assert "content" not in follow(doc, operation["responses"]["204"]), (path, method)
        else:
            schema = answer_schema(doc, path, method, int(success[0]))
            assert follow(doc, schema)["type"] == "object", (path, method)
        for code in ("401", *(c for c in operation["responses"] if c[0] == "4")):
            error = answer_schema(doc, path, method, int(code))
            assert follow(doc, error) == doc["components"]["schemas"]["Error"], (path, code)
        if "requestBody" in operation:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert follow(doc, body)["additionalProperties"] is False, (path, method)
            assert "422" in operation["responses"], (path, method)


@pytest.mark.parametrize(
    "path, method, body",
    [
        ("/api/v1/members", "post", "MemberIn"),
        ("/api/v1/consultations", "post", "ConsultationIn"),
        ("/api/v1/consultations/{code}/broadcast", "post", "BroadcastIn"),
        ("/api/v1/consultations/{code}/outcome", "post", "OutcomeIn"),
    ],
)
def test_each_body_is_declared_once(doc, path, method, body):
    declared = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert declared["schema"] == {"$ref": f"#/components/schemas/{body}"}


def test_the_error_schema_is_the_api_promise(doc):
    assert doc["components"]["schemas"]["Error"] == {
        "type": "object",
        "properties": {"error": {"type": "string", "example": "phone is required"}},
        "required": ["error"],
        "additionalProperties": False,
    }


def test_only_api_errors_are_json(client):
    """flask-smorest would answer every error of the app in its own JSON format."""
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    api = client.get("/api/v1/no-such-thing")
    assert (api.status_code, api.mimetype) == (404, "application/json")
    assert set(api.json) == {"error"}


# ---------------------------------------------------------------------- a real session


def test_a_whole_session_answers_as_the_document_says(app, client, doc, staff, signed_post, fake):
    """Member, consultation, open, broadcast, a vote, results, close, outcome: every
    answer validates against the schema the document declares for that route."""
    api = staff
    member_path = "/api/v1/members/{phone}"
    made = check(
        doc,
        "/api/v1/members",
        "post",
        api.post("/members", json={"phone": "07400 123456", "groups": ["community"]}),
    )
    assert made["phone"] == "+447400123456"
    check(doc, member_path, "get", api.get("/members/" + quote(made["phone"], safe="")))
    check(doc, "/api/v1/members", "post", api.post("/members", json={"phone": "07400 123457"}))

    r = api.post("/consultations", json=YES_NO)
    assert check(doc, "/api/v1/consultations", "post", r) == {"code": "P12", "status": "draft"}
    r = api.post("/consultations/P12/open")
    check(doc, "/api/v1/consultations/{code}/open", "post", r)
    check(doc, "/api/v1/consultations/{code}", "get", api.get("/consultations/P12"))
    r = api.get("/consultations/P12/broadcast/preview?kind=summary")
    check(doc, "/api/v1/consultations/{code}/broadcast/preview", "get", r)

    r = api.post("/consultations/P12/broadcast")
    assert r.status_code == 202
    accepted = check(doc, "/api/v1/consultations/{code}/broadcast", "post", r)
    assert accepted["recipients"] == 1
    r = api.get(f"/broadcasts/{accepted['broadcast_id']}")
    got = check(doc, "/api/v1/broadcasts/{broadcast_id}", "get", r)
    assert (got["status"], got["sent"], got["consultation"]) == ("completed", 1, "P12")

    assert signed_post("/twilio/inbound", inbound_params("+447400123456", "yes")).status_code
    r = api.get("/consultations/P12/results")
    results = check(doc, "/api/v1/consultations/{code}/results", "get", r)
    assert (results["votes"]["yes"], results["participants"]) == (1, 1)

    r = api.post("/consultations/P12/remind")
    check(doc, "/api/v1/consultations/{code}/remind", "post", r)
    r = api.post("/consultations/P12/close")
    assert check(doc, "/api/v1/consultations/{code}/close", "post", r)["status"] == "closed"
    r = api.post("/consultations/P12/outcome", json={"text": {"en": "Open."}, "notify": True})
    outcome = check(doc, "/api/v1/consultations/{code}/outcome", "post", r)
    assert (outcome["status"], outcome["recipients"]) == ("decided", 1)

    # Refusals match the document too.
    check(doc, member_path, "get", api.get("/members/%2B447400999999"))
    check(doc, "/api/v1/consultations/{code}/open", "post", api.post("/consultations/P12/open"))
    r = api.post("/members", json={"phone": "07400 123456"})
    check(doc, "/api/v1/members", "post", r)
    check(doc, "/api/v1/members", "post", client.post("/api/v1/members", json={}))


def test_scheduled_broadcast_and_its_controls_answer_as_the_document_says(app, doc, staff, fake):
    staff.post("/members", json={"phone": "07400 123456", "groups": ["community"]})
    staff.consultation()
    at = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    r = staff.post("/consultations/P12/broadcast", json={"at": at.isoformat()})
    accepted = check(doc, "/api/v1/consultations/{code}/broadcast", "post", r)
    assert (accepted["status"], accepted["scheduled_at"]) == ("scheduled", at.isoformat())
    broadcast = f"/broadcasts/{accepted['broadcast_id']}"
    for action, status in (("pause", "paused"), ("resume", "scheduled"), ("cancel", "cancelled")):
        r = staff.post(f"{broadcast}/{action}")
        got = check(doc, f"/api/v1/broadcasts/{{broadcast_id}}/{action}", "post", r)
        assert got["status"] == status
    # Only the member's welcome went (tests/test_members_data.py), nothing of the broadcast.
    assert [m["body"] for m in fake.messages if "P12" in m["body"]] == []


# ---------------------------------------------------------------------- bad bodies


def written(app) -> dict[str, int]:
    """Rows in every table a staff API call can write."""
    tables = (
        ApiToken,
        AuditEvent,
        Broadcast,
        Comment,
        Consultation,
        Member,
        MemberGroup,
        Message,
        Outcome,
        Vote,
    )
    with app.app_context():
        return {
            model.__name__: db.session.execute(select(func.count()).select_from(model)).scalar()
            for model in tables
        }


def refused(app, before: dict[str, int], response, *words: str) -> None:
    """A 422 whose body is exactly {"error": a message with `words`}, and nothing written."""
    assert response.status_code == 422, response.json
    assert set(response.json) == {"error"}, response.json
    assert isinstance(response.json["error"], str)
    for word in words:
        assert word in response.json["error"], response.json
    assert written(app) == before


LONG = "x" * 1600
MEMBER = {"phone": "07400 123456"}
OUTCOME = {"text": {"en": "Done."}}

BAD_BODIES = [
    # malformed JSON, and JSON that is not an object
    ("/members", b'{"phone": ', ("valid JSON",)),
    ("/consultations", b"\xff\xfe", ("valid JSON",)),
    ("/consultations/P12/outcome", b"nope", ("valid JSON",)),
    ("/consultations/P12/broadcast", b"{", ("valid JSON",)),
    ("/members", [MEMBER], ("JSON object",)),
    ("/consultations", [YES_NO], ("JSON object",)),
    ("/consultations/P12/outcome", [OUTCOME], ("JSON object",)),
    ("/consultations/P12/broadcast", [{"at": None}], ("JSON object",)),
    ("/members", "07400 123456", ("JSON object",)),
    # wrong types
    ("/members", {"phone": 7400123456}, ("phone must be text",)),
    ("/members", MEMBER | {"name": ["Ann"]}, ("name must be text",)),
    ("/members", MEMBER | {"groups": {"community": True}}, ("groups must be a list",)),
    ("/consultations", YES_NO | {"title": ["Garden"]}, ("title must be an object",)),
    ("/consultations", YES_NO | {"summary": {"en": 12}}, ("summary.en must be non-empty",)),
    ("/consultations", YES_NO | {"results_public": 1}, ("results_public must be true",)),
    ("/consultations", YES_NO | {"results_public": "true"}, ("results_public",)),
    ("/consultations", YES_NO | {"decision": {"quorum": "5"}}, ("decision.quorum",)),
    ("/consultations", YES_NO | {"decision": {"quorum": 5.0}}, ("decision.quorum",)),
    ("/consultations", YES_NO | {"decision": {"threshold": "0.5"}}, ("decision.threshold",)),
    ("/consultations", YES_NO | {"decision": {"threshold": False}}, ("decision.threshold",)),
    ("/consultations", YES_NO | {"decision": {"threshold": 10**400}}, ("decision.threshold",)),
    ("/consultations", YES_NO | {"decision": "community"}, ("decision must be an object",)),
    ("/consultations", YES_NO | {"options": {"label": "A"}}, ("options must be a list",)),
    ("/consultations", YES_NO | {"closes_at": 1767225600}, ("closes_at", "ISO 8601")),
    ("/consultations/P12/outcome", OUTCOME | {"notify": "yes"}, ("notify must be true",)),
    ("/consultations/P12/outcome", OUTCOME | {"notify": 1}, ("notify must be true",)),
    ("/consultations/P12/outcome", {"text": "Done."}, ("text must be an object",)),
    ("/consultations/P12/broadcast", {"at": 1767225600}, ("at must be an ISO 8601",)),
    # unknown fields, missing fields
    ("/members", MEMBER | {"email": "a@b.c"}, ("unknown field(s): email",)),
    ("/consultations", YES_NO | {"colour": "red"}, ("unknown field(s): colour",)),
    ("/consultations", YES_NO | {"decision": {"by": "staff", "veto": 1}}, ("decision: veto",)),
    ("/consultations/P12/outcome", OUTCOME | {"notfy": True}, ("unknown field(s): notfy",)),
    ("/consultations/P12/broadcast", {"at": None, "when": "now"}, ("unknown field(s): when",)),
    ("/members", {}, ("phone is required",)),
    ("/consultations", {"code": "P13", "kind": "open"}, ("summary is required", "title")),
    ("/consultations/P12/outcome", {"notify": True}, ("text is required",)),
    ("/members", {"phone": None}, ("phone must not be null",)),
    # 1,600 characters where far fewer fit
    ("/members", {"phone": LONG}, ("too long",)),
    ("/members", MEMBER | {"name": LONG}, ("name must be at most 200",)),
    ("/members", MEMBER | {"groups": [LONG]}, ("group",)),
    ("/consultations", YES_NO | {"title": {"en": LONG}}, ("title.en is longer than 200",)),
    ("/consultations", YES_NO | {"summary": {"en": LONG}}, ("summary.en is longer than 480",)),
    ("/consultations", YES_NO | {"code": LONG}, ("code must be",)),
    ("/consultations/P12/outcome", {"text": {"en": LONG}}, ("text.en is longer than 1000",)),
    # a number phonenumbers calls invalid (Ofcom's drama range), and nonsense
    ("/members", {"phone": "07700 900123"}, ("not a valid phone number",)),
    ("/members", {"phone": "+44 20 7946 0000 0"}, ("phone",)),
]


@pytest.mark.parametrize("path, body, words", BAD_BODIES)
def test_bad_bodies_are_422_with_one_error_and_write_nothing(app, staff, path, body, words):
    staff.consultation()  # P12, open: a good body would be accepted on every path here
    before = written(app)
    if isinstance(body, bytes):
        r = staff.post(path, data=body, content_type="application/json")
    else:
        r = staff.post(path, json=body)
    refused(app, before, r, *words)


def test_each_bad_body_path_accepts_a_good_body(app, staff, fake):
    """The refusals above are about the bodies: the same calls with good ones succeed."""
    staff.consultation()
    assert staff.post("/members", json=MEMBER | {"name": "Ann"}).status_code == 201
    assert staff.post("/consultations", json=YES_NO | {"code": "P13"}).status_code == 201
    assert staff.post("/consultations/P12/broadcast", json={"at": None}).status_code == 202
    assert staff.post("/consultations/P12/outcome", json=OUTCOME).status_code == 200


def test_a_bad_query_is_422_with_one_error(app, staff):
    staff.consultation()
    before = written(app)
    r = staff.get("/consultations/P12/broadcast/preview?kind=outcome")
    refused(app, before, r, "kind must be summary or reminder")


def test_every_wrong_field_is_named_in_one_message(app, staff):
    before = written(app)
    body = {"code": "P 1", "kind": "poll", "title": {"xx": "T"}, "summary": {"en": " "}}
    r = staff.post("/consultations", json=body)
    refused(app, before, r)
    message = r.json["error"]
    for part in ("code must be", "kind must be one of", "title.xx is not one of", "summary.en"):
        assert part in message, message


@pytest.mark.parametrize(
    "messages, sentence",
    [
        ({"phone": ["is required"]}, ["phone is required"]),
        (
            {"decision": {"quorum": ["must be a whole number"]}},
            ["decision.quorum must be a whole number"],
        ),
        ({"title": {"xx": {"key": ["is not one of en"]}}}, ["title.xx is not one of en"]),
        ({"options": {1: {"label": ["is required"]}}}, ["options.1.label is required"]),
        ({"a": ["Unknown field."], "b": ["Unknown field."]}, ["unknown field(s): a, b"]),
        ({"_schema": ["Invalid input type."]}, ["Invalid input type."]),
    ],
)
def test_describe_names_the_path_of_each_problem(messages, sentence):
    assert describe(messages) == sentence
