"""Staff API routes: thin wrappers over app.domain, one transaction per request.

Each route names its request schema (`bp.arguments`) and answer schema (`bp.response`)
from app/api/schemas.py: those validate the body, shape the answer and document both.
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..config import settings
from ..domain import DomainError
from ..domain import broadcasts as broadcasts_ops
from ..domain import consultations as consultations_ops
from ..domain import links as links_ops
from ..domain import members as members_ops
from ..domain import outcomes as outcomes_ops
from ..domain import privacy as privacy_ops
from ..extensions import db
from ..models import Broadcast, StaffRole
from ..roles import OPEN, declared, requires
from ..tasks import broadcasts as broadcast_tasks
from ..tasks import outbox as outbox_tasks
from .auth import actor, authenticate
from .blueprint import bp
from .schemas import (
    CODE_PATTERN,
    BroadcastAcceptedSchema,
    BroadcastInSchema,
    BroadcastPreviewSchema,
    BroadcastSchema,
    ConsultationInSchema,
    ConsultationSchema,
    ConsultationStatusSchema,
    LinksRevokedSchema,
    LinksRevokeInSchema,
    MemberExportSchema,
    MemberInSchema,
    MemberSchema,
    OutcomeInSchema,
    OutcomeRecordedSchema,
    PreviewQuerySchema,
    RemindInSchema,
    ResultsSchema,
)

# Path parameters, described beyond what the URL converters say.
CODE = {
    "in": "path",
    "name": "code",
    "description": "The consultation's code, in any case",
    "schema": {"type": "string", "pattern": CODE_PATTERN},
    "example": "P12",
}
PHONE = {
    "in": "path",
    "name": "phone",
    "description": "E.164, URL-encoded (%2B447400123456), or any form DEFAULT_REGION allows",
    "schema": {"type": "string"},
}
BROADCAST_ID = {"in": "path", "name": "broadcast_id", "schema": {"type": "integer", "minimum": 1}}


def error(status: int, message: str):
    """A JSON error answer: {"error": message}."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def refusals(*codes: int):
    """Document the `{"error": ...}` answers a route may give: 401 and `codes`."""

    def decorate(view):
        for code in sorted({401, *codes}, reverse=True):
            view = bp.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorate


@bp.before_request
def require_token():
    """Every call needs a valid bearer token whose role allows what the route declares
    (app/roles.py); the OpenAPI document is open, and a route declaring nothing is
    refused."""
    need = declared(current_app.view_functions.get(request.endpoint or ""))
    if need == OPEN:
        return None
    token = authenticate()
    if token is None:
        response = error(401, "a valid 'Authorization: Bearer TOKEN' header is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="chorus"'
        return response
    if not isinstance(need, StaffRole):
        return error(403, "this call is not open to API tokens")
    if not token.role.allows(need):
        return error(403, f"this call needs a token with the {need.value} role")
    return None


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    """Domain refusals and bad bodies become 404/409/422 JSON and nothing is written."""
    db.session.rollback()
    return error(exc.status, exc.message)


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Werkzeug's errors (404, 405...) as JSON under /api/, the usual page elsewhere."""
    if not request.path.startswith(f"{bp.url_prefix}/"):
        return exc
    db.session.rollback()
    return error(exc.code or 500, exc.description or exc.name)


@bp.get("/openapi.json")
@requires(OPEN)
@bp.doc(
    summary="This document",
    security=[],
    responses={"200": {"description": "The OpenAPI 3.1 document"}},
)
def openapi():
    """The OpenAPI 3 document describing this API."""
    return jsonify(current_app.extensions["chorus-api"].spec.to_dict())


# ---------------------------------------------------------------------- members


@bp.post("/members")
@requires(StaffRole.ORGANISER)
@bp.arguments(MemberInSchema)
@bp.response(201, MemberSchema)
@refusals(409, 422)
def create_member(data: dict[str, Any]):
    """Add a member: 422 for a number that is not valid, 409 if it exists.

    The consent record names this token and now, and the member is texted a welcome
    naming the organisation and how to stop, before any other text.
    """
    added = members_ops.add_member(
        data["phone"],
        settings=settings(),
        actor=actor(),
        source="api",
        name=data.get("name"),
        language=data.get("language"),
        groups=data.get("groups"),
    )
    db.session.commit()
    if added.welcome is not None:
        outbox_tasks.enqueue_queued([added.welcome.id])
    return added.member


@bp.get("/members/<path:phone>", parameters=[PHONE])
@requires(StaffRole.VIEWER)
@bp.response(200, MemberSchema)
@refusals(404)
def get_member(phone: str):
    """A member by phone number (E.164, URL-encoded: %2B447400123456)."""
    return members_ops.get_by_phone(phone, settings().default_region)


@bp.post("/members/<path:phone>/links/revoke", parameters=[PHONE])
@requires(StaffRole.ORGANISER)
@bp.arguments(LinksRevokeInSchema, required=False)
@bp.response(200, LinksRevokedSchema)
@refusals(404, 422)
def revoke_member_links(data: dict[str, Any], phone: str):
    """Stop the member's personal links (/v/...) working: all of them, or the one to
    `consultation`. They can get a new one by texting LINK. Audited."""
    member = members_ops.get_by_phone(phone, settings().default_region)
    code = data.get("consultation")
    consultation = consultations_ops.get(code) if code else None
    revoked = links_ops.revoke(member, consultation, actor=actor())
    db.session.commit()
    return {"revoked": revoked}


@bp.get("/members/<path:phone>/export", parameters=[PHONE])
@requires(StaffRole.ORGANISER)
@bp.response(200, MemberExportSchema)
@refusals(404)
def export_member(phone: str):
    """Everything Chorus holds about a member: profile, consent record and its history
    (who, how, when), every text in and out, votes with their history, comments."""
    member = members_ops.get_by_phone(phone, settings().default_region)
    return privacy_ops.export_member(member)


@bp.delete("/members/<path:phone>", parameters=[PHONE])
@requires(StaffRole.ORGANISER)
@bp.response(204)
@refusals(404)
def erase_member(phone: str):
    """Erase a member on request: the number, name, message bodies and comments go;
    texts still queued for them are cancelled; their votes stay as anonymous counts, so
    tallies and the public register do not change. The audit log records the erasure
    by member id. The number is then unknown: a second erasure is 404."""
    member = members_ops.get_by_phone(phone, settings().default_region)
    privacy_ops.erase_member(member, actor())
    db.session.commit()
    return ""


# ---------------------------------------------------------------------- consultations


@bp.post("/consultations")
@requires(StaffRole.ORGANISER)
@bp.arguments(ConsultationInSchema)
@bp.response(201, ConsultationStatusSchema)
@refusals(409, 422)
def create_consultation(data: dict[str, Any]):
    """Draft a consultation; options are numbered 1..N in order."""
    # consultations.create still takes the body's shape, times as ISO 8601 text; the
    # schema's aware UTC datetimes say the same instant.
    payload = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in data.items()
    }
    consultation = consultations_ops.create(payload, actor=actor(), timezone=settings().timezone)
    db.session.commit()
    return consultation


@bp.get("/consultations/<code>", parameters=[CODE])
@requires(StaffRole.VIEWER)
@bp.response(200, ConsultationSchema)
@refusals(404)
def get_consultation(code: str):
    """A consultation's definition and status."""
    return consultations_ops.get(code)


@bp.post("/consultations/<code>/open", parameters=[CODE])
@requires(StaffRole.ORGANISER)
@bp.response(200, ConsultationStatusSchema)
@refusals(404, 409)
def open_consultation(code: str):
    """Open a draft consultation for votes."""
    consultation = consultations_ops.open_(consultations_ops.get(code), actor=actor())
    db.session.commit()
    return consultation


@bp.post("/consultations/<code>/close", parameters=[CODE])
@requires(StaffRole.ORGANISER)
@bp.response(200, ConsultationStatusSchema)
@refusals(404, 409)
def close_consultation(code: str):
    """Close an open consultation."""
    consultation = consultations_ops.close(consultations_ops.get(code), actor=actor())
    db.session.commit()
    return consultation


@bp.get("/consultations/<code>/results", parameters=[CODE])
@requires(StaffRole.VIEWER)
@bp.response(200, ResultsSchema)
@refusals(404)
def consultation_results(code: str):
    """The tally, comments and participants."""
    return consultations_ops.results(consultations_ops.get(code))


@bp.post("/consultations/<code>/outcome", parameters=[CODE])
@requires(StaffRole.ORGANISER)
@bp.arguments(OutcomeInSchema)
@bp.response(200, OutcomeRecordedSchema)
@refusals(404, 409, 422)
def consultation_outcome(data: dict[str, Any], code: str):
    """Record what was decided; with notify, text it to everyone who took part.

    An open consultation is closed first; a draft (or one already decided) is refused
    with 409. With notify, every active member who voted or commented is texted the
    outcome in their language (DEFAULT_LANGUAGE where it has no translation).
    """
    consultation = consultations_ops.get(code)
    _, broadcast, recipients = outcomes_ops.decide(
        consultation, data, actor=actor(), settings=settings()
    )
    db.session.commit()
    if broadcast is not None:
        broadcast_tasks.launch(broadcast)
    return {
        "code": consultation.code,
        "status": consultation.status,
        "broadcast_id": broadcast.id if broadcast else None,
        "recipients": recipients,
    }


# ---------------------------------------------------------------------- broadcasts


def _accepted(broadcast: Broadcast, recipients: int, at: datetime | None = None) -> dict[str, Any]:
    answer = {"broadcast_id": broadcast.id, "recipients": recipients, "status": broadcast.status}
    if at is not None:
        answer["scheduled_at"] = at
    return answer


@bp.post("/consultations/<code>/broadcast", parameters=[CODE])
@requires(StaffRole.ORGANISER)
@bp.arguments(BroadcastInSchema, required=False)
@bp.response(202, BroadcastAcceptedSchema)
@refusals(404, 409, 422)
def broadcast_consultation(data: dict[str, Any], code: str):
    """Text the summary to the audience, now or at a time.

    Answers at once with the number of members who will be texted (active members of
    the audience); the texts go out in the background at SMS_MAX_PER_SECOND segments
    per second per sender, never during QUIET_HOURS. Each member gets the summary and
    how to reply in their language, or in DEFAULT_LANGUAGE where the summary has no
    translation. Refused (422) when a text would cost more than the segment budget:
    see the preview. Only an open consultation can be broadcast (409). With
    `"links": true` each member's text ends with their own personal link.
    """
    at = data.get("at")
    broadcast, recipients = broadcasts_ops.create_summary(
        consultations_ops.get(code),
        actor=actor(),
        settings=settings(),
        at=at,
        with_links=data.get("links", False),
        base_url=request.host_url,
    )
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    return _accepted(broadcast, recipients, at)


@bp.get("/consultations/<code>/broadcast/preview", parameters=[CODE])
@requires(StaffRole.VIEWER)
@bp.arguments(PreviewQuerySchema, location="query")
@bp.response(200, BroadcastPreviewSchema)
@refusals(404, 422)
def broadcast_preview(query: dict[str, Any], code: str):
    """What a broadcast (?kind=summary|reminder) would send, per language, and its cost;
    with ?links=true, with each member's personal link and what the links add."""
    return broadcasts_ops.preview(
        consultations_ops.get(code),
        settings(),
        query["kind"],
        with_links=query["links"],
        base_url=request.host_url,
    )


@bp.post("/consultations/<code>/remind", parameters=[CODE])
@requires(StaffRole.ORGANISER)
@bp.arguments(RemindInSchema, required=False)
@bp.response(202, BroadcastAcceptedSchema)
@refusals(404, 409, 422)
def remind_consultation(data: dict[str, Any], code: str):
    """Remind the audience members who have not replied yet: 202 with the count. With
    `"links": true` each member's text ends with their own personal link."""
    broadcast, recipients = broadcasts_ops.create_reminder(
        consultations_ops.get(code),
        actor=actor(),
        settings=settings(),
        with_links=data.get("links", False),
        base_url=request.host_url,
    )
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    return _accepted(broadcast, recipients)


@bp.get("/broadcasts/<int:broadcast_id>", parameters=[BROADCAST_ID])
@requires(StaffRole.VIEWER)
@bp.response(200, BroadcastSchema)
@refusals(404)
def get_broadcast(broadcast_id: int):
    """A broadcast's status and counts."""
    return broadcasts_ops.get(broadcast_id)


def _broadcast_action(broadcast_id: int, action: str) -> Broadcast:
    broadcast = broadcasts_ops.get(broadcast_id, lock=True)
    getattr(broadcasts_ops, action)(broadcast, actor=actor())
    db.session.commit()
    if action == "resume":
        broadcast_tasks.after_resume(broadcast)
    return broadcast


@bp.post("/broadcasts/<int:broadcast_id>/pause", parameters=[BROADCAST_ID])
@requires(StaffRole.ORGANISER)
@bp.response(200, BroadcastSchema)
@refusals(404, 409)
def pause_broadcast(broadcast_id: int):
    """Pause a scheduled or sending broadcast; texts already with Twilio still go."""
    return _broadcast_action(broadcast_id, "pause")


@bp.post("/broadcasts/<int:broadcast_id>/resume", parameters=[BROADCAST_ID])
@requires(StaffRole.ORGANISER)
@bp.response(200, BroadcastSchema)
@refusals(404, 409)
def resume_broadcast(broadcast_id: int):
    """Resume a paused broadcast where it stopped."""
    return _broadcast_action(broadcast_id, "resume")


@bp.post("/broadcasts/<int:broadcast_id>/cancel", parameters=[BROADCAST_ID])
@requires(StaffRole.ORGANISER)
@bp.response(200, BroadcastSchema)
@refusals(404, 409)
def cancel_broadcast(broadcast_id: int):
    """Cancel a broadcast: every text not yet sent is skipped."""
    return _broadcast_action(broadcast_id, "cancel")
