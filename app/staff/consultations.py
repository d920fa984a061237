"""Console: the consultations list, drafting and editing, opening and closing.

Drafts are written through app/domain/consultations.py (the API's rules); a form with
a problem comes back with the message next to the field (422) and nothing written.
"Check" and "More option rows" re-render the form and write nothing.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request
from flask_babel import gettext
from sqlalchemy import func, select

from ..config import LANGUAGES, settings
from ..domain import DomainError
from ..domain import broadcasts as broadcasts_ops
from ..domain import consultations as consultations_ops
from ..extensions import db
from ..models import (
    CONSULTATION_STATUSES,
    Broadcast,
    Consultation,
    StaffRole,
)
from .access import actor, requires
from .blueprint import bp
from .consultation_form import ConsultationForm, known_groups, sms_figures
from .figures import language, local, money, page_language, page_url, price_text, text_dir
from .forms import ConfirmForm

PAGE_SIZE = 50


def status_name(status: str) -> str:
    """A consultation's status as a word."""
    return {
        "draft": gettext("Draft"),
        "open": gettext("Open"),
        "closed": gettext("Closed"),
        "decided": gettext("Decided"),
    }.get(str(status), str(status))


def kind_name(kind: str) -> str:
    """A consultation's kind in a few words."""
    return {
        "yes_no": gettext("Yes or no"),
        "choice": gettext("Choice"),
        "open": gettext("Open question"),
    }.get(str(kind), str(kind))


def decider_name(by: str) -> str:
    """Who decides, in a few words."""
    return {
        "community": gettext("The community, by vote"),
        "staff": gettext("Staff, with the replies in mind"),
        "allies": gettext("Staff, advised by the Allies Group"),
    }.get(str(by), str(by))


def pick(texts: dict[str, str] | None) -> tuple[str, str]:
    """(text, its language): the page's language, else the default, else any."""
    texts = texts or {}
    for lang in (page_language(), settings().default_language, *texts):
        if texts.get(lang):
            return texts[lang], lang
    return "", settings().default_language


@bp.app_context_processor
def consultation_helpers() -> dict[str, object]:
    """Helpers for the consultation and broadcast templates."""
    return {
        "status_name": status_name,
        "kind_name": kind_name,
        "decider_name": decider_name,
        "language_of": language,
        "text_dir": text_dir,
        "local_time": local,
        "money": money,
        "pick_text": pick,
        "page_url": page_url,
    }


def _consultation(code: str) -> Consultation:
    found = consultations_ops.find(code)
    if found is None:
        abort(404)
    return found


# ---------------------------------------------------------------------- the list


@bp.get("/consultations")
@requires(StaffRole.VIEWER)
def consultations():
    """Every consultation, newest first, with a filter by status; paged."""
    status = request.args.get("status", "")
    if status not in CONSULTATION_STATUSES:
        status = ""
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    query = select(Consultation)
    counting = select(func.count()).select_from(Consultation)
    if status:
        query = query.where(Consultation.status == status)
        counting = counting.where(Consultation.status == status)
    total = db.session.execute(counting).scalar_one()
    rows = list(
        db.session.execute(
            query.order_by(Consultation.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).scalars()
    )
    participants = consultations_ops.participant_counts([c.id for c in rows])
    return render_template(
        "staff/consultations.html",
        rows=rows,
        participants=participants,
        status=status,
        statuses=CONSULTATION_STATUSES,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


# ---------------------------------------------------------------------- one consultation


@bp.get("/consultations/<code>")
@requires(StaffRole.VIEWER)
def consultation(code: str):
    """A consultation: its texts, rule, audience, participation and what can be done."""
    found = _consultation(code)
    per_language = broadcasts_ops.audience_by_language(list(found.audience or []))
    audience = sum(per_language.values())
    participants = consultations_ops.participant_counts([found.id]).get(found.id, 0)
    broadcasts = list(
        db.session.execute(
            select(Broadcast)
            .where(Broadcast.consultation_id == found.id)
            .order_by(Broadcast.id.desc())
            .limit(20)
        ).scalars()
    )
    return render_template(
        "staff/consultation.html",
        consultation=found,
        audience=audience,
        participants=participants,
        broadcasts=broadcasts,
        languages=[lang for lang in LANGUAGES if _written(found, lang)],
        timezone=settings().timezone,
    )


def _written(consultation: Consultation, lang: str) -> bool:
    return any(
        (getattr(consultation, field) or {}).get(lang) for field in ("title", "summary", "body")
    )


# ---------------------------------------------------------------------- drafting


def _form_page(form: ConsultationForm, found: Consultation | None, status: int = 200):
    chorus = settings()
    return (
        render_template(
            "staff/consultation_form.html",
            form=form,
            consultation=found,
            figures=sms_figures(form, found),
            languages=_languages_in_order(),
            script_languages=" ".join(LANGUAGES),
            default_language=chorus.default_language,
            price=price_text(),
            price_amount=chorus.sms_price_per_segment,
            currency=chorus.sms_price_currency,
            budget=broadcasts_ops.SEGMENT_BUDGET,
            timezone=chorus.timezone,
        ),
        status,
    )


def _languages_in_order() -> list[str]:
    """The default language first, then the others in the usual order."""
    default = settings().default_language
    return [default, *(lang for lang in LANGUAGES if lang != default)]


def _edit(form: ConsultationForm, found: Consultation | None):
    """One POST of the form: check, more rows, or save."""
    action = request.form.get("action", "save")
    if action == "more_options":
        form.more_rows()
        return _form_page(form, found)
    if action == "check":
        return _form_page(form, found)
    if not form.check():
        return _form_page(form, found, 422)
    try:
        if found is None:
            saved = consultations_ops.create(
                form.payload(), actor=actor(), timezone=settings().timezone
            )
        else:
            saved = consultations_ops.update(
                found, form.payload(), actor=actor(), timezone=settings().timezone
            )
    except DomainError as refusal:
        db.session.rollback()
        if found is not None:
            found = _consultation(found.code)  # as saved, after the rollback
        form.refused(refusal.message)
        return _form_page(form, found, refusal.status)
    db.session.commit()
    flash(gettext("Draft %(code)s saved.", code=saved.code))
    return redirect(page_url("staff.consultation", code=saved.code), code=303)


@bp.route("/consultations/new", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def consultation_new():
    """Draft a new consultation."""
    form = ConsultationForm(groups=known_groups())
    if request.method == "GET":
        return _form_page(form, None)
    return _edit(form, None)


@bp.route("/consultations/<code>/edit", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def consultation_edit(code: str):
    """Edit a draft (only a draft: an open consultation's texts are what was sent)."""
    found = _consultation(code)
    if found.status != "draft":
        flash(gettext("Only a draft can be edited; %(code)s is not one.", code=found.code), "error")
        return redirect(page_url("staff.consultation", code=found.code), code=303)
    form = ConsultationForm(new=False, groups=known_groups(list(found.audience or [])))
    if request.method == "GET":
        form.fill(found)
        return _form_page(form, found)
    return _edit(form, found)


# ---------------------------------------------------------------------- open and close


def _change(code: str, what: str):
    """Open or close, with a confirmation page first (GET) and the change on POST."""
    found = _consultation(code)
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 200 if request.method == "GET" else 400
        per_language = broadcasts_ops.audience_by_language(list(found.audience or []))
        return render_template(
            "staff/consultation_change.html",
            consultation=found,
            what=what,
            form=form,
            audience=sum(per_language.values()),
        ), status
    change = consultations_ops.open_ if what == "open" else consultations_ops.close
    try:
        change(found, actor=actor())
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        return redirect(page_url("staff.consultation", code=code), code=303)
    db.session.commit()
    if what == "open":
        flash(gettext("%(code)s is open for replies.", code=found.code))
    else:
        flash(gettext("%(code)s is closed: later replies are refused.", code=found.code))
    return redirect(page_url("staff.consultation", code=found.code), code=303)


@bp.route("/consultations/<code>/open", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def consultation_open(code: str):
    """Open a draft for replies (a confirmation page first)."""
    return _change(code, "open")


@bp.route("/consultations/<code>/close", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def consultation_close(code: str):
    """Close an open consultation (a confirmation page first)."""
    return _change(code, "close")
