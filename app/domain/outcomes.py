"""Outcomes: what was decided and why, recorded once and, on request, texted to
everyone who took part ("you said, we did")."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import LANGUAGES, Settings
from ..extensions import db
from ..models import Broadcast, Consultation, ConsultationStatus, Outcome
from . import Conflict, Invalid
from . import broadcasts as broadcasts_ops
from . import consultations as consultations_ops

MAX_TEXT = 1000


def _texts(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise Invalid("text must be an object of language code to text, e.g. {'en': '...'}")
    out = {}
    for language, text in value.items():
        if language not in LANGUAGES:
            raise Invalid(f"text: {language!r} is not one of {', '.join(LANGUAGES)}")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"text.{language} must be non-empty text")
        if len(text) > MAX_TEXT:
            raise Invalid(f"text.{language} is longer than {MAX_TEXT} characters")
        out[language] = text.strip()
    return out


def decide(
    consultation: Consultation, payload: Any, *, actor: str, settings: Settings
) -> tuple[Outcome, Broadcast | None, int]:
    """Record the outcome and mark the consultation decided (not yet committed).

    An open consultation is closed first (by the same actor); a draft cannot be
    decided (Conflict), nor one decided already. With `notify`, an outcome broadcast
    to every participant is created; call `app.tasks.broadcasts.launch` after committing.
    Returns (outcome, broadcast or None, recipients).
    """
    if not isinstance(payload, dict):
        raise Invalid("the body must be a JSON object")
    texts = _texts(payload.get("text"))
    notify = payload.get("notify", False)
    if not isinstance(notify, bool):
        raise Invalid("notify must be true or false")
    if consultation.status == "draft":
        raise Conflict(f"{consultation.code} is a draft; open and close it before deciding")
    if consultation.status == "decided" or consultation.outcome is not None:
        raise Conflict(f"{consultation.code} is already decided")
    if consultation.status == "open":
        consultations_ops.close(consultation, actor=actor)
    code = consultation.code
    outcome = Outcome(consultation_id=consultation.id, text=texts, decided_by=actor)
    db.session.add(outcome)
    consultation.status = ConsultationStatus.DECIDED
    try:
        db.session.flush()
    except IntegrityError:
        # Decided at the same moment by another request (the outcome is unique).
        db.session.rollback()
        raise Conflict(f"{code} is already decided") from None
    audit.record(
        actor,
        "consultation.decided",
        "consultation",
        consultation.code,
        {"text": texts, "notify": notify},
    )
    broadcast, recipients = None, 0
    if notify:
        broadcast, recipients = broadcasts_ops.create_outcome(
            consultation, texts, actor=actor, settings=settings
        )
        outcome.broadcast_id = broadcast.id
    return outcome, broadcast, recipients


def notify(consultation: Consultation, *, actor: str, settings: Settings) -> tuple[Broadcast, int]:
    """Text a published outcome to everyone who took part, when that was not asked for
    at publishing (not yet committed; call `app.tasks.broadcasts.launch` after the
    commit). Conflict when there is no outcome yet or it was already texted."""
    outcome = consultation.outcome
    if outcome is None:
        raise Conflict(f"{consultation.code} has no outcome yet")
    # Locked and read afresh: two staff asking at once make one broadcast, not two.
    outcome = db.session.get(Outcome, outcome.id, with_for_update=True, populate_existing=True)
    assert outcome is not None
    if outcome.broadcast_id is not None:
        raise Conflict(f"the outcome of {consultation.code} was already texted")
    broadcast, recipients = broadcasts_ops.create_outcome(
        consultation, dict(outcome.text), actor=actor, settings=settings
    )
    outcome.broadcast_id = broadcast.id
    return broadcast, recipients
