"""Staff console: a consultation's outcome, at /staff/consultations/<code>/outcome.

Write what was decided in any of the ten languages (side by side), check each text's
segments and encoding as it will be texted, then a confirm step shows who would be
texted per language and the estimated cost before anything is written. Publishing is
`outcomes.decide`, the same as the API's POST .../outcome: it records the outcome in
the register (the public /decisions and /c/<code> pages), closes an open
consultation first, and with "notify" queues the outcome broadcast to everyone who
took part. An outcome published without notifying can be texted later, with the same
confirm step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_currency, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length, Optional

from ..config import LANGUAGES, RTL_LANGUAGES, settings
from ..domain import DomainError, grammar
from ..domain import broadcasts as broadcasts_ops
from ..domain import outcomes as outcomes_ops
from ..extensions import db
from ..models import Broadcast, Consultation, StaffRole
from ..sms import segments
from ..tasks import broadcasts as broadcast_tasks
from .access import actor, requires
from .blueprint import bp
from .forms import ConfirmForm
from .results import STATUSES, consultation_links, consultation_or_404, consultation_title


class OutcomeForm(FlaskForm):
    """The outcome in each language (any of them may be empty, not all), and whether
    to text it to everyone who took part."""

    notify = BooleanField(_l("Text the outcome to everyone who took part"), default=True)


for _code in LANGUAGES:
    setattr(
        OutcomeForm,
        _code,
        TextAreaField(
            f"{grammar.language_name(_code)} ({_code})",
            validators=[
                Optional(),
                Length(
                    max=outcomes_ops.MAX_TEXT,
                    message=_l("At most %(max)d characters."),
                ),
            ],
            render_kw={
                "lang": _code,
                "dir": "rtl" if _code in RTL_LANGUAGES else "ltr",
                "rows": 5,
                "maxlength": outcomes_ops.MAX_TEXT,
            },
        ),
    )
del _code


def _texts(form: OutcomeForm) -> dict[str, str]:
    """The languages given, their text stripped (Windows line ends made plain)."""
    out = {}
    for code in LANGUAGES:
        value = (getattr(form, code).data or "").replace("\r\n", "\n").replace("\x00", "")
        if value.strip():
            out[code] = value.strip()
    return out


def _checks(consultation: Consultation, texts: dict[str, str]) -> dict[str, Any]:
    """Per language given: the text as texted, its characters, segments and encoding."""
    bodies = broadcasts_ops.outcome_bodies(consultation, texts, settings())
    out = {}
    for code in texts:
        info = segments.count(bodies[code])
        out[code] = {
            "body": bodies[code],
            "characters": len(bodies[code]),
            "segments": info.segments,
            "encoding": info.encoding,
            "within_budget": info.segments <= broadcasts_ops.SEGMENT_BUDGET,
        }
    return out


def _money(segment_count: int) -> str:
    price: Decimal = settings().sms_price_per_segment
    return format_currency(price * segment_count, settings().sms_price_currency)


def _why_not(consultation: Consultation) -> str | None:
    if consultation.status == "draft":
        return gettext(
            "%(code)s is a draft: open it and let people take part before deciding.",
            code=consultation.code,
        )
    return None


def _broadcast(consultation: Consultation) -> tuple[Broadcast | None, dict[str, int]]:
    outcome = consultation.outcome
    if outcome is None or outcome.broadcast_id is None:
        return None, {}
    broadcast = db.session.get(Broadcast, outcome.broadcast_id)
    if broadcast is None:  # pragma: no cover - the foreign key keeps it
        return None, {}
    return broadcast, broadcasts_ops.counts(broadcast)


def _form_page(
    consultation: Consultation,
    form: OutcomeForm,
    status: int = 200,
    *,
    checks: dict[str, Any] | None = None,
    error: str | None = None,
):
    broadcast, counts = _broadcast(consultation)
    html = render_template(
        "staff/outcome.html",
        c=consultation,
        title=consultation_title(consultation),
        form=form,
        languages=LANGUAGES,
        checks=checks,
        error=error,
        why_not=_why_not(consultation),
        links=consultation_links(consultation),
        statuses=STATUSES,
        broadcast=broadcast,
        counts=counts,
        budget=broadcasts_ops.SEGMENT_BUDGET,
        confirm=ConfirmForm(),
        language_name=grammar.language_name,
        rtl_languages=RTL_LANGUAGES,
        default_language=settings().default_language,
    )
    return html, status


def _confirm_page(
    consultation: Consultation,
    texts: dict[str, str],
    *,
    notify: bool,
    form: FlaskForm,
    action: str,
    edit_action: str | None,
    status: int = 200,
):
    preview = broadcasts_ops.preview_outcome(consultation, texts, settings()) if notify else None
    languages = []
    if preview is not None:
        for entry in preview["languages"]:
            languages.append(
                {
                    **entry,
                    "name": grammar.language_name(entry["language"]),
                    "cost": _money(entry["segments"] * entry["recipients"]),
                }
            )
    html = render_template(
        "staff/outcome_confirm.html",
        c=consultation,
        title=consultation_title(consultation),
        texts=texts,
        notify=notify,
        preview=preview,
        languages=languages,
        cost=_money(preview["total_segments"]) if preview else None,
        price=_money(1),
        bodies=broadcasts_ops.outcome_bodies(consultation, texts, settings()),
        form=form,
        action=action,
        edit_action=edit_action,
        links=consultation_links(consultation),
        language_name=grammar.language_name,
        rtl_languages=RTL_LANGUAGES,
        all_languages=LANGUAGES,
        budget=broadcasts_ops.SEGMENT_BUDGET,
    )
    return html, status


@bp.get("/consultations/<code>/outcome")
@requires(StaffRole.ORGANISER)
def outcome(code: str):
    """The outcome form, or the published outcome and its broadcast."""
    consultation = consultation_or_404(code)
    return _form_page(consultation, OutcomeForm(formdata=None))


@bp.post("/consultations/<code>/outcome")
@requires(StaffRole.ORGANISER)
def outcome_post(code: str):
    """Check the segments (action=check), or go on to the confirm step."""
    consultation = consultation_or_404(code)
    form = OutcomeForm()
    if consultation.outcome is not None or _why_not(consultation):
        return _form_page(consultation, form, 409)
    if not form.validate_on_submit():
        return _form_page(consultation, form, 422, error=gettext("See the problems below."))
    texts = _texts(form)
    if not texts:
        return _form_page(
            consultation, form, 422, error=gettext("Write the outcome in at least one language.")
        )
    if request.form.get("action") != "continue":
        return _form_page(consultation, form, checks=_checks(consultation, texts))
    return _confirm_page(
        consultation,
        texts,
        notify=bool(form.notify.data),
        form=form,
        action=url_for("staff.outcome_publish", code=consultation.code),
        edit_action=url_for("staff.outcome_post", code=consultation.code),
    )


@bp.post("/consultations/<code>/outcome/publish")
@requires(StaffRole.ORGANISER)
def outcome_publish(code: str):
    """Publish the outcome to the register (closing an open consultation) and, with
    notify, queue the broadcast to everyone who took part."""
    consultation = consultation_or_404(code)
    form = OutcomeForm()
    texts = _texts(form) if form.validate_on_submit() else {}
    if not texts:
        return _form_page(consultation, form, 422, error=gettext("See the problems below."))
    notify = bool(form.notify.data)
    try:
        _, broadcast, recipients = outcomes_ops.decide(
            consultation, {"text": texts, "notify": notify}, actor=actor(), settings=settings()
        )
    except DomainError as exc:
        db.session.rollback()
        consultation = consultation_or_404(code)
        return _form_page(
            consultation,
            form,
            exc.status,
            error=gettext("The outcome was not published: %(why)s.", why=exc.message),
        )
    db.session.commit()
    if broadcast is not None:
        broadcast_tasks.launch(broadcast)
        flash(
            gettext(
                "The outcome is published, and it is being texted to %(count)s people.",
                count=recipients,
            )
        )
    else:
        flash(gettext("The outcome is published in the register."))
    return redirect(url_for("staff.outcome", code=consultation.code), code=303)


@bp.get("/consultations/<code>/outcome/notify")
@requires(StaffRole.ORGANISER)
def outcome_notify_confirm(code: str):
    """The confirm step for texting a published outcome: recipients and cost."""
    consultation = consultation_or_404(code)
    if consultation.outcome is None or consultation.outcome.broadcast_id is not None:
        # Nothing to confirm: the outcome page, in the same language.
        target = url_for("staff.outcome", code=consultation.code, lang=request.args.get("lang"))
        return redirect(target, code=303)
    return _confirm_page(
        consultation,
        dict(consultation.outcome.text),
        notify=True,
        form=ConfirmForm(),
        action=url_for("staff.outcome_notify", code=consultation.code),
        edit_action=None,
    )


@bp.post("/consultations/<code>/outcome/notify")
@requires(StaffRole.ORGANISER)
def outcome_notify(code: str):
    """Text the published outcome to everyone who took part."""
    consultation = consultation_or_404(code)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(gettext("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.outcome", code=consultation.code), code=303)
    try:
        broadcast, recipients = outcomes_ops.notify(
            consultation, actor=actor(), settings=settings()
        )
    except DomainError as exc:
        db.session.rollback()
        flash(gettext("Nothing was sent: %(why)s.", why=exc.message), "error")
        return redirect(url_for("staff.outcome", code=consultation.code), code=303)
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    flash(gettext("The outcome is being texted to %(count)s people.", count=recipients))
    return redirect(url_for("staff.outcome", code=consultation.code), code=303)
