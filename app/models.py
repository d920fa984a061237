"""The Chorus domain, as tables. Names follow shared/PRODUCT.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .extensions import Model


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every timestamp is stored in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _values(enum: type[StrEnum]) -> list[str]:
    """What the database stores: the values (`opted_out`), not the member names
    (`OPTED_OUT`) that SQLAlchemy would store by default."""
    return [member.value for member in enum]


def _one_of(enum: type[StrEnum], name: str, length: int) -> Enum:
    """A VARCHAR(`length`) column type holding one of `enum`'s values.

    The database keeps it closed with a CHECK constraint named by the naming convention
    (`ck_<table>_<name>`; pass the column name), on SQLite and PostgreSQL alike: no
    native enum type, so adding a value is a CHECK change in a migration, nothing more.
    Rows come back as `enum` members, which compare equal to their strings; a string
    outside `enum` is refused before it reaches the database.
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        values_callable=_values,
        length=length,
    )


class MemberStatus(StrEnum):
    """Whether a member may be texted: `pending` members have not consented yet;
    `erased` is what is left of a member erased on request (app.domain.privacy)."""

    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    PENDING = "pending"
    ERASED = "erased"


class ConsentSource(StrEnum):
    """How a member agreed to texts."""

    SMS = "sms"  # texted START/JOIN (or YES after STOP)
    STAFF = "staff"  # added by staff
    API = "api"  # added through the staff API
    DEMO = "demo"  # the demo data of `make run`
    IMPORT = "import"  # imported from a CSV file by staff in the console


class OptOutSource(StrEnum):
    """How a member stopped texts."""

    SMS = "sms"  # texted STOP
    CARRIER = "twilio-21610"  # a send failed with Twilio's 21610: the number unsubscribed


MEMBER_STATUSES = tuple(MemberStatus)


class Member(Model):
    """A person, known by an E.164 phone number."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[MemberStatus] = mapped_column(
        _one_of(MemberStatus, "status", 16), default=MemberStatus.ACTIVE, index=True
    )
    # Consent record: when and how the member agreed to texts (and, when staff added
    # them, who: the audit actor, e.g. "api:ops" or "staff:kit@example.org"; None when
    # it was the member's own text), and when/how they stopped.
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[ConsentSource | None] = mapped_column(
        _one_of(ConsentSource, "consent_source", 40)
    )
    # Who recorded that consent (a staff account or API token's actor name); None when
    # the member gave it themselves by text, or when it was not recorded (before 0007).
    consent_by: Mapped[str | None] = mapped_column(String(200))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opt_out_source: Mapped[OptOutSource | None] = mapped_column(
        _one_of(OptOutSource, "opt_out_source", 40)
    )
    # Twilio refuses to text the number (error 21610: it is on Twilio's opt-out list)
    # although the member wants texts: set when a send fails so, cleared when the member
    # texts START/UNSTOP (the words that lift Twilio's block). Nothing is sent meanwhile.
    carrier_blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carrier_blocked_reason: Mapped[str | None] = mapped_column(String(200))
    # When the member was erased on request (status `erased`; see app.domain.privacy).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    group_rows: Mapped[list[MemberGroup]] = relationship(
        back_populates="member", cascade="all, delete-orphan"
    )

    @property
    def groups(self) -> list[str]:
        """Group names, sorted."""
        return sorted(g.name for g in self.group_rows)

    def set_groups(self, names: list[str]) -> None:
        """Replace the member's groups with `names`."""
        wanted = set(names)
        self.group_rows = [g for g in self.group_rows if g.name in wanted]
        have = {g.name for g in self.group_rows}
        for name in sorted(wanted - have):
            self.group_rows.append(MemberGroup(name=name))


class MemberGroup(Model):
    """A member's membership of a named group (`community`, `allies`, `staff`...)."""

    __tablename__ = "member_group"
    __table_args__ = (Index("ix_member_group_name_member", "name", "member_id"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    member: Mapped[Member] = relationship(back_populates="group_rows")


class ConsultationKind(StrEnum):
    """What a reply can be: yes/no/abstain, a numbered option, or comments only."""

    YES_NO = "yes_no"
    CHOICE = "choice"
    OPEN = "open"


class ConsultationStatus(StrEnum):
    """draft -> open -> closed -> decided (when the outcome is published)."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    DECIDED = "decided"


class DecidedBy(StrEnum):
    """Who decides (the decision rule's "by"): a community vote, staff, or allies."""

    COMMUNITY = "community"
    STAFF = "staff"
    ALLIES = "allies"


CONSULTATION_KINDS = tuple(ConsultationKind)
CONSULTATION_STATUSES = tuple(ConsultationStatus)
DECIDED_BY = tuple(DecidedBy)


class ImportStatus(StrEnum):
    """checking (uploaded, its rows being checked by a job) -> preview (checked,
    nothing written) -> queued (confirmed) -> running -> done; a preview can be
    discarded instead (and one left a day, or a check left a day, is discarded)."""

    CHECKING = "checking"
    PREVIEW = "preview"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DISCARDED = "discarded"


class MemberImport(Model):
    """A CSV file of members uploaded in the console: checked by a job and shown
    first, then, once confirmed, added by a job (app/tasks/member_import.py) in chunks.

    `cursor` is the id of the last row handled: a job run again (or after a crash)
    goes on from there, and the counters move in the same transaction as the rows.
    """

    __tablename__ = "member_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[ImportStatus] = mapped_column(
        _one_of(ImportStatus, "status", 12), default=ImportStatus.PREVIEW, index=True
    )
    filename: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Counted when the file is checked: rows read, rows to add (of which opted out:
    # numbers that texted STOP and will be added without consent), rows refused.
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    to_add: Mapped[int] = mapped_column(Integer, default=0)
    to_add_opted_out: Mapped[int] = mapped_column(Integer, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, default=0)
    # Set when it is confirmed and while it runs.
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    # Numbers that became members between the preview and the import: left as they are.
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # The file as uploaded, while it is `checking` (the check job reads it and clears
    # it); up to 10 MB, so loaded only when asked for.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class MemberImportRow(Model):
    """One line of an uploaded file, as checked: the values to add, or why not.

    Rows are working data, not records: the valid ones are deleted once added, and
    every row of an import goes a day after it was uploaded.
    """

    __tablename__ = "member_import_row"
    __table_args__ = (Index("ix_member_import_row_import_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("member_import.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    # E.164 when valid, else the text as given (cut to fit).
    phone: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    # Group names separated by ";" (checked names cannot hold one).
    groups: Mapped[str] = mapped_column(Text, default="")
    # Why the row will not be added (a code, see app/domain/member_import.py), or None.
    error: Mapped[str | None] = mapped_column(String(32))
    # The line the same number was first seen on (for duplicates in the file).
    first_line: Mapped[int | None] = mapped_column(Integer)
    # True when the number texted STOP: added as opted out, never texted.
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)


class Consultation(Model):
    """Something to decide, with its texts per language and its decision rule."""

    __tablename__ = "consultation"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[ConsultationKind] = mapped_column(_one_of(ConsultationKind, "kind", 10))
    status: Mapped[ConsultationStatus] = mapped_column(
        _one_of(ConsultationStatus, "status", 10), default=ConsultationStatus.DRAFT, index=True
    )
    # {lang: text}; `summary` is what fits in a text, `body` the full text.
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # [{"label": {lang: text}}], numbered 1..N in order.
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Group names; empty means every active member.
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision_by: Mapped[DecidedBy] = mapped_column(
        _one_of(DecidedBy, "decision_by", 12), default=DecidedBy.COMMUNITY
    )
    quorum: Mapped[int | None] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    results_public: Mapped[bool] = mapped_column(Boolean, default=True)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    outcome: Mapped[Outcome | None] = relationship(back_populates="consultation", uselist=False)

    def text(self, field: str, language: str, fallback: str = "en") -> str:
        """The consultation's `field` in `language`, else the fallback language, else any."""
        values: dict[str, str] = getattr(self, field) or {}
        return values.get(language) or values.get(fallback) or next(iter(values.values()), "")

    def option_label(self, number: int, language: str, fallback: str = "en") -> str:
        """The label of option `number` (1-based) in `language`."""
        return option_label(self.options, number, language, fallback)

    @property
    def choices(self) -> list[str]:
        """The valid vote values for this consultation's kind."""
        return choices_for(self.kind, self.options)


def option_label(
    options: list[dict[str, Any]], number: int, language: str, fallback: str = "en"
) -> str:
    """The label of option `number` (1-based) of `options` in `language`."""
    labels = options[number - 1].get("label", {})
    return labels.get(language) or labels.get(fallback) or next(iter(labels.values()), "")


def choices_for(kind: str, options: list[dict[str, Any]]) -> list[str]:
    """The valid vote values for a consultation of `kind` with `options`."""
    if kind == "yes_no":
        return ["yes", "no", "abstain"]
    if kind == "choice":
        return [str(n) for n in range(1, len(options) + 1)]
    return []


class Channel(StrEnum):
    """How a vote or comment came in; `assisted` is staff entering it for the member."""

    SMS = "sms"
    WEB = "web"
    ASSISTED = "assisted"


VOTE_CHANNELS = tuple(Channel)


class Vote(Model):
    """A member's one current choice on a consultation; changes go to VoteChange."""

    __tablename__ = "vote"
    __table_args__ = (
        UniqueConstraint("consultation_id", "member_id", name="uq_vote_consultation_member"),
        UniqueConstraint("consultation_id", "receipt", name="uq_vote_consultation_receipt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    choice: Mapped[str] = mapped_column(String(10))
    channel: Mapped[Channel] = mapped_column(_one_of(Channel, "channel", 10))
    entered_by: Mapped[str | None] = mapped_column(String(200))
    receipt: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    consultation: Mapped[Consultation] = relationship()
    member: Mapped[Member] = relationship()


class VoteChange(Model):
    """One entry in a vote's history: every choice ever recorded, in order."""

    __tablename__ = "vote_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("vote.id"), index=True)
    choice: Mapped[str] = mapped_column(String(10))
    previous: Mapped[str | None] = mapped_column(String(10))
    channel: Mapped[Channel] = mapped_column(_one_of(Channel, "channel", 10))
    entered_by: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Model):
    """Free text from a member; without a consultation it is a message to staff.

    Messages to staff make the console's inbox; staff mark them handled (`handled_at`,
    `handled_by`), which takes them out of the inbox's default view.
    """

    __tablename__ = "comment"
    # The inbox: messages to staff (no consultation), unhandled first, newest first.
    __table_args__ = (Index("ix_comment_inbox", "consultation_id", "handled_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(_one_of(Channel, "channel", 10))
    language: Mapped[str] = mapped_column(String(8))
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    hidden_reason: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by: Mapped[str | None] = mapped_column(String(200))


class Direction(StrEnum):
    """Inbound (from a member) or outbound (to one)."""

    IN = "in"
    OUT = "out"


class MessageStatus(StrEnum):
    """Where a text is; the lifecycle is in Message's docstring."""

    QUEUED = "queued"  # outbound, waiting in the outbox
    SENDING = "sending"  # claimed by a worker; Twilio may or may not have it yet
    SENT = "sent"  # Twilio accepted it (we hold its sid)
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent: opted out or invalid by the time it was due
    RECEIVED = "received"  # inbound
    # In doubt for longer than IN_DOUBT_GIVE_UP: Twilio could not tell us whether it has
    # the text, so it is never sent again; a late status callback still settles it.
    UNKNOWN = "unknown"


class Priority(StrEnum):
    """Which outbox queue a text waits in: replies go ahead of bulk sends."""

    HIGH = "high"
    BULK = "bulk"


class Encoding(StrEnum):
    """The SMS alphabet a text is sent in (it sets the characters per segment)."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


MESSAGE_STATUSES = tuple(MessageStatus)


class Message(Model):
    """Every SMS in or out.

    Outbound lifecycle: queued -> sending -> sent -> delivered | undelivered, or
    queued/sending -> failed | skipped. Status callbacks only move a message forward.
    """

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "member_id", name="uq_message_broadcast_member"),
        Index("ix_message_broadcast_batch_status", "broadcast_id", "batch", "status"),
        Index("ix_message_member_consultation", "member_id", "consultation_id"),
        Index("ix_message_status_next_attempt", "status", "next_attempt_at"),
        # The texts whose body is still kept, oldest first: what the retention sweep
        # reads (app.domain.privacy.clear_old_bodies), so it never scans cleared rows.
        Index(
            "ix_message_body_kept",
            "created_at",
            postgresql_where=sql_text("body <> ''"),
            sqlite_where=sql_text("body <> ''"),
        ),
        # The console's "failed in the last day": a range of this index, whatever the size.
        Index("ix_message_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[Direction] = mapped_column(_one_of(Direction, "direction", 3))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id"))
    phone: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str | None] = mapped_column(String(32))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[MessageStatus] = mapped_column(_one_of(MessageStatus, "status", 12))
    error_code: Mapped[str | None] = mapped_column(String(16))
    failed_reason: Mapped[str | None] = mapped_column(String(200))
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[Encoding] = mapped_column(
        _one_of(Encoding, "encoding", 8), default=Encoding.GSM7
    )
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id"))
    batch: Mapped[int | None] = mapped_column(Integer)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id"))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    # The staff account that typed an inbound text in the phone simulator.
    entered_by: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[Priority] = mapped_column(
        _one_of(Priority, "priority", 8), default=Priority.BULK
    )
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The sending process that holds the claim; a dead one's claims are taken back early.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # Indexed: the send rate on /metrics is the segments sent in the last minute.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BroadcastKind(StrEnum):
    """What a broadcast sends: a consultation's summary, a reminder, an outcome, news."""

    SUMMARY = "summary"
    REMINDER = "reminder"
    OUTCOME = "outcome"
    ANNOUNCEMENT = "announcement"


class BroadcastStatus(StrEnum):
    """scheduled -> sending -> completed; paused (and resumed) or cancelled on the way.

    A broadcast starts scheduled or sending; `draft` is only the column's default.
    """

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AudienceFilter(StrEnum):
    """How a broadcast narrows its audience."""

    ALL = "all"
    NOT_VOTED = "not_voted"  # reminders: those who have not answered yet
    PARTICIPANTS = "participants"  # outcomes: those who took part


BROADCAST_KINDS = tuple(BroadcastKind)
BROADCAST_STATUSES = tuple(BroadcastStatus)


class Broadcast(Model):
    """One send to many members; expands into Message rows in batches of about 100."""

    __tablename__ = "broadcast"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BroadcastKind] = mapped_column(_one_of(BroadcastKind, "kind", 16))
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultation.id"))
    bodies: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # {lang: full text}
    audience: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_filter: Mapped[AudienceFilter] = mapped_column(
        _one_of(AudienceFilter, "audience_filter", 16), default=AudienceFilter.ALL
    )
    status: Mapped[BroadcastStatus] = mapped_column(
        _one_of(BroadcastStatus, "status", 12), default=BroadcastStatus.DRAFT, index=True
    )
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    skipped_at_start: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Each text carries the member's personal link (issued when the text is claimed for
    # sending; see app.domain.links and docs/broadcasts.md).
    links: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Outcome(Model):
    """What was decided, why and what happens next, per language."""

    __tablename__ = "outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), unique=True)
    text: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id"))

    consultation: Mapped[Consultation] = relationship(back_populates="outcome")


class PersonalLink(Model):
    """A member's live personal link to one consultation's page (`/v/{token}`).

    Only the SHA-256 of the random token is kept, so the table opens nothing if it
    leaks. One row per member and consultation: issuing a link again replaces the
    hash, and the older link stops working (app/domain/links.py).
    """

    __tablename__ = "personal_link"
    __table_args__ = (
        UniqueConstraint(
            "member_id", "consultation_id", name="uq_personal_link_member_consultation"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkTextDay(Model):
    """How many texts "Text me my link" caused on one day (the organisation's date):
    the LINK_TEXTS_PER_DAY cap, counted in the database so it holds across processes."""

    __tablename__ = "link_text_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    texts: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Model):
    """Append-only log; each row carries the hash of the one before it."""

    __tablename__ = "audit_event"
    # A member's consent history in their data export is read by subject.
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class StaffRole(StrEnum):
    """What a staff account or API token may do; each role can do all the one before can."""

    VIEWER = "viewer"  # reads everything, phone numbers masked
    ORGANISER = "organiser"  # also members, consultations, broadcasts, votes, outcomes
    ADMIN = "admin"  # also staff accounts and API tokens

    @property
    def rank(self) -> int:
        return list(StaffRole).index(self)

    def allows(self, needed: StaffRole) -> bool:
        """True when this role may do what `needed` may."""
        return self.rank >= needed.rank


class StaffAccount(Model):
    """A person on the staff, signing in to the console with an email and a password.

    Only an argon2 hash of the password is kept. `session_version` is copied into the
    session at sign-in and checked on every request: bumping it (disable, new password,
    sign out everywhere) ends every session the account has.
    """

    __tablename__ = "staff_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(_one_of(StaffRole, "role", 10))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Model):
    """A staff API token; only its SHA-256 is stored. It has a role, like an account,
    and the staff account (or person) it was made for."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(
        _one_of(StaffRole, "role", 10), default=StaffRole.ORGANISER, server_default="organiser"
    )
    owner: Mapped[str | None] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditCheck(Model):
    """The audit chain as last checked, one row shared by every process: the last event
    known good (`seq`, `hash`), whether the chain held (`ok`, `problem`), when the whole
    chain was last walked, and when a walk was last asked for. The console extends the
    check from here to the newest event, so a page never walks the whole log itself.
    """

    __tablename__ = "audit_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    problem: Mapped[str | None] = mapped_column(String(200))
    whole_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    walk_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditHead(Model):
    """The newest audit hash, one row; it anchors the chain so a deleted tail shows."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
