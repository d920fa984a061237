"""Importing members from a CSV file: check everything first, add only once confirmed.

1. `create_import` (the web request) makes only the checks on the file as a whole,
   cheap even for 10 MB (it can be read, names its columns, has at least one row and
   at most MAX_ROWS), and keeps the file on an import that is `checking`.
2. `check_import` (a job, app/tasks/member_import.py) reads the file (header
   `phone,name,language,groups`; groups separated by ";" or "|"), checks every row
   (the number, duplicates in the file and among members, the language, the groups,
   the name), stores the rows as they will be added, or why not, in
   `member_import_row`, drops the file and makes the import a `preview`, all in one
   transaction. No member is written.
3. Staff see the preview (`error_rows`, `rows_to_add`) and confirm (`confirm`) or
   discard it (`discard`).
4. A job (app/tasks/member_import.py) calls `run_chunk` until it answers False: each
   call adds the next `CHUNK` rows in one transaction (bulk inserts, one audit event)
   and moves the import's `cursor` past them, so a job run twice, or again after a
   crash, goes on where the last commit left off and adds nobody twice.

Consent: imported members are `active`, consented as "import" by the staff account
that confirmed, except numbers that texted STOP (and not START since): they are added
opted out, exactly as `members.create_member` does for one member.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..config import LANGUAGES
from ..extensions import db
from ..models import (
    ConsentSource,
    ImportStatus,
    Member,
    MemberGroup,
    MemberImport,
    MemberImportRow,
    MemberStatus,
    Message,
    OptOutSource,
    utcnow,
)
from ..phones import InvalidPhone, to_e164
from ..sms import segments
from ..sms.render import render
from . import Conflict, Invalid
from .members import GROUP_NAME, WELCOME_KIND

COLUMNS = ("phone", "name", "language", "groups")
MAX_ROWS = 100_000
CHUNK = 1000  # rows added per transaction by the job
LOOKUP = 500  # numbers per "which of these are members / texted STOP" query
STORE = 2000  # rows per insert when storing the checked file
KEEP_ROWS = timedelta(days=1)  # an import's rows (numbers, names) are kept this long
GROUP_SEPARATORS = re.compile(r"[;|,]")

# Why a row is not added; the console words them (app/staff/member_import.py).
MISSING_PHONE = "missing_phone"
INVALID_PHONE = "invalid_phone"
DUPLICATE_IN_FILE = "duplicate_in_file"
ALREADY_MEMBER = "already_member"
UNKNOWN_LANGUAGE = "unknown_language"
BAD_GROUPS = "bad_groups"
NAME_TOO_LONG = "name_too_long"
ERRORS = (
    MISSING_PHONE,
    INVALID_PHONE,
    DUPLICATE_IN_FILE,
    ALREADY_MEMBER,
    UNKNOWN_LANGUAGE,
    BAD_GROUPS,
    NAME_TOO_LONG,
)


class FileProblem(Invalid):
    """The file as a whole cannot be read; `code` says why (for the console's words)."""

    def __init__(self, code: str, message: str, **values: Any):
        super().__init__(message)
        self.code = code
        self.values = values


@dataclass
class CheckedRow:
    """One line of the file, checked."""

    line: int
    phone: str
    name: str | None
    language: str
    groups: list[str] = field(default_factory=list)
    error: str | None = None
    first_line: int | None = None
    opted_out: bool = False


# ---------------------------------------------------------------------- reading


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a byte order mark), else Windows-1252
    (what a spreadsheet saves as "CSV" on Windows), else Latin-1 (never fails)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _records(text: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, values) for every non-blank row of the file, the header first."""
    reader = csv.reader(io.StringIO(text, newline=""))
    for values in reader:
        if any(value.strip() for value in values):
            yield reader.line_num, values


def _header(values: list[str]) -> list[str]:
    header = [value.strip().strip("\ufeff").lower() for value in values]
    if "phone" not in header:
        raise FileProblem(
            "no_header", "the first line must name the columns: phone,name,language,groups"
        )
    return header


def read_rows(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for every non-blank row after the header."""
    header: list[str] | None = None
    for line, values in _records(text):
        if header is None:
            header = _header(values)
            continue
        row = {
            column: values[i].strip() if i < len(values) else ""
            for i, column in enumerate(header)
            if column in COLUMNS
        }
        yield line, row
    if header is None:
        raise FileProblem("empty", "the file is empty")


def count_rows(data: bytes) -> int:
    """The checks on the file as a whole, quick enough for a web request (a tenth of a
    second for 100,000 rows): it can be read, its first line names the columns, and it
    has at least one row and at most MAX_ROWS. The number of rows; FileProblem if not."""
    header = False
    rows = 0
    for _line, values in _records(decode(data)):
        if not header:
            _header(values)
            header = True
            continue
        rows += 1
        if rows > MAX_ROWS:
            raise _too_many()
    if not header:
        raise FileProblem("empty", "the file is empty")
    if not rows:
        raise FileProblem("no_rows", "the file has a header but no rows")
    return rows


def _too_many() -> FileProblem:
    return FileProblem("too_many_rows", f"at most {MAX_ROWS} rows in one file", limit=MAX_ROWS)


def _check(
    line: int, row: dict[str, str], region: str, default_language: str, seen: dict[str, int]
) -> CheckedRow:
    raw_phone = row.get("phone", "")
    name = row.get("name", "").replace("\x00", "").strip() or None
    language = row.get("language", "").strip().lower() or default_language
    groups = sorted(
        {g.strip().lower() for g in GROUP_SEPARATORS.split(row.get("groups", ""))} - {""}
    )
    checked = CheckedRow(line, raw_phone[:40], name[:200] if name else None, language[:16], groups)
    too_long = name is not None and len(name) > 200
    if not raw_phone:
        checked.error = MISSING_PHONE
        return checked
    try:
        checked.phone = to_e164(raw_phone, region)
    except InvalidPhone:
        checked.error = INVALID_PHONE
        return checked
    first = seen.setdefault(checked.phone, line)
    if first != line:
        checked.error, checked.first_line = DUPLICATE_IN_FILE, first
    elif language not in LANGUAGES:
        checked.error = UNKNOWN_LANGUAGE
    elif not all(GROUP_NAME.match(g) for g in groups):
        checked.error = BAD_GROUPS
    elif too_long:
        checked.error = NAME_TOO_LONG
    return checked


def check_file(data: bytes, *, region: str, default_language: str) -> list[CheckedRow]:
    """Every row of the file, checked against the file itself and the database (who
    is a member already, who texted STOP); FileProblem when it cannot be read."""
    seen: dict[str, int] = {}
    rows: list[CheckedRow] = []
    for line, values in read_rows(decode(data)):
        if len(rows) >= MAX_ROWS:
            raise _too_many()
        rows.append(_check(line, values, region, default_language, seen))
    if not rows:
        raise FileProblem("no_rows", "the file has a header but no rows")
    valid = [row for row in rows if row.error is None]
    members = _members_among([row.phone for row in valid])
    for row in valid:
        if row.phone in members:
            row.error = ALREADY_MEMBER
    stopped = stopped_among([row.phone for row in valid if row.error is None])
    for row in valid:
        row.opted_out = row.error is None and row.phone in stopped
    return rows


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _members_among(phones: Sequence[str]) -> set[str]:
    """Which of these E.164 numbers are members."""
    found: set[str] = set()
    for part in _chunks(phones, LOOKUP):
        found.update(
            db.session.execute(select(Member.phone).where(Member.phone.in_(part))).scalars()
        )
    return found


def stopped_among(phones: Sequence[str]) -> dict[str, datetime]:
    """{number: when it texted STOP} for the numbers whose last STOP- or START-type
    text is a STOP (as `members.last_stop`, for many numbers at once)."""
    last: dict[str, tuple[int, str, datetime]] = {}
    for part in _chunks(phones, LOOKUP):
        rows = db.session.execute(
            select(Message.phone, Message.id, Message.kind, Message.created_at).where(
                Message.phone.in_(part),
                Message.direction == "in",
                Message.kind.in_(("stop", "start")),
            )
        )
        for phone, message_id, kind, created_at in rows:
            if phone not in last or message_id > last[phone][0]:
                last[phone] = (message_id, kind, created_at)
    return {phone: when for phone, (_, kind, when) in last.items() if kind == "stop"}


# ---------------------------------------------------------------------- storing, confirming


def create_import(data: bytes, filename: str | None, *, actor: str) -> MemberImport:
    """Keep an uploaded file for the check job, after the checks on the file as a whole
    (`count_rows`, FileProblem when it cannot be used); nothing else is written. The
    import is `checking`, `total_rows` already counted."""
    upload = MemberImport(
        status=ImportStatus.CHECKING,
        filename=(filename or "")[:200] or None,
        created_by=actor,
        created_at=utcnow(),
        total_rows=count_rows(data),
        data=data,
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def check_import(import_id: int, *, region: str, default_language: str) -> bool:
    """Check every row of a `checking` import and keep them for the preview: the rows,
    the counts, the status `preview`, the file dropped and the audit event, all in
    the caller's one transaction. False, with nothing written, unless the import is
    (still) `checking`.

    The slow part (reading, phonenumbers, the look-ups) holds no lock; the import's row
    is then locked (PostgreSQL) and looked at again before anything is written, so two
    checks at once, or a check racing the day's purge, write once.
    """
    upload = db.session.get(MemberImport, import_id)
    if upload is None or upload.status != ImportStatus.CHECKING or upload.data is None:
        return False
    try:
        rows = check_file(upload.data, region=region, default_language=default_language)
        problem = None
    except FileProblem as refused:  # not after count_rows; kept safe all the same
        rows, problem = [], refused.code
    upload = db.session.get(MemberImport, import_id, with_for_update=True, populate_existing=True)
    if upload is None or upload.status != ImportStatus.CHECKING:
        return False
    upload.data = None
    if problem is not None:
        upload.status = ImportStatus.DISCARDED
        upload.finished_at = utcnow()
        audit.record(
            "system",
            "members.import_discarded",
            "member_import",
            upload.id,
            {"problem": problem},
        )
        return True
    to_add = [row for row in rows if row.error is None]
    upload.status = ImportStatus.PREVIEW
    upload.total_rows = len(rows)
    upload.to_add = len(to_add)
    upload.to_add_opted_out = sum(1 for row in to_add if row.opted_out)
    upload.error_rows = len(rows) - len(to_add)
    for part in _chunks(rows, STORE):
        bulk_insert(
            MemberImportRow.__table__,
            [
                {
                    "import_id": upload.id,
                    "line": row.line,
                    "phone": row.phone,
                    "name": row.name,
                    "language": row.language,
                    "groups": ";".join(row.groups),
                    "error": row.error,
                    "first_line": row.first_line,
                    "opted_out": row.opted_out,
                }
                for row in part
            ],
        )
    audit.record(
        upload.created_by,
        "members.import_checked",
        "member_import",
        upload.id,
        {"rows": upload.total_rows, "to_add": upload.to_add, "errors": upload.error_rows},
    )
    return True


def get(import_id: int, *, lock: bool = False) -> MemberImport | None:
    """The import with this id, or None; `lock`: for update (confirm and discard hold
    it so that two clicks at once confirm it once)."""
    return db.session.get(MemberImport, import_id, with_for_update=lock or None)


def confirm(upload: MemberImport, *, actor: str) -> None:
    """Confirm a preview: the job may now add its rows. Conflict unless it is a preview."""
    if upload.status != ImportStatus.PREVIEW:
        raise Conflict(f"this import is {upload.status}, not a preview")
    if upload.to_add == 0:
        raise Invalid("this file has no rows to add")
    upload.status = ImportStatus.QUEUED
    upload.confirmed_by = actor
    upload.confirmed_at = utcnow()
    audit.record(
        actor, "members.import_confirmed", "member_import", upload.id, {"to_add": upload.to_add}
    )


def discard(upload: MemberImport, *, actor: str) -> None:
    """Drop a preview and its rows. Conflict unless it is a preview."""
    if upload.status != ImportStatus.PREVIEW:
        raise Conflict(f"this import is {upload.status}, not a preview")
    upload.status = ImportStatus.DISCARDED
    upload.finished_at = utcnow()
    db.session.execute(delete(MemberImportRow).where(MemberImportRow.import_id == upload.id))
    audit.record(actor, "members.import_discarded", "member_import", upload.id, {})


def error_rows(upload: MemberImport, *, after: int = 0, limit: int = 100) -> list[MemberImportRow]:
    """The rows that will not be added, in file order, from row id `after` on."""
    return list(
        db.session.execute(
            select(MemberImportRow)
            .where(
                MemberImportRow.import_id == upload.id,
                MemberImportRow.id > after,
                MemberImportRow.error.is_not(None),
            )
            .order_by(MemberImportRow.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def rows_to_add(upload: MemberImport, *, limit: int = 20) -> list[MemberImportRow]:
    """The first rows that will be added, in file order."""
    return list(
        db.session.execute(
            select(MemberImportRow)
            .where(MemberImportRow.import_id == upload.id, MemberImportRow.error.is_(None))
            .order_by(MemberImportRow.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


# ---------------------------------------------------------------------- the job's work


def run_chunk(
    import_id: int,
    *,
    size: int = CHUNK,
    org_name: str = "Chorus",
    welcomes: list[int] | None = None,
) -> bool:
    """Add the next `size` rows of a confirmed import; True while rows remain.

    The import's row is locked for the transaction (PostgreSQL; SQLite has one writer
    anyway), so two runs at once take turns and the second finds the cursor moved.
    A number that became a member since the preview is left as it is (`skipped`).
    When no rows remain the import is done and its added rows are deleted.
    """
    upload = db.session.execute(
        select(MemberImport).where(MemberImport.id == import_id).with_for_update()
    ).scalar_one_or_none()
    if upload is None or upload.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
        return False
    now = utcnow()
    if upload.status == ImportStatus.QUEUED:
        upload.status = ImportStatus.RUNNING
        upload.started_at = now
    upload.progress_at = now
    rows = db.session.execute(
        select(
            MemberImportRow.id,
            MemberImportRow.phone,
            MemberImportRow.name,
            MemberImportRow.language,
            MemberImportRow.groups,
        )
        .where(
            MemberImportRow.import_id == import_id,
            MemberImportRow.id > upload.cursor,
            MemberImportRow.error.is_(None),
        )
        .order_by(MemberImportRow.id)
        .limit(size)
    ).all()
    if not rows:
        _finish(upload, now)
        return False
    actor = upload.confirmed_by or upload.created_by
    added, opted_out = _add(rows, actor, now)
    queued = _welcome(rows, added, set(opted_out), org_name, now)
    if welcomes is not None and queued:
        # The ids of the welcomes just queued, for the caller to send after committing.
        welcomes.extend(
            db.session.execute(
                select(Message.id).where(
                    Message.member_id.in_(list(added.values())),
                    Message.kind == WELCOME_KIND,
                    Message.status == "queued",
                )
            ).scalars()
        )
    upload.added += len(added)
    upload.skipped += len(rows) - len(added)
    upload.cursor = rows[-1].id
    audit.record(
        actor,
        "members.imported",
        "member_import",
        upload.id,
        {"members": sorted(added.values()), "opted_out": sorted(opted_out)},
    )
    return True


def _add(rows: Sequence[Any], actor: str, now: datetime) -> tuple[dict[str, int], list[int]]:
    """Insert the rows' members and groups, leaving numbers that are members already
    as they are; ({phone: member id} added, ids added opted out)."""
    stopped = stopped_among([row.phone for row in rows])
    values = [_member_values(row, stopped.get(row.phone), actor, now) for row in rows]
    ids = _insert_members(values)
    groups = [
        {"member_id": ids[row.phone], "name": name}
        for row in rows
        if row.phone in ids and row.groups
        for name in row.groups.split(";")
    ]
    for part in _chunks(groups, STORE):
        bulk_insert(MemberGroup.__table__, list(part))
    opted_out = [ids[phone] for phone in stopped if phone in ids]
    return ids, opted_out


def _welcome(
    rows: Sequence[Any], added: dict[str, int], opted_out: set[int], org_name: str, now: datetime
) -> int:
    """Queue the welcome text (naming the organisation and how to stop) of every member
    this chunk added who may be texted, as `members.add_member` does for one: the outbox
    sends nothing else to them while it waits. At bulk priority, like a broadcast: an
    import of 50,000 must not put 50,000 texts ahead of every reply to a text in. One
    INSERT per chunk; returns how many were queued."""
    bodies: dict[str, tuple[str, int, str]] = {}
    values = []
    for row in rows:
        member_id = added.get(row.phone)
        if member_id is None or member_id in opted_out:
            continue
        if row.language not in bodies:
            body = render(WELCOME_KIND, row.language, org=org_name)
            info = segments.count(body)
            bodies[row.language] = (body, max(1, info.segments), str(info.encoding))
        body, parts, encoding = bodies[row.language]
        values.append(
            {
                "direction": "out",
                "member_id": member_id,
                "phone": row.phone,
                "body": body,
                "kind": WELCOME_KIND,
                "status": "queued",
                "segments": parts,
                "encoding": encoding,
                "priority": "bulk",
                "error_count": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    for part in _chunks(values, STORE):
        bulk_insert(Message.__table__, list(part))
    return len(values)


def _insert_members(values: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the members whose numbers are not members yet; {phone: id} of those.

    PostgreSQL: one statement that skips a number already there (ON CONFLICT DO
    NOTHING), however recently it joined. Elsewhere: a look first, then the insert; if
    a number joined in between (a JOIN by text), one row at a time, each in its own
    savepoint, leaving that one as it is.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        inserted = bulk_insert(
            Member.__table__, values, returning=("id", "phone"), skip_existing="phone"
        )
        return {phone: member_id for member_id, phone in inserted or []}
    existing = _members_among([one["phone"] for one in values])
    fresh = [one for one in values if one["phone"] not in existing]
    try:
        with db.session.begin_nested():
            return _insert_and_look_up(fresh)
    except IntegrityError:
        ids: dict[str, int] = {}
        for one in fresh:
            try:
                with db.session.begin_nested():
                    ids.update(_insert_and_look_up([one]))
            except IntegrityError:
                continue
        return ids


def _insert_and_look_up(values: list[dict[str, Any]]) -> dict[str, int]:
    if not values:
        return {}
    bulk_insert(Member.__table__, values)
    phones = [one["phone"] for one in values]
    found = db.session.execute(select(Member.id, Member.phone).where(Member.phone.in_(phones)))
    return {phone: member_id for member_id, phone in found}


def bulk_insert(
    table: Table,
    rows: list[dict[str, Any]],
    returning: tuple[str, ...] = (),
    skip_existing: str | None = None,
) -> list[Any] | None:
    """Insert `rows` (dicts with the same keys) into `table` at once.

    PostgreSQL: one INSERT ... SELECT FROM unnest(one array per column), a few times
    faster than an executemany of as many rows; the `returning` columns' rows come
    back, and `skip_existing` names a unique column whose clashes are skipped (ON
    CONFLICT DO NOTHING). Elsewhere (SQLite, whose executemany is native): an
    executemany, None back, and neither option.
    """
    if not rows:
        return [] if returning else None
    bind = db.session.get_bind()
    if bind.dialect.name != "postgresql":
        assert not returning and skip_existing is None, "PostgreSQL only"
        db.session.execute(table.insert(), rows)
        return None
    names = list(rows[0])
    arrays = ", ".join(
        f"CAST(:a{i} AS {table.c[name].type.compile(bind.dialect)}[])"
        for i, name in enumerate(names)
    )
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"
    if skip_existing:
        sql += f" ON CONFLICT ({skip_existing}) DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(returning)
    params = {f"a{i}": [_plain(row[name]) for row in rows] for i, name in enumerate(names)}
    result = db.session.execute(text(sql), params)
    return list(result) if returning else None


def _plain(value: Any) -> Any:
    """A value as the database driver takes it inside an array (an enum as its value)."""
    return value.value if isinstance(value, Enum) else value


def _member_values(
    row: Any, stopped_at: datetime | None, actor: str, now: datetime
) -> dict[str, Any]:
    """A new member's columns: consented by import, or opted out if the number said STOP."""
    active = stopped_at is None
    return {
        "phone": row.phone,
        "name": row.name,
        "language": row.language,
        "status": MemberStatus.ACTIVE if active else MemberStatus.OPTED_OUT,
        "consent_at": now if active else None,
        "consent_source": ConsentSource.IMPORT if active else None,
        "consent_by": actor if active else None,
        "opted_out_at": stopped_at,
        "opt_out_source": None if active else OptOutSource.SMS,
        "created_at": now,
        "updated_at": now,
    }


def _finish(upload: MemberImport, now: datetime) -> None:
    upload.status = ImportStatus.DONE
    upload.finished_at = now
    # The added rows are members now; the refused ones stay for the report, a day.
    db.session.execute(
        delete(MemberImportRow).where(
            MemberImportRow.import_id == upload.id, MemberImportRow.error.is_(None)
        )
    )
    audit.record(
        upload.confirmed_by or upload.created_by,
        "members.import_finished",
        "member_import",
        upload.id,
        {"added": upload.added, "skipped": upload.skipped, "refused": upload.error_rows},
    )


# ---------------------------------------------------------------------- upkeep


def unfinished(stalled_since: datetime) -> list[int]:
    """Confirmed imports that have not moved since `stalled_since` (their job lost)."""
    rows = db.session.execute(
        select(MemberImport.id, MemberImport.confirmed_at, MemberImport.progress_at).where(
            MemberImport.status.in_((ImportStatus.QUEUED, ImportStatus.RUNNING))
        )
    )
    return [
        import_id
        for import_id, confirmed_at, progress_at in rows
        if (progress_at or confirmed_at or stalled_since) <= stalled_since
    ]


def unchecked(uploaded_before: datetime) -> list[int]:
    """Imports still `checking` that were uploaded before `uploaded_before` (their check
    job lost, or still waiting behind others: queuing it again is harmless)."""
    return list(
        db.session.execute(
            select(MemberImport.id).where(
                MemberImport.status == ImportStatus.CHECKING,
                MemberImport.created_at <= uploaded_before,
            )
        ).scalars()
    )


def purge(now: datetime | None = None) -> int:
    """Delete the rows of imports uploaded more than a day ago (numbers and names of
    people who may never have become members) and any file still kept; previews left
    that long are discarded, and so are files still not checked."""
    now = now or utcnow()
    cutoff = now - KEEP_ROWS
    db.session.execute(
        update(MemberImport)
        .where(
            MemberImport.created_at < cutoff,
            MemberImport.status.in_((ImportStatus.PREVIEW, ImportStatus.CHECKING)),
        )
        .values(status=ImportStatus.DISCARDED, finished_at=now, data=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(MemberImport)
        .where(MemberImport.created_at < cutoff, MemberImport.data.is_not(None))
        .values(data=None)
        .execution_options(synchronize_session=False)
    )
    old = select(MemberImport.id).where(
        MemberImport.created_at < cutoff,
        MemberImport.status.in_((ImportStatus.DONE, ImportStatus.DISCARDED)),
    )
    result = db.session.execute(
        delete(MemberImportRow)
        .where(MemberImportRow.import_id.in_(old))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
