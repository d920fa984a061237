"""Consultations: drafting, opening, closing, and counting."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, union
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import LANGUAGES
from ..extensions import db
from ..models import (
    CONSULTATION_KINDS,
    DECIDED_BY,
    Comment,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    DecidedBy,
    Vote,
    utcnow,
)
from . import Conflict, Invalid, NotFound
from .members import clean_groups

CODE = re.compile(r"^[A-Za-z]{1,3}[0-9]{1,4}\Z")  # \Z: "$" also matches before a final newline
MAX_OPTIONS = 20
# Characters XML 1.0 cannot carry: in a TwiML reply (INFO, a confirmation naming an
# option) they make the whole answer unreadable to Twilio, so the member gets nothing.
NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_QUORUM = 1_000_000  # more people than any community; the column is a 32-bit integer


def get(code: str) -> Consultation:
    """The consultation with this code (any case), or NotFound."""
    consultation = find(code)
    if consultation is None:
        raise NotFound(f"no consultation has the code {code!r}")
    return consultation


def find(code: str) -> Consultation | None:
    """The consultation with this code (any case), or None."""
    if not isinstance(code, str) or not CODE.match(code):
        return None
    return db.session.execute(
        select(Consultation).where(Consultation.code == code.upper())
    ).scalar_one_or_none()


def _texts(payload: dict[str, Any], field: str, required: bool, limit: int) -> dict[str, str]:
    value = payload.get(field)
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or not value:
        raise Invalid(f"{field} must be an object of language code to text, e.g. {{'en': '...'}}")
    out = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise Invalid(f"{field}: {lang!r} is not one of {', '.join(LANGUAGES)}")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"{field}.{lang} must be non-empty text")
        if len(text) > limit:
            raise Invalid(f"{field}.{lang} is longer than {limit} characters")
        if NOT_IN_XML.search(text):
            raise Invalid(f"{field}.{lang} must not contain control characters")
        out[lang] = text.strip()
    return out


def _when(value: Any, field: str, tz: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be an ISO 8601 date-time")
    parsed: datetime | None  # None: out of range in UTC (below)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 date-time, not {value!r}") from None
    if parsed.tzinfo is None:  # a local time in the organisation's zone
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    # Years 1 and 9999 are refused: shown in any time zone they can run off the calendar.
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = None
    if parsed is None or not 1 < parsed.year < 9999:
        raise Invalid(f"{field} is out of range: {value!r}")
    return parsed


def create(payload: Any, *, actor: str, timezone: str = "Europe/London") -> Consultation:
    """Validate a staff payload (see the API) and add a draft consultation."""
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object")
    code = payload.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        raise Invalid("code must be 1-3 letters then 1-4 digits, like P12")
    code = code.upper()
    values = _definition(payload, timezone)
    if find(code) is not None:
        raise Conflict(f"a consultation with the code {code} already exists")
    consultation = Consultation(code=code, status=ConsultationStatus.DRAFT, **values)
    try:
        # A savepoint: the same code drafted in a concurrent request is a 409, not a 500.
        with db.session.begin_nested():
            db.session.add(consultation)
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"a consultation with the code {code} already exists") from None
    audit.record(actor, "consultation.created", "consultation", code, {"kind": values["kind"]})
    return consultation


def update(
    consultation: Consultation, payload: Any, *, actor: str, timezone: str = "Europe/London"
) -> Consultation:
    """Replace a draft's definition (everything but its code) with `payload`, checked by
    the same rules as `create`; only a draft can change."""
    if consultation.status != "draft":
        raise Conflict(f"{consultation.code} is {consultation.status}; only a draft can be edited")
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object")
    values = _definition(payload, timezone)
    changed = sorted(name for name, value in values.items() if getattr(consultation, name) != value)
    for name, value in values.items():
        setattr(consultation, name, value)
    db.session.flush()
    audit.record(
        actor, "consultation.updated", "consultation", consultation.code, {"changed": changed}
    )
    return consultation


def _definition(payload: dict[str, Any], timezone: str) -> dict[str, Any]:
    """Everything of a consultation but its code, checked: its column values."""
    kind = payload.get("kind")
    if kind not in CONSULTATION_KINDS:
        raise Invalid(f"kind must be one of {', '.join(CONSULTATION_KINDS)}")
    title = _texts(payload, "title", True, 200)
    summary = _texts(payload, "summary", True, 480)
    body = _texts(payload, "body", False, 5000)
    options = _options(payload.get("options"), kind)
    audience = clean_groups(payload.get("audience"))
    closes_at = _when(payload.get("closes_at"), "closes_at", timezone)
    if closes_at is not None and closes_at <= utcnow():
        raise Invalid("closes_at must be in the future")
    remind_at = _when(payload.get("remind_at"), "remind_at", timezone)
    if remind_at is not None and (closes_at is None or remind_at >= closes_at):
        raise Invalid("remind_at needs a closes_at after it")
    decision = payload.get("decision") or {}
    if not isinstance(decision, dict):
        raise Invalid("decision must be an object")
    by = decision.get("by", "community")
    if by not in DECIDED_BY:
        raise Invalid(f"decision.by must be one of {', '.join(DECIDED_BY)}")
    quorum = decision.get("quorum")
    if quorum is not None and (
        not isinstance(quorum, int) or isinstance(quorum, bool) or not 0 <= quorum <= MAX_QUORUM
    ):
        raise Invalid(f"decision.quorum must be a whole number from 0 to {MAX_QUORUM}")
    threshold = decision.get("threshold")
    if threshold is not None and (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not 0 <= threshold <= 1
    ):
        raise Invalid("decision.threshold must be a number from 0 to 1")
    results_public = payload.get("results_public", True)
    if not isinstance(results_public, bool):
        raise Invalid("results_public must be true or false")
    return {
        "kind": ConsultationKind(kind),
        "title": title,
        "summary": summary,
        "body": body,
        "options": options,
        "audience": audience,
        "decision_by": DecidedBy(by),
        "quorum": quorum,
        "threshold": None if threshold is None else float(threshold),
        "results_public": results_public,
        "closes_at": closes_at,
        "remind_at": remind_at,
    }


def _options(value: Any, kind: str) -> list[dict[str, Any]]:
    if kind != "choice":
        if value:
            raise Invalid("options are only for a choice consultation")
        return []
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_OPTIONS:
        raise Invalid(f"a choice consultation needs 2 to {MAX_OPTIONS} options")
    options = []
    for index, option in enumerate(value, start=1):
        if not isinstance(option, dict):
            raise Invalid(f"option {index} must be an object with a label")
        options.append({"label": _texts(option, "label", True, 100)})
    return options


def open_(consultation: Consultation, *, actor: str) -> Consultation:
    """Open a draft for votes."""
    if consultation.status != "draft":
        raise Conflict(f"{consultation.code} is {consultation.status}; only a draft can be opened")
    consultation.status = ConsultationStatus.OPEN
    consultation.opened_at = utcnow()
    audit.record(actor, "consultation.opened", "consultation", consultation.code)
    return consultation


def close(consultation: Consultation, *, actor: str) -> Consultation:
    """Close an open consultation; later votes are refused."""
    if consultation.status != "open":
        raise Conflict(f"{consultation.code} is {consultation.status}; only an open one can close")
    consultation.status = ConsultationStatus.CLOSED
    consultation.closed_at = utcnow()
    audit.record(actor, "consultation.closed", "consultation", consultation.code)
    return consultation


def tally(consultation: Consultation) -> dict[str, int]:
    """Current votes per choice, every valid choice present (zeros included)."""
    counts = dict.fromkeys(consultation.choices, 0)
    rows = db.session.execute(
        select(Vote.choice, func.count())
        .where(Vote.consultation_id == consultation.id)
        .group_by(Vote.choice)
    )
    for choice, n in rows:
        if choice in counts:
            counts[choice] = n
    return counts


def results(consultation: Consultation) -> dict[str, Any]:
    """The tally, comment count and participant count, as the results API shows them."""
    comments = db.session.execute(
        select(func.count())
        .select_from(Comment)
        .where(Comment.consultation_id == consultation.id, Comment.visible.is_(True))
    ).scalar_one()
    people = union(
        select(Vote.member_id).where(Vote.consultation_id == consultation.id),
        select(Comment.member_id).where(Comment.consultation_id == consultation.id),
    ).subquery()
    participants = db.session.execute(select(func.count()).select_from(people)).scalar_one()
    return {
        "code": consultation.code,
        "status": consultation.status,
        "votes": tally(consultation),
        "comments": comments,
        "participants": participants,
    }


def participant_counts(consultation_ids: list[int]) -> dict[int, int]:
    """Members who voted or commented, per consultation (one query for a page of them)."""
    if not consultation_ids:
        return {}
    people = union(
        select(Vote.consultation_id, Vote.member_id).where(
            Vote.consultation_id.in_(consultation_ids)
        ),
        select(Comment.consultation_id, Comment.member_id).where(
            Comment.consultation_id.in_(consultation_ids)
        ),
    ).subquery()
    rows = db.session.execute(
        select(people.c.consultation_id, func.count()).group_by(people.c.consultation_id)
    )
    return {consultation_id: n for consultation_id, n in rows}
