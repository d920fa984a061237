"""Console screen: the audit log, searchable, newest first, with the chain's status.

The status at the top comes from app/domain/audit_log.chain_status, which checks only
what changed since its last look (the cache lives on the app, one per process) and
walks the whole chain again hourly or when staff press "Check the whole log now".
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Length, Optional, ValidationError

from ..config import settings
from ..domain import audit_log as audit_ops
from ..models import StaffRole
from .access import requires
from .blueprint import bp
from .forms import ConfirmForm

CACHE = "chorus_audit_chain"


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


def _cache() -> dict[str, Any]:
    cache: dict[str, Any] = current_app.extensions.setdefault(CACHE, {})
    return cache


def _render(*, whole: bool = False, status_code: int = 200):
    form = AuditSearchForm(request.args)
    config = current_app.config
    chain = audit_ops.chain_status(
        _cache(),
        whole=whole,
        full_every=config.get("AUDIT_FULL_CHECK_EVERY", audit_ops.FULL_CHECK_EVERY),
        recheck_every=config.get("AUDIT_RECHECK_EVERY", audit_ops.RECHECK_AT_MOST_EVERY),
    )
    valid = form.validate()
    events = audit_ops.AuditPage([], None, None)
    search = audit_ops.Search()
    if valid:
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
    searched = {
        key: value
        for key, value in request.args.items()
        if key not in ("before", "after", "lang") and value
    }
    return (
        render_template(
            "staff/audit_log.html",
            form=form,
            chain=chain,
            page=events,
            searched=searched,
            confirm=ConfirmForm(),
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
    """Walk the whole chain now (reading changes nothing, so viewers may ask too)."""
    return _render(whole=True)
