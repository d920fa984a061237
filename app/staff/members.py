"""Staff console: the members screens (list, search, member page, add, edit, export).

Viewers read (phone numbers masked, in the page and in the export); organisers add
and edit. Consent is shown and never changed here: no form has a field for it, and
a request that tries to set it anyway is refused (`refuse_consent_fields`). The CSV
import is its own module (member_import.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, select

from .. import audit
from ..config import settings
from ..domain import Conflict, Invalid, privacy
from ..domain import member_list as listing
from ..domain import members as members_ops
from ..domain.grammar import language_name
from ..extensions import db
from ..models import (
    Channel,
    ConsentSource,
    Consultation,
    Member,
    MemberStatus,
    Message,
    OptOutSource,
    StaffRole,
    Vote,
)
from ..tasks.outbox import enqueue_queued
from .access import actor, can, masked, requires
from .blueprint import bp
from .forms import ConfirmForm
from .member_forms import STATUS_NAMES, AddMemberForm, MemberForm, MemberSearchForm, split_groups

RECENT_TEXTS = 20
RECENT_VOTES = 50
# Form fields that would change consent; no console form has them, so a request
# carrying one was made by hand and is refused whole.
CONSENT_FIELDS = frozenset(
    {
        "status",
        "consent_at",
        "consent_source",
        "consent_by",
        "opted_out_at",
        "opt_out_source",
        "opt_in",
        "subscribe",
        "resubscribe",
    }
)
CONSENT_SOURCES = {
    ConsentSource.SMS: _l("By text (START or JOIN)"),
    ConsentSource.STAFF: _l("Added by staff in the console"),
    ConsentSource.API: _l("Added through the staff API"),
    ConsentSource.IMPORT: _l("Imported from a CSV file by staff"),
    ConsentSource.DEMO: _l("Demo data"),
}
OPT_OUT_SOURCES = {
    OptOutSource.SMS: _l("texted STOP"),
    OptOutSource.CARRIER: _l("the phone network reported the number unsubscribed"),
}
CHANNELS = {
    Channel.SMS: _l("by text"),
    Channel.WEB: _l("on the web"),
    Channel.ASSISTED: _l("assisted by staff"),
}
EXPORT_COLUMNS = (
    "phone",
    "name",
    "language",
    "groups",
    "status",
    "consent_at",
    "consent_source",
    "opted_out_at",
    "opt_out_source",
    "created_at",
)


def refuse_consent_fields() -> None:
    """403 when the posted form tries to set consent (see CONSENT_FIELDS)."""
    if CONSENT_FIELDS & set(request.form):
        abort(403, description=gettext("Consent cannot be changed by staff."))


def _search() -> tuple[MemberSearchForm, listing.MemberQuery]:
    form = MemberSearchForm(request.args).fill(listing.group_names())
    form.validate()
    text, group, language, status = form.cleaned()
    return form, listing.MemberQuery(text, group, language, status)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _filters(query: listing.MemberQuery) -> dict[str, str]:
    """The query string that keeps the search and filters (for page and export links)."""
    values = {
        "q": query.text,
        "group": query.group,
        "language": query.language,
        "status": query.status,
    }
    return {key: value for key, value in values.items() if value}


@bp.get("/members")
@requires(StaffRole.VIEWER)
def members():
    """Members: search by name or number, filter by group, language and status; 50 a
    page, newest first."""
    form, query = _search()
    region = settings().default_region
    before, after = _int_arg("before"), _int_arg("after")
    page = listing.page(query, region, before=before, after=after)
    count, more = listing.count_for(query, region, page, first=before is None and after is None)
    return render_template(
        "staff/members.html",
        form=form,
        page=page,
        count=count,
        count_more=more,
        filters=_filters(query),
        searched=not query.empty,
        status_names=STATUS_NAMES,
    )


@bp.get("/members/export.csv")
@requires(StaffRole.VIEWER)
def members_export():
    """Every member the search and filters match, as CSV, streamed: numbers whole for
    organisers, masked for viewers. Its first four columns are the import's."""
    _, query = _search()
    region = settings().default_region
    whole = can(StaffRole.ORGANISER)
    audit.record(
        actor(),
        "members.exported",
        None,
        None,
        {"filters": _filters(query), "numbers": "whole" if whole else "masked"},
    )
    db.session.commit()
    rows = listing.export_rows(query, region)
    response = Response(stream_with_context(_csv(rows, whole)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="members.csv"'
    return response


def _cell(value: str | None) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(rows: Iterator[tuple[Row[Any], list[str]]], whole: bool) -> Iterator[str]:
    """The CSV text, 500 members at a time. `whole`: numbers unmasked (decided before
    streaming: the generator runs after the view has returned)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for n, (member, groups) in enumerate(rows, 1):
        writer.writerow(
            (
                member.phone if whole else masked(member.phone),
                _cell(member.name),
                member.language,
                ";".join(groups),
                member.status,
                member.consent_at.isoformat() if member.consent_at else "",
                member.consent_source or "",
                member.opted_out_at.isoformat() if member.opted_out_at else "",
                member.opt_out_source or "",
                member.created_at.isoformat(),
            )
        )
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _member_or_404(member_id: int) -> Member:
    member = db.session.get(Member, member_id)
    if member is None:
        abort(404)
    return member


@bp.get("/members/<int:member_id>")
@requires(StaffRole.VIEWER)
def member(member_id: int):
    """One member: profile, groups, consent, recent texts and votes."""
    found = _member_or_404(member_id)
    texts = list(
        db.session.execute(
            select(Message)
            .where(Message.member_id == found.id)
            .order_by(Message.id.desc())
            .limit(RECENT_TEXTS)
        )
        .scalars()
        .all()
    )
    votes = list(
        db.session.execute(
            select(Vote, Consultation.code)
            .join(Consultation, Consultation.id == Vote.consultation_id)
            .where(Vote.member_id == found.id)
            .order_by(Vote.updated_at.desc(), Vote.id.desc())
            .limit(RECENT_VOTES)
        ).all()
    )
    return render_template(
        "staff/member.html",
        member=found,
        texts=texts,
        votes=votes,
        status_names=STATUS_NAMES,
        consent_sources=CONSENT_SOURCES,
        opt_out_sources=OPT_OUT_SOURCES,
        channels=CHANNELS,
        language_name=language_name,
    )


@bp.route("/members/new", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def member_new():
    """Add a member, through the same domain function as POST /api/v1/members."""
    form = AddMemberForm()
    if request.method == "GET":
        form.language.data = settings().default_language
        form.groups.data = "community"
    if request.method == "POST":
        refuse_consent_fields()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return _member_form(form, None, status, existing=form.existing)
    chorus = settings()
    try:
        # add_member also queues the welcome text (organisation, how to stop) first.
        added = members_ops.add_member(
            form.e164,
            settings=chorus,
            actor=actor(),
            source="staff",
            name=(form.name.data or "").strip() or None,
            language=form.language.data,
            groups=split_groups(form.groups.data),
        )
        created = added.member
    except Conflict:  # added meanwhile
        db.session.rollback()
        form.phone.errors = [gettext("A member already has this number.")]
        return _member_form(form, None, 422)
    except Invalid as exc:  # the form checks what create_member checks; kept as a guard
        db.session.rollback()
        form.phone.errors = [exc.message]
        return _member_form(form, None, 422)
    db.session.commit()
    if added.welcome is not None:
        enqueue_queued([added.welcome.id])
    if created.status == "opted_out":
        flash(
            gettext(
                "Member added, but opted out: this number texted STOP. Chorus will not "
                "text them unless they text START."
            ),
            "error",
        )
    else:
        flash(gettext("Member added."))
    return redirect(url_for("staff.member", member_id=created.id), code=303)


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def member_edit(member_id: int):
    """Change a member's name, language and groups (never their consent)."""
    found = _member_or_404(member_id)
    if request.method == "POST":
        refuse_consent_fields()
    form = MemberForm()
    if request.method == "GET":
        form.name.data = found.name or ""
        form.language.data = found.language
        form.groups.data = ", ".join(found.groups)
    if not form.validate_on_submit():
        return _member_form(form, found, 422 if request.method == "POST" else 200)
    changed = members_ops.update_member(
        found,
        name=form.name.data or None,
        language=form.language.data,
        groups=split_groups(form.groups.data),
        actor=actor(),
    )
    db.session.commit()
    flash(gettext("Saved.") if changed else gettext("Nothing changed."))
    return redirect(url_for("staff.member", member_id=found.id), code=303)


def _member_form(form, member: Member | None, status: int, existing: Member | None = None):
    return (
        render_template("staff/member_form.html", form=form, member=member, existing=existing),
        status,
    )


@bp.get("/members/<int:member_id>/export.json")
@requires(StaffRole.ORGANISER)
def member_export(member_id: int):
    """Everything Chorus holds about the member, as a JSON download (audited)."""
    found = _member_or_404(member_id)
    if found.status == MemberStatus.ERASED:
        abort(404)
    data = privacy.export_member(found)
    audit.record(actor(), "member.exported", "member", found.id)
    db.session.commit()
    response = jsonify(data)
    response.headers["Content-Disposition"] = f'attachment; filename="member-{found.id}.json"'
    return response


@bp.route("/members/<int:member_id>/erase", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def member_erase(member_id: int):
    """Confirm, then erase the member on their request (the same function as the API)."""
    found = _member_or_404(member_id)
    if found.status == MemberStatus.ERASED:
        abort(404)
    if request.method == "GET":
        return render_template("staff/member_erase.html", member=found)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    privacy.erase_member(found, actor())
    db.session.commit()
    flash(gettext("The member was erased. Their votes stay as anonymous counts."))
    return redirect(url_for("staff.member", member_id=found.id), code=303)
