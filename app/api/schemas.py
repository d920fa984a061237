"""One marshmallow schema per staff API payload.

Each `*InSchema` validates a request body (unknown fields are refused) and the others
shape answers; flask-smorest turns both into the OpenAPI document at
/api/v1/openapi.json, where each is a component named after its class less "Schema"
(`BroadcastInSchema` -> `BroadcastIn`, the names the hand-kept document used).
Loading gives the routes plain values (datetimes in UTC, dicts
of language -> text) for the domain; the domain still enforces its own rules (a valid
phone number, a free code, a choice needing options, a time in the future).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates

from ..config import LANGUAGES, settings
from ..domain import broadcasts as broadcasts_ops
from ..domain.consultations import CODE, MAX_OPTIONS, MAX_QUORUM, NOT_IN_XML
from ..domain.outcomes import MAX_TEXT as MAX_OUTCOME_TEXT
from ..extensions import db
from ..models import (
    BROADCAST_KINDS,
    BROADCAST_STATUSES,
    CONSULTATION_KINDS,
    CONSULTATION_STATUSES,
    DECIDED_BY,
    MEMBER_STATUSES,
    Broadcast,
    Consultation,
    Member,
    utcnow,
)

# Messages are written to follow the field's dotted path ("decision.quorum must be...").
COMMON = {"required": "is required", "null": "must not be null"}
LANGUAGE_LIST = ", ".join(LANGUAGES)
# marshmallow formats its messages: the braces are doubled.
NOT_TEXTS = "must be an object of language code to text, e.g. {{'en': '...'}}"
CODE_PATTERN = "^[A-Za-z]{1,3}[0-9]{1,4}$"  # CODE as ECMA regex (no \Z there)


def _messages(**more: str) -> dict[str, str | list[Any] | dict[Any, Any]]:
    """marshmallow's error messages: the common ones, plus or overriding `more`."""
    return {**COMMON, **more}


class Text(fields.String):
    """A JSON string (never a number or a list coerced to one)."""

    default_error_messages = _messages(invalid="must be text")


class StrictBoolean(fields.Boolean):
    """true or false only: marshmallow would also take "yes", 1 or "on"."""

    default_error_messages = _messages(invalid="must be true or false")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class WholeNumber(fields.Integer):
    """A JSON integer: not true/false, not 2.0, not "2"."""

    default_error_messages = _messages(invalid="must be a whole number")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class Number(fields.Float):
    """A JSON number: not true/false, not "0.5"; NaN and infinities refused."""

    default_error_messages = _messages(
        invalid="must be a number", special="must be a number", too_large="is too large"
    )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class When(fields.DateTime):
    """An ISO 8601 date-time (a trailing Z allowed), in TIMEZONE when it has no zone;
    loaded as an aware UTC datetime, dumped as ISO 8601."""

    default_error_messages = _messages(invalid="must be an ISO 8601 date-time")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"must be an ISO 8601 date-time, not {value!r}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(settings().timezone))
        # Years 1 and 9999 are refused: shown in some time zone they run off the calendar.
        try:
            when = when.astimezone(UTC)
        except OverflowError:
            raise ValidationError(f"is out of range: {value!r}") from None
        if not 1 < when.year < 9999:
            raise ValidationError(f"is out of range: {value!r}")
        return when


def _no_control_characters(text: str) -> None:
    # XML 1.0 cannot carry them: a TwiML reply quoting the text would reach nobody.
    if NOT_IN_XML.search(text):
        raise ValidationError("must not contain control characters")


def _not_empty(value: dict[str, str]) -> None:
    # Not validate.Length: apispec would document an object's size as minLength.
    if not value:
        raise ValidationError(NOT_TEXTS.format())


def texts(limit: int, *, xml_safe: bool = True, **kwargs: Any) -> fields.Dict:
    """A field holding text per language code: {"en": "...", "cy": "..."}."""
    checks: list[Any] = [
        validate.Length(
            max=limit,
            error=f"is longer than {limit} characters",
        ),
        validate.Predicate("strip", error="must be non-empty text"),
    ]
    if xml_safe:
        checks.append(_no_control_characters)
    return fields.Dict(
        keys=Text(
            validate=validate.OneOf(LANGUAGES, error=f"is not one of {LANGUAGE_LIST}"),
        ),
        values=Text(validate=checks, error_messages={"invalid": "must be non-empty text"}),
        validate=_not_empty,
        error_messages=_messages(invalid=NOT_TEXTS),
        metadata={
            "minProperties": 1,
            "description": f"Text per language code ({LANGUAGE_LIST}).",
            "example": {"en": "Open the garden on Sundays?"},
        },
        **kwargs,
    )


def _code(value: str) -> None:
    if not CODE.match(value):
        raise ValidationError("must be 1-3 letters then 1-4 digits, like P12")


def code_field(**kwargs: Any) -> Text:
    """A consultation code such as P12."""
    return Text(validate=_code, metadata={"pattern": CODE_PATTERN, "example": "P12"}, **kwargs)


class ApiSchema(Schema):
    """A payload: a JSON object."""

    error_messages = {"type": "must be an object"}  # noqa: RUF012  (marshmallow's own name)


# ---------------------------------------------------------------------- errors


class ErrorSchema(ApiSchema):
    """Every refusal: 401, 404, 409 or 422 with one clear message."""

    error = Text(required=True, metadata={"example": "phone is required"})


# ---------------------------------------------------------------------- members


class MemberInSchema(ApiSchema):
    """A member to add; the phone in any format DEFAULT_REGION allows."""

    phone = Text(
        required=True,
        validate=validate.Length(max=40, error="is too long to be a phone number"),
        metadata={"example": "07400 123456"},
    )
    name = Text(
        allow_none=True,
        validate=[
            validate.Length(max=200, error="must be at most 200 characters"),
            # PostgreSQL text cannot hold a NUL.
            validate.ContainsNoneOf(["\x00"], error="must not contain NUL characters"),
        ],
    )
    language = Text(
        allow_none=True,
        validate=validate.OneOf(LANGUAGES, error=f"must be one of {LANGUAGE_LIST}"),
        metadata={"description": "DEFAULT_LANGUAGE when left out"},
    )
    groups = fields.List(
        Text(validate=validate.Length(max=100, error="is not a group name")),
        allow_none=True,
        error_messages=_messages(invalid="must be a list of group names"),
        metadata={"example": ["community"]},
    )


class ConsentSchema(ApiSchema):
    """When, how and by whom the member agreed to texts, when and how they opted out,
    and whether the carrier refuses to text them (Twilio 21610) until they text START."""

    at = When(required=True, allow_none=True)
    source = Text(required=True, allow_none=True)
    by = Text(
        required=True,
        allow_none=True,
        metadata={
            "description": "Who added the member (the staff account or API token); null "
            "when the consent was the member's own text"
        },
    )
    opted_out_at = When(required=True, allow_none=True)
    opt_out_source = Text(required=True, allow_none=True)
    carrier_blocked_at = When(
        required=True,
        allow_none=True,
        metadata={
            "description": "Since when Twilio refuses to text the number (21610) although "
            "the member wants texts; nothing is sent until they text START"
        },
    )
    carrier_blocked_reason = Text(required=True, allow_none=True)


def _consent(member: Member) -> dict[str, Any]:
    return {
        "at": member.consent_at,
        "source": member.consent_source,
        "by": member.consent_by,
        "opted_out_at": member.opted_out_at,
        "opt_out_source": member.opt_out_source,
        "carrier_blocked_at": member.carrier_blocked_at,
        "carrier_blocked_reason": member.carrier_blocked_reason,
    }


class MemberSchema(ApiSchema):
    """A member as the API shows it."""

    id = fields.Integer(required=True)
    phone = Text(required=True, metadata={"description": "E.164"})
    name = Text(required=True, allow_none=True)
    language = Text(required=True, validate=validate.OneOf(LANGUAGES))
    groups = fields.List(Text(), required=True)
    status = Text(required=True, validate=validate.OneOf(MEMBER_STATUSES))
    consent = fields.Nested(ConsentSchema, required=True)

    @pre_dump
    def _from_member(self, member: Member, **_: Any) -> dict[str, Any]:
        return {
            "id": member.id,
            "phone": member.phone,
            "name": member.name,
            "language": member.language,
            "groups": member.groups,
            "status": member.status,
            "consent": _consent(member),
        }


class LinksRevokeInSchema(ApiSchema):
    """Which of the member's personal links to revoke; an empty body revokes them all."""

    optional_body = True

    consultation = Text(
        allow_none=True,
        validate=_code,
        metadata={
            "pattern": CODE_PATTERN,
            "example": "P12",
            "description": "Only the link to this consultation (its code)",
        },
    )


class LinksRevokedSchema(ApiSchema):
    """How many personal links stopped working."""

    revoked = fields.Integer(required=True)


# Export answers: the values come JSON-ready from app.domain.privacy.export_member,
# times already as ISO 8601 text.


def _moment(**kwargs: Any) -> Text:
    return Text(metadata={"format": "date-time"}, **kwargs)


class ExportProfileSchema(ApiSchema):
    """The member's profile."""

    id = fields.Integer(required=True)
    phone = Text(required=True, metadata={"description": "E.164"})
    name = Text(required=True, allow_none=True)
    language = Text(required=True)
    groups = fields.List(Text(), required=True)
    status = Text(required=True, validate=validate.OneOf(MEMBER_STATUSES))
    created_at = _moment(required=True)
    updated_at = _moment(required=True)


class ExportConsentSchema(ApiSchema):
    """The consent record as it stands (as in the member's answer)."""

    at = _moment(required=True, allow_none=True)
    source = Text(required=True, allow_none=True)
    by = Text(required=True, allow_none=True)
    opted_out_at = _moment(required=True, allow_none=True)
    opt_out_source = Text(required=True, allow_none=True)
    carrier_blocked_at = _moment(required=True, allow_none=True)
    carrier_blocked_reason = Text(required=True, allow_none=True)


class ExportEventSchema(ApiSchema):
    """One audit event about the member: added, opted in or out, carrier block..."""

    at = _moment(required=True)
    event = Text(required=True, metadata={"example": "member.opted_out"})
    by = Text(required=True, metadata={"description": "Who: a staff actor, the member, Twilio"})
    details = fields.Dict(
        keys=Text(), required=True, metadata={"description": "How, e.g. {'via': 'sms'}"}
    )


class ExportTextSchema(ApiSchema):
    """One text in or out; a body older than MESSAGE_RETENTION_DAYS is empty."""

    id = fields.Integer(required=True)
    direction = Text(required=True, validate=validate.OneOf(("in", "out")))
    at = _moment(required=True)
    sent_at = _moment(required=True, allow_none=True)
    body = Text(required=True)
    kind = Text(required=True, allow_none=True)
    status = Text(required=True)
    error_code = Text(required=True, allow_none=True)
    failed_reason = Text(required=True, allow_none=True)
    segments = fields.Integer(required=True)
    encoding = Text(required=True)
    consultation = Text(required=True, allow_none=True)
    broadcast_id = fields.Integer(required=True, allow_none=True)


class ExportVoteChangeSchema(ApiSchema):
    """One entry of a vote's history."""

    at = _moment(required=True)
    choice = Text(required=True)
    previous = Text(required=True, allow_none=True)
    channel = Text(required=True)
    entered_by = Text(required=True, allow_none=True)


class ExportVoteSchema(ApiSchema):
    """The member's current vote on one consultation, and its history."""

    consultation = Text(required=True, allow_none=True)
    choice = Text(required=True)
    channel = Text(required=True)
    entered_by = Text(required=True, allow_none=True)
    receipt = Text(required=True)
    created_at = _moment(required=True)
    updated_at = _moment(required=True)
    history = fields.List(fields.Nested(ExportVoteChangeSchema), required=True)


class ExportCommentSchema(ApiSchema):
    """One comment (no consultation: a message to staff)."""

    consultation = Text(required=True, allow_none=True)
    body = Text(required=True)
    channel = Text(required=True)
    language = Text(required=True)
    visible = fields.Boolean(required=True)
    hidden_reason = Text(required=True, allow_none=True)
    at = _moment(required=True)


class MemberExportSchema(ApiSchema):
    """Everything Chorus holds about a member."""

    exported_at = _moment(required=True)
    member = fields.Nested(ExportProfileSchema, required=True)
    consent = fields.Nested(ExportConsentSchema, required=True)
    consent_history = fields.List(fields.Nested(ExportEventSchema), required=True)
    texts = fields.List(fields.Nested(ExportTextSchema), required=True)
    votes = fields.List(fields.Nested(ExportVoteSchema), required=True)
    comments = fields.List(fields.Nested(ExportCommentSchema), required=True)


# ---------------------------------------------------------------------- consultations


class OptionInSchema(ApiSchema):
    """One numbered option of a choice consultation."""

    label = texts(100, required=True)


class DecisionInSchema(ApiSchema):
    """Who decides and, where it applies, quorum and threshold."""

    by = Text(
        validate=validate.OneOf(DECIDED_BY, error=f"must be one of {', '.join(DECIDED_BY)}"),
        metadata={"default": "community"},
    )
    quorum = WholeNumber(
        allow_none=True,
        validate=validate.Range(
            min=0, max=MAX_QUORUM, error=f"must be a whole number from 0 to {MAX_QUORUM}"
        ),
        error_messages={"invalid": f"must be a whole number from 0 to {MAX_QUORUM}"},
    )
    threshold = Number(
        allow_none=True,
        validate=validate.Range(min=0, max=1, error="must be a number from 0 to 1"),
        error_messages={"invalid": "must be a number from 0 to 1"},
    )


class ConsultationInSchema(ApiSchema):
    """A consultation to draft. No audience means every active member."""

    code = code_field(required=True)
    kind = Text(
        required=True,
        validate=validate.OneOf(
            CONSULTATION_KINDS, error=f"must be one of {', '.join(CONSULTATION_KINDS)}"
        ),
    )
    title = texts(200, required=True)
    summary = texts(480, required=True)
    body = texts(5000, allow_none=True)
    options = fields.List(
        fields.Nested(OptionInSchema),
        allow_none=True,
        validate=validate.Length(max=MAX_OPTIONS, error=f"are at most {MAX_OPTIONS}"),
        error_messages=_messages(invalid="must be a list of options, each with a label"),
        metadata={"description": "choice only: 2 or more, numbered 1..N in this order"},
    )
    audience = fields.List(
        Text(validate=validate.Length(max=100, error="is not a group name")),
        allow_none=True,
        error_messages=_messages(invalid="must be a list of groups, e.g. ['community']"),
    )
    closes_at = When(allow_none=True)
    remind_at = When(allow_none=True)
    results_public = StrictBoolean(metadata={"default": True})
    decision = fields.Nested(
        DecisionInSchema,
        allow_none=True,
        error_messages=_messages(invalid="must be an object"),
    )


class ConsultationStatusSchema(ApiSchema):
    """A consultation's code and where it is in its life."""

    code = Text(required=True, metadata={"example": "P12"})
    status = Text(required=True, validate=validate.OneOf(CONSULTATION_STATUSES))


class OptionSchema(ApiSchema):
    """An option as drafted."""

    label = fields.Dict(keys=Text(), values=Text(), required=True)


class DecisionSchema(ApiSchema):
    """The decision rule."""

    by = Text(required=True, validate=validate.OneOf(DECIDED_BY))
    quorum = fields.Integer(required=True, allow_none=True)
    threshold = fields.Float(required=True, allow_none=True)


class ConsultationSchema(ApiSchema):
    """A consultation's definition and status."""

    code = Text(required=True)
    kind = Text(required=True, validate=validate.OneOf(CONSULTATION_KINDS))
    status = Text(required=True, validate=validate.OneOf(CONSULTATION_STATUSES))
    title = fields.Dict(keys=Text(), values=Text(), required=True)
    summary = fields.Dict(keys=Text(), values=Text(), required=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)
    audience = fields.List(Text(), required=True)
    decision = fields.Nested(DecisionSchema, required=True)
    closes_at = When(required=True, allow_none=True)

    @pre_dump
    def _from_consultation(self, consultation: Consultation, **_: Any) -> dict[str, Any]:
        return {
            "code": consultation.code,
            "kind": consultation.kind,
            "status": consultation.status,
            "title": consultation.title,
            "summary": consultation.summary,
            "options": consultation.options,
            "audience": consultation.audience,
            "decision": {
                "by": consultation.decision_by,
                "quorum": consultation.quorum,
                "threshold": consultation.threshold,
            },
            "closes_at": consultation.closes_at,
        }


class ResultsSchema(ApiSchema):
    """The tally (every choice, zeros included), visible comments and participants."""

    code = Text(required=True)
    status = Text(required=True, validate=validate.OneOf(CONSULTATION_STATUSES))
    votes = fields.Dict(
        keys=Text(),
        values=fields.Integer(),
        required=True,
        metadata={"description": 'yes/no/abstain, or "1".."N" for a choice consultation'},
    )
    comments = fields.Integer(required=True)
    participants = fields.Integer(required=True)


class OutcomeInSchema(ApiSchema):
    """What was decided and why; with notify, every participant is texted it."""

    text = texts(MAX_OUTCOME_TEXT, xml_safe=False, required=True)
    notify = StrictBoolean(load_default=False)


class OutcomeRecordedSchema(ApiSchema):
    """The decided consultation and, with notify, the broadcast telling participants."""

    code = Text(required=True)
    status = Text(required=True, validate=validate.OneOf(CONSULTATION_STATUSES))
    broadcast_id = fields.Integer(required=True, allow_none=True)
    recipients = fields.Integer(required=True)


# ---------------------------------------------------------------------- broadcasts


LINKS_DESCRIPTION = (
    "End each member's text with their own personal link (/v/...), issued as the text "
    "is sent; see the preview for what the links add"
)


class BroadcastInSchema(ApiSchema):
    """When to send, and whether with links; an empty body sends now, without links."""

    #: The body itself may be left out (see parser.ChorusParser.load_json).
    optional_body = True

    links = StrictBoolean(load_default=False, metadata={"description": LINKS_DESCRIPTION})
    at = When(
        allow_none=True,
        metadata={
            "description": "Send then (status scheduled) instead of now; a time without "
            "a zone is in TIMEZONE."
        },
    )

    @validates("at")
    def _in_the_future(self, value: datetime | None, **_: Any) -> None:
        if value is not None and value <= utcnow():
            raise ValidationError("must be in the future; leave it out to send now")


class RemindInSchema(ApiSchema):
    """Whether the reminder carries links; an empty body sends it without."""

    optional_body = True

    links = StrictBoolean(load_default=False, metadata={"description": LINKS_DESCRIPTION})


class BroadcastAcceptedSchema(ApiSchema):
    """A broadcast accepted: its id and the members who will be texted."""

    broadcast_id = fields.Integer(required=True)
    recipients = fields.Integer(
        required=True,
        metadata={"description": "Members who will be texted, counted when the call was made"},
    )
    status = Text(required=True, validate=validate.OneOf(("sending", "scheduled")))
    scheduled_at = When(metadata={"description": "Only for a scheduled broadcast"})


class BroadcastSchema(ApiSchema):
    """A broadcast's status and counts."""

    id = fields.Integer(required=True)
    kind = Text(required=True, validate=validate.OneOf(BROADCAST_KINDS))
    consultation = Text(required=True, allow_none=True, metadata={"description": "Its code"})
    links = fields.Boolean(
        required=True, metadata={"description": "Each text carries the member's personal link"}
    )
    status = Text(required=True, validate=validate.OneOf(BROADCAST_STATUSES))
    total = fields.Integer(
        required=True,
        metadata={"description": "Audience members: texted, to be texted, and skipped"},
    )
    sent = fields.Integer(
        required=True,
        metadata={
            "description": "Accepted by Twilio, including those since delivered or undelivered"
        },
    )
    delivered = fields.Integer(required=True)
    undelivered = fields.Integer(required=True)
    failed = fields.Integer(
        required=True,
        metadata={"description": "Refused by Twilio or failed after it; never retried"},
    )
    skipped = fields.Integer(
        required=True,
        metadata={
            "description": "Never sent: not active when the broadcast started, opted out "
            "before their turn, or cancelled"
        },
    )
    pending = fields.Integer(required=True, metadata={"description": "Queued or being sent"})
    # `unknown` is a Schema setting in marshmallow, so the field has another name here.
    unknown_texts = fields.Integer(
        data_key="unknown",
        required=True,
        metadata={
            "description": "In doubt for longer than IN_DOUBT_GIVE_UP: Twilio could not say "
            "whether it has them; never sent again"
        },
    )
    scheduled_at = When(required=True, allow_none=True)
    started_at = When(required=True, allow_none=True)
    completed_at = When(required=True, allow_none=True)

    @pre_dump
    def _from_broadcast(self, broadcast: Broadcast, **_: Any) -> dict[str, Any]:
        progress = broadcasts_ops.progress(broadcast)
        consultation = (
            db.session.get(Consultation, broadcast.consultation_id)
            if broadcast.consultation_id is not None
            else None
        )
        return {
            "id": broadcast.id,
            "kind": broadcast.kind,
            "consultation": consultation.code if consultation else None,
            "links": broadcast.links,
            "status": broadcast.status,
            "total": progress["total"],
            "sent": progress["sent"],
            "delivered": progress["delivered"],
            "undelivered": progress["undelivered"],
            "failed": progress["failed"],
            "skipped": progress["skipped"],
            "pending": progress["pending"],
            "unknown_texts": progress["unknown"],
            "scheduled_at": broadcast.scheduled_at,
            "started_at": broadcast.started_at,
            "completed_at": broadcast.completed_at,
        }


class PreviewQuerySchema(ApiSchema):
    """Which broadcast to preview."""

    kind = Text(
        load_default="summary",
        validate=validate.OneOf(("summary", "reminder"), error="must be summary or reminder"),
    )
    links = fields.Boolean(
        load_default=False,
        truthy={"true", "1"},
        falsy={"false", "0"},
        error_messages=_messages(invalid="must be true or false"),
        metadata={"description": "Each text with the member's personal link"},
    )


class LanguagePreviewSchema(ApiSchema):
    """The text members of one language would get, and what it costs."""

    language = Text(required=True)
    text_language = Text(
        required=True,
        metadata={
            "description": "The language the text is in (the default language where "
            "there is no translation)"
        },
    )
    body = Text(
        required=True,
        metadata={"description": "With links, each member's own token where the x's are"},
    )
    characters = fields.Integer(required=True)
    segments = fields.Integer(required=True)
    link_segments = fields.Integer(
        required=True, metadata={"description": "Segments the link adds to each text (0 without)"}
    )
    encoding = Text(required=True, validate=validate.OneOf(("GSM-7", "UCS-2")))
    recipients = fields.Integer(required=True)
    cost = Text(
        required=True,
        metadata={"description": "segments x recipients x SMS_PRICE_PER_SEGMENT, as a decimal"},
    )
    link_cost = Text(required=True, metadata={"description": "What the links add to the cost"})
    within_budget = fields.Boolean(required=True)


class BroadcastPreviewSchema(ApiSchema):
    """What a broadcast would send now, per language, and what it costs."""

    code = Text(required=True)
    kind = Text(required=True, validate=validate.OneOf(("summary", "reminder")))
    links = fields.Boolean(required=True)
    recipients = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    segment_budget = fields.Integer(
        required=True, metadata={"description": "Most segments one text may cost"}
    )
    within_budget = fields.Boolean(required=True)
    total_segments = fields.Integer(
        required=True,
        metadata={"description": "Segments the whole broadcast costs (what is billed)"},
    )
    cost = Text(required=True, metadata={"description": "total_segments x SMS_PRICE_PER_SEGMENT"})
    currency = Text(required=True, metadata={"description": "SMS_PRICE_CURRENCY"})
    languages = fields.List(fields.Nested(LanguagePreviewSchema), required=True)
