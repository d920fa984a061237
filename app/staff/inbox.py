"""Console screen: the inbox (texts meant for staff), replies by SMS, marking handled.

Viewers read it (numbers masked); organisers reply and mark items handled. A reply is
queued at high priority in the outbox like every one-to-one text and never goes to a
member who is not active (app/domain/inbox.py refuses it; the outbox checks again
when it sends).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, ValidationError

from ..config import RTL_LANGUAGES
from ..domain import Conflict, Invalid, NotFound, grammar
from ..domain import inbox as inbox_ops
from ..extensions import db
from ..models import StaffRole
from ..sms import segments
from ..tasks.outbox import enqueue_queued
from .access import actor, mask_phone, requires
from .blueprint import bp
from .forms import ConfirmForm


def _fits_sms_limits(_form: FlaskForm, field: TextAreaField) -> None:
    body = (field.data or "").strip()
    texts = segments.count(body).segments
    if len(body) > inbox_ops.MAX_REPLY_CHARS or texts > inbox_ops.MAX_REPLY_SEGMENTS:
        raise ValidationError(
            gettext(
                "A reply can be at most %(max)d texts long; this one would be %(n)d.",
                max=inbox_ops.MAX_REPLY_SEGMENTS,
                n=texts,
            )
        )


class ReplyForm(FlaskForm):
    """A reply by SMS to one inbox item (one per item, told apart by its prefix).

    The CSRF token is checked for every console POST by CSRFProtect; the page carries
    it once per form as a plain `csrf_token` field, so the prefixed form skips its own.
    """

    class Meta:
        csrf = False

    body = TextAreaField(
        _l("Reply by SMS"),
        validators=[DataRequired(_l("Write the reply first.")), _fits_sms_limits],
        render_kw={"rows": 3, "cols": 60, "maxlength": inbox_ops.MAX_REPLY_CHARS},
    )
    handled = BooleanField(_l("Mark handled once the reply is queued"), default=True)


def _listing_args() -> dict[str, Any]:
    """The inbox view this request came from (filter and page), to go back to it."""
    args: dict[str, Any] = {}
    if request.args.get("show") == "handled":
        args["show"] = "handled"
    for name in ("before", "after"):
        value = request.args.get(name, type=int)
        if value is not None:
            args[name] = value
    return args


def _language(code: str) -> str:
    try:
        return grammar.language_name(code)
    except KeyError:
        return code


def _render(
    forms: dict[int, ReplyForm] | None = None,
    status: int = 200,
    error: str | None = None,
):
    args = _listing_args()
    handled = args.get("show") == "handled"
    page = inbox_ops.page(handled=handled, before=args.get("before"), after=args.get("after"))
    forms = forms or {}
    for item in page.items:
        if item.id not in forms:
            forms[item.id] = ReplyForm(prefix=f"reply-{item.id}", formdata=None)
        who = item.member_name or mask_phone(item.phone)
        forms[item.id].body.label.text = gettext("Reply to %(who)s by SMS", who=who)
    return (
        render_template(
            "staff/inbox.html",
            page=page,
            forms=forms,
            handled=handled,
            args=args,
            unhandled=inbox_ops.unhandled_count(),
            language_name=_language,
            rtl=RTL_LANGUAGES,
            max_segments=inbox_ops.MAX_REPLY_SEGMENTS,
            error=error,
        ),
        status,
    )


@bp.get("/inbox")
@requires(StaffRole.VIEWER)
def inbox():
    """Texts meant for staff, newest first: unhandled ones, or (?show=handled) handled."""
    return _render()


@bp.post("/inbox/<int:comment_id>/reply")
@requires(StaffRole.ORGANISER)
def inbox_reply(comment_id: int):
    """Queue a reply by SMS to the member (high priority), and by default mark it handled."""
    form = ReplyForm(prefix=f"reply-{comment_id}")
    status, error = 422, None
    if form.validate_on_submit():
        try:
            message = inbox_ops.reply(
                comment_id,
                form.body.data or "",
                actor=actor(),
                mark_handled=bool(form.handled.data),
            )
        except NotFound:
            db.session.rollback()
            flash(gettext("There is no such message in the inbox."), "error")
            return redirect(url_for("staff.inbox", **_listing_args()), code=303)
        except Conflict:
            db.session.rollback()
            error = gettext(
                "This member has opted out (or has not agreed to texts): "
                "Chorus sends them nothing, so no reply was sent."
            )
            form.body.errors = [error]
            status = 409
        except Invalid:
            db.session.rollback()
            form.body.errors = [gettext("This reply cannot be sent as it is.")]
        else:
            message_id, texts = message.id, message.segments
            db.session.commit()
            enqueue_queued([message_id])
            flash(
                ngettext(
                    "Reply queued (%(num)d text); it goes out ahead of bulk texts.",
                    "Reply queued (%(num)d texts); it goes out ahead of bulk texts.",
                    texts,
                )
            )
            return redirect(url_for("staff.inbox", **_listing_args()), code=303)
    return _render({comment_id: form}, status=status, error=error)


@bp.post("/inbox/<int:comment_id>/handled")
@requires(StaffRole.ORGANISER)
def inbox_handled(comment_id: int):
    """Mark an item handled (`handled=1`) or back to unhandled (`handled=0`)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _render(status=422, error=gettext("The form expired: please try again."))
    handled = request.form.get("handled", "1") != "0"
    try:
        comment = inbox_ops.get(comment_id)
    except NotFound:
        flash(gettext("There is no such message in the inbox."), "error")
        return redirect(url_for("staff.inbox", **_listing_args()), code=303)
    inbox_ops.set_handled(comment, handled, actor=actor())
    db.session.commit()
    flash(gettext("Marked handled.") if handled else gettext("Back in the inbox."))
    return redirect(url_for("staff.inbox", **_listing_args()), code=303)
