"""Staff console: assisted votes, at /staff/consultations/<code>/assisted.

A member who gives their vote by phone, in person or on paper has it entered by an
organiser: found by phone number in any format, recorded by `votes.record_assisted`
(the same `record_vote` as a text, channel `assisted`, entered by the staff account,
audited), so a later vote by any channel replaces it and no vote counts twice. The
confirmation page shows the member's receipt to give back to them.

Opted-out members: their vote is recorded when they ask a person for it (STOP ends
texts, not membership); nothing is texted to them, nor to anyone else, for an
assisted vote. Pending members (who never agreed to join) cannot vote.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from ..config import settings
from ..domain import DomainError
from ..domain import members as members_ops
from ..domain import votes as votes_ops
from ..extensions import db
from ..models import Consultation, Member, StaffRole, Vote
from ..phones import try_e164
from .access import actor, requires
from .blueprint import bp
from .results import (
    STATUSES,
    choice_label,
    consultation_links,
    consultation_or_404,
    consultation_title,
)

RECENT = 20

METHODS = [
    SelectChoice("phone", _l("By phone")),
    SelectChoice("in_person", _l("In person")),
    SelectChoice("paper", _l("On paper")),
]


class AssistedForm(FlaskForm):
    """Who (a phone number in any format), their choice, and how they gave it."""

    phone = StringField(
        _l("Member's phone number"),
        validators=[DataRequired(_l("Enter the member's phone number.")), Length(max=40)],
        render_kw={"autocomplete": "off", "inputmode": "tel", "spellcheck": "false"},
    )
    choice = RadioField(
        _l("Their vote"), validators=[InputRequired(_l("Choose the member's vote."))]
    )
    method = RadioField(
        _l("How they gave it"),
        choices=METHODS,
        validators=[InputRequired(_l("Say how the member gave their vote."))],
    )


def _form(consultation: Consultation) -> AssistedForm:
    form = AssistedForm()
    form.choice.choices = [
        SelectChoice(value, choice_label(consultation, value)[0]) for value in consultation.choices
    ]
    return form


def _why_not(consultation: Consultation) -> str | None:
    """Why no assisted vote can be recorded on this consultation now, or None."""
    if consultation.kind == "open":
        return gettext(
            "%(code)s asks for comments only: there is no vote to record.", code=consultation.code
        )
    if consultation.status != "open":
        return gettext(
            "%(code)s is %(status)s: votes can be recorded only while it is open.",
            code=consultation.code,
            status=str(STATUSES[consultation.status]).lower(),
        )
    return None


def _recent(consultation: Consultation) -> list[tuple[Vote, str]]:
    """The latest assisted votes on the consultation, with each member's phone."""
    rows = db.session.execute(
        select(Vote, Member.phone)
        .join(Member, Member.id == Vote.member_id)
        .where(Vote.consultation_id == consultation.id, Vote.channel == "assisted")
        .order_by(Vote.updated_at.desc(), Vote.id.desc())
        .limit(RECENT)
    )
    return [(vote, phone) for vote, phone in rows]


def _page(consultation: Consultation, form: AssistedForm, status: int = 200):
    html = render_template(
        "staff/assisted.html",
        c=consultation,
        title=consultation_title(consultation),
        form=form,
        why_not=_why_not(consultation),
        links=consultation_links(consultation),
        recent=_recent(consultation),
        label=lambda value: choice_label(consultation, value)[0],
    )
    return html, status


@bp.get("/consultations/<code>/assisted")
@requires(StaffRole.ORGANISER)
def assisted(code: str):
    """The assisted-vote form (or why a vote cannot be recorded now)."""
    consultation = consultation_or_404(code)
    return _page(consultation, _form(consultation))


@bp.post("/consultations/<code>/assisted")
@requires(StaffRole.ORGANISER)
def assisted_post(code: str):
    """Record the vote; the confirmation page shows the receipt."""
    consultation = consultation_or_404(code)
    form = _form(consultation)
    why_not = _why_not(consultation)
    if why_not is not None:
        return _page(consultation, form, 409)
    if not form.validate_on_submit():
        return _page(consultation, form, 422)
    region = settings().default_region
    phone = try_e164(form.phone.data or "", region)
    member = members_ops.find_by_phone(phone, region) if phone else None
    problem = None
    if phone is None:
        problem = gettext(
            "That is not a phone number we can use. Type it as the member gives it, "
            "like 07400 123456 or +44 7400 123456."
        )
    elif member is None:
        problem = gettext("No member has the number %(phone)s.", phone=phone)
    elif member.status == "pending":
        problem = gettext(
            "This member has not agreed to join yet (pending), so they cannot vote. "
            "They can join by texting START."
        )
    elif not votes_ops.in_audience(consultation, member):
        problem = gettext(
            "This member is not in the audience of %(code)s (groups: %(groups)s; "
            "their groups: %(theirs)s).",
            code=consultation.code,
            groups=", ".join(consultation.audience),
            theirs=", ".join(member.groups) or gettext("none"),
        )
    if problem is not None:
        form.phone.errors = [problem]
        return _page(consultation, form, 422)
    assert member is not None
    try:
        result = votes_ops.record_assisted(
            consultation,
            member,
            form.choice.data or "",
            actor=actor(),
            method=form.method.data or "",
        )
    except DomainError as exc:
        # Closed (or the member changed) between the checks above and the write.
        db.session.rollback()
        form.phone.errors = [gettext("The vote was not recorded: %(why)s.", why=exc.message)]
        return _page(consultation, form, exc.status)
    db.session.commit()
    chosen = choice_label(consultation, result.vote.choice)[0]
    if result.created:
        flash(gettext("Vote recorded: %(choice)s.", choice=chosen))
    elif result.changed:
        flash(
            gettext(
                "Vote recorded: %(choice)s. It replaces their earlier vote, %(previous)s.",
                choice=chosen,
                previous=choice_label(consultation, result.previous or "")[0],
            )
        )
    else:
        flash(gettext("Their vote was already %(choice)s: nothing changed.", choice=chosen))
    if member.status == "opted_out":
        flash(gettext("This member has opted out of texts: nothing will be texted to them."))
    target = url_for("staff.assisted_done", code=consultation.code, vote_id=result.vote.id)
    return redirect(target, code=303)


@bp.get("/consultations/<code>/assisted/<int:vote_id>")
@requires(StaffRole.ORGANISER)
def assisted_done(code: str, vote_id: int):
    """The vote as recorded, with the receipt to give back to the member."""
    consultation = consultation_or_404(code)
    row = db.session.execute(
        select(Vote, Member.phone)
        .join(Member, Member.id == Vote.member_id)
        .where(Vote.id == vote_id, Vote.consultation_id == consultation.id)
    ).one_or_none()
    if row is None:
        abort(404)
    vote, phone = row
    base = settings().public_base_url or request.url_root
    path = url_for("public.receipt", code=consultation.code, receipt=vote.receipt)
    receipt_url = base.rstrip("/") + path
    return render_template(
        "staff/assisted_done.html",
        c=consultation,
        title=consultation_title(consultation),
        vote=vote,
        phone=phone,
        choice=choice_label(consultation, vote.choice)[0],
        receipt_url=receipt_url,
        links=consultation_links(consultation),
        channels={"sms": gettext("by text"), "web": gettext("on the web page")},
    )
