"""Staff API routes: thin wrappers over app.domain, one transaction per request."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..domain import DomainError, Invalid
from ..domain import broadcasts as broadcasts_ops
from ..domain import consultations as consultations_ops
from ..domain import members as members_ops
from ..domain import outcomes as outcomes_ops
from ..extensions import db
from ..tasks import broadcasts as broadcast_tasks
from .auth import actor, authenticate
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = {"api.openapi"}


def error(status: int, message: str):
    """A JSON error answer: {"error": message}."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.before_request
def require_token():
    """Every route but the OpenAPI document needs a valid bearer token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if authenticate() is None:
        response = error(401, "a valid 'Authorization: Bearer TOKEN' header is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="chorus"'
        return response
    return None


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    """Domain refusals become 404/409/422 JSON and nothing is written."""
    db.session.rollback()
    return error(exc.status, exc.message)


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Werkzeug's errors (404, 405...) as JSON under /api/, the usual page elsewhere."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return exc
    db.session.rollback()
    return error(exc.code or 500, exc.description or exc.name)


def body() -> dict[str, Any]:
    """The request's JSON object, or Invalid with a clear message."""
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # nested too deep to parse; `silent` only covers ValueError
        data = None
    if data is None:
        raise Invalid("the body must be valid JSON")
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    try:
        # JSON may spell a lone surrogate ("\ud800"): no page or text could show it.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Invalid("the body must be valid Unicode text (a lone surrogate was found)") from None
    return data


def settings():
    """The app's Settings."""
    return current_app.config["CHORUS"]


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document describing this API."""
    return jsonify(document())


@bp.post("/members")
def create_member():
    """Add a member."""
    data = body()
    cfg = settings()
    member = members_ops.create_member(
        data.get("phone"),
        region=cfg.default_region,
        default_language=cfg.default_language,
        name=data.get("name"),
        language=data.get("language"),
        groups=data.get("groups"),
        consent_source="api",
        actor=actor(),
    )
    db.session.commit()
    return jsonify(members_ops.member_json(member)), 201


@bp.get("/members/<path:phone>")
def get_member(phone: str):
    """A member by phone number (E.164, URL-encoded)."""
    member = members_ops.get_by_phone(phone, settings().default_region)
    return jsonify(members_ops.member_json(member))


@bp.post("/consultations")
def create_consultation():
    """Draft a consultation."""
    consultation = consultations_ops.create(body(), actor=actor(), timezone=settings().timezone)
    db.session.commit()
    return jsonify({"code": consultation.code, "status": consultation.status}), 201


@bp.get("/consultations/<code>")
def get_consultation(code: str):
    """A consultation's definition and status."""
    return jsonify(consultations_ops.consultation_json(consultations_ops.get(code)))


@bp.post("/consultations/<code>/open")
def open_consultation(code: str):
    """Open a draft consultation for votes."""
    consultation = consultations_ops.open_(consultations_ops.get(code), actor=actor())
    db.session.commit()
    return jsonify({"code": consultation.code, "status": consultation.status})


@bp.post("/consultations/<code>/close")
def close_consultation(code: str):
    """Close an open consultation."""
    consultation = consultations_ops.close(consultations_ops.get(code), actor=actor())
    db.session.commit()
    return jsonify({"code": consultation.code, "status": consultation.status})


@bp.get("/consultations/<code>/results")
def consultation_results(code: str):
    """The tally, comments and participants."""
    return jsonify(consultations_ops.results(consultations_ops.get(code)))


# ---------------------------------------------------------------------- broadcasts


def optional_body() -> dict[str, Any] | None:
    """The request's JSON object if it has a body, None if it has none."""
    if not request.get_data():
        return None
    return body()


@bp.post("/consultations/<code>/broadcast")
def broadcast_consultation(code: str):
    """Text the summary to the audience now, or at `at`: 202 with the recipient count."""
    cfg = settings()
    at = broadcasts_ops.parse_at(optional_body(), cfg.timezone)
    broadcast, recipients = broadcasts_ops.create_summary(
        consultations_ops.get(code), actor=actor(), settings=cfg, at=at
    )
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    answer = {"broadcast_id": broadcast.id, "recipients": recipients, "status": broadcast.status}
    if at is not None:
        answer["scheduled_at"] = at.isoformat()
    return jsonify(answer), 202


@bp.get("/consultations/<code>/broadcast/preview")
def broadcast_preview(code: str):
    """What a broadcast (?kind=summary|reminder) would send, per language, and its cost."""
    kind = request.args.get("kind", "summary")
    if kind not in ("summary", "reminder"):
        raise Invalid("kind must be summary or reminder")
    return jsonify(broadcasts_ops.preview(consultations_ops.get(code), settings(), kind))


@bp.post("/consultations/<code>/remind")
def remind_consultation(code: str):
    """Remind the audience members who have not replied yet: 202 with the count."""
    broadcast, recipients = broadcasts_ops.create_reminder(
        consultations_ops.get(code), actor=actor(), settings=settings()
    )
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    return jsonify(
        {"broadcast_id": broadcast.id, "recipients": recipients, "status": broadcast.status}
    ), 202


@bp.post("/consultations/<code>/outcome")
def consultation_outcome(code: str):
    """Record what was decided; with notify, text it to everyone who took part."""
    consultation = consultations_ops.get(code)
    _, broadcast, recipients = outcomes_ops.decide(
        consultation, body(), actor=actor(), settings=settings()
    )
    db.session.commit()
    if broadcast is not None:
        broadcast_tasks.launch(broadcast)
    return jsonify(
        {
            "code": consultation.code,
            "status": consultation.status,
            "broadcast_id": broadcast.id if broadcast else None,
            "recipients": recipients,
        }
    )


@bp.get("/broadcasts/<int:broadcast_id>")
def get_broadcast(broadcast_id: int):
    """A broadcast's status and counts."""
    return jsonify(broadcasts_ops.broadcast_json(broadcasts_ops.get(broadcast_id)))


def _broadcast_action(broadcast_id: int, action: str):
    broadcast = broadcasts_ops.get(broadcast_id, lock=True)
    getattr(broadcasts_ops, action)(broadcast, actor=actor())
    db.session.commit()
    if action == "resume":
        broadcast_tasks.after_resume(broadcast)
    return jsonify(broadcasts_ops.broadcast_json(broadcast))


@bp.post("/broadcasts/<int:broadcast_id>/pause")
def pause_broadcast(broadcast_id: int):
    """Pause a scheduled or sending broadcast; texts already with Twilio still go."""
    return _broadcast_action(broadcast_id, "pause")


@bp.post("/broadcasts/<int:broadcast_id>/resume")
def resume_broadcast(broadcast_id: int):
    """Resume a paused broadcast where it stopped."""
    return _broadcast_action(broadcast_id, "resume")


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
def cancel_broadcast(broadcast_id: int):
    """Cancel a broadcast: every text not yet sent is skipped."""
    return _broadcast_action(broadcast_id, "cancel")
