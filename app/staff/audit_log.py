"""Console screen: the audit log, searchable, newest first, with the chain's status.

The status at the top comes from app/domain/audit_log.chain_status: the shared
checkpoint, extended to the newest event. A walk of the whole chain runs as a job
(app/tasks/audit.py) when one is due (hourly) or when staff press "Check the whole log
now"; no page waits for one.
"""

from __future__ import annotations

import json

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional, ValidationError

from ..config import settings
from ..domain import audit_log as audit_ops
from ..extensions import db
from ..models import StaffRole
from ..tasks import audit as audit_tasks
from .access import requires
from .blueprint import bp


class AuditSearchForm(FlaskForm):
    """The search (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    actor = StringField(
        _l("Who (contains)"),
        validators=[Optional(), Length(max=200)],
        description=_l("Part of an email, or staff:, api:, member:, cli"),
    )
    action = StringField(
        _l("Action (starts with)"),
        validators=[Optional(), Length(max=60)],
        description=_l("For example staff. or inbox.replied"),
    )
    subject_type = StringField(
        _l("Subject type"),
        validators=[Optional(), Length(max=40)],
        description=_l("For example member, consultation, staff_account, api_token, comment"),
    )
    subject_id = StringField(_l("Subject id"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From (date)"), validators=[Optional()])
    until = DateField(_l("To (date, included)"), validators=[Optional()])
    text = StringField(
        _l("Details contain"),
        validators=[Optional(), Length(max=200)],
        description=_l("Searched in each event's details"),
    )

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(gettext("The end date is before the start date."))


def _full_every() -> float:
    return float(current_app.config.get("AUDIT_FULL_CHECK_EVERY", audit_ops.FULL_CHECK_EVERY))


def _chain() -> audit_ops.ChainStatus:
    """The chain's status (the checkpoint moved on and committed); a walk of the whole
    chain is queued when one is due."""
    chain = audit_ops.chain_status(full_every=_full_every())
    db.session.commit()
    if chain.walk_due:
        audit_tasks.request_walk(chain)
        # Read again: the walk is asked for (or, with jobs run inline, done).
        chain = audit_ops.chain_status(full_every=_full_every())
        db.session.commit()
    return chain


def _searched() -> dict[str, str]:
    """The search in the query string (to keep it on links), without paging."""
    return {
        key: value
        for key, value in request.args.items()
        if key not in ("before", "after", "lang") and value
    }


def _render():
    form = AuditSearchForm(request.args)
    chain = _chain()
    events = audit_ops.AuditPage([], None, None)
    status_code = 200
    if form.validate():
        search = audit_ops.Search(
            actor=form.actor.data or "",
            action=form.action.data or "",
            subject_type=form.subject_type.data or "",
            subject_id=form.subject_id.data or "",
            since=form.since.data,
            until=form.until.data,
            text=form.text.data or "",
        )
        events = audit_ops.search_page(
            search,
            timezone=settings().timezone,
            before=request.args.get("before", type=int),
            after=request.args.get("after", type=int),
        )
    else:
        status_code = 422
    searched = _searched()
    return (
        render_template(
            "staff/audit_log.html",
            form=form,
            chain=chain,
            page=events,
            searched=searched,
            as_json=_as_json,
        ),
        status_code,
    )


def _as_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


@bp.get("/audit")
@requires(StaffRole.VIEWER)
def audit_log():
    """The audit log: search, newest first, a page at a time, and the chain's status."""
    return _render()


@bp.post("/audit/verify")
@requires(StaffRole.VIEWER)
def audit_verify():
    """Ask for a walk of the whole chain now (it only reads, so viewers may ask too)."""
    chain = audit_ops.chain_status(full_every=_full_every())
    db.session.commit()
    if audit_tasks.request_walk(chain):
        flash(gettext("A check of the whole log has started; its result shows here."))
    else:
        flash(gettext("A check of the whole log is already under way."))
    return redirect(url_for("staff.audit_log", **_searched()), code=303)
