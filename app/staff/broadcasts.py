"""Console: broadcasting a consultation (preview, confirm, schedule), reminders, and
every broadcast's progress with pause, resume and cancel.

The preview is app/domain/broadcasts.py's, the one the API answers and the sender
renders from, so the text shown is the text sent. Creating, pausing, resuming and
cancelling go through the same domain and task functions as the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, DateTimeLocalField, HiddenField, RadioField, SelectChoice
from wtforms.validators import AnyOf, Optional

from ..config import LANGUAGES, settings
from ..domain import DomainError
from ..domain import broadcasts as broadcasts_ops
from ..domain import consultations as consultations_ops
from ..domain.outbox.quiet import quiet_until
from ..extensions import db
from ..models import BROADCAST_STATUSES, Broadcast, Consultation, StaffRole, utcnow
from ..tasks import broadcasts as broadcast_tasks
from .access import actor, requires
from .blueprint import bp
from .figures import cost, duration, figures, language, local, money, page_url
from .forms import ConfirmForm

PAGE_SIZE = 50
#: A progress page reloads itself (no JavaScript) while its broadcast is in these,
#: every REFRESH_SECONDS.
REFRESHING = ("scheduled", "sending")
REFRESH_SECONDS = 5
KINDS = ("summary", "reminder")


class BroadcastForm(FlaskForm):
    """What to send and when: now, or at a time in TIMEZONE (summaries only)."""

    kind = HiddenField(default="summary", validators=[AnyOf(KINDS)])
    when = RadioField(
        _l("When"),
        choices=[
            SelectChoice("now", _l("Now")),
            SelectChoice("later", _l("Later, at the time below")),
        ],
        default="now",
    )
    at = DateTimeLocalField(
        _l("Send at"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"], validators=[Optional()]
    )
    links = BooleanField(_l("Include each member's personal link"), default=False)

    def at_utc(self) -> datetime | None:
        """The chosen time in UTC (None: now)."""
        if self.when.data != "later" or self.at.data is None:
            return None
        zone = ZoneInfo(settings().timezone)
        return self.at.data.replace(tzinfo=zone).astimezone(UTC)

    def check(self) -> bool:
        """The form's checks, and a time that is in the future."""
        ok = self.validate()
        if self.when.data == "later":
            if self.kind.data == "reminder":
                self.when.errors = [gettext("A reminder goes now; it cannot be scheduled.")]
                return False
            at = self.at_utc()
            if at is None:
                if not self.at.errors:
                    self.at.errors = [gettext("Give the date and time to send it.")]
                return False
            if at <= utcnow():
                self.at.errors = [
                    gettext("That time has passed: choose a time in the future, or send now.")
                ]
                return False
        return ok


def _consultation(code: str) -> Consultation:
    found = consultations_ops.find(code)
    if found is None:
        abort(404)
    return found


def _broadcast(broadcast_id: int, lock: bool = False) -> Broadcast:
    try:
        return broadcasts_ops.get(broadcast_id, lock=lock)
    except DomainError:
        abort(404)


def _kind() -> str:
    kind = request.values.get("kind", "summary")
    return kind if kind in KINDS else "summary"


# ---------------------------------------------------------------------- the preview


def _preview(
    consultation: Consultation, kind: str, at: datetime | None, with_links: bool = False
) -> dict[str, Any]:
    """The domain's preview, priced and timed for the page (with each member's personal
    link when `with_links`)."""
    chorus = settings()
    preview = broadcasts_ops.preview(
        consultation, chorus, kind, with_links=with_links, base_url=request.host_url
    )
    rows = []
    for entry in preview["languages"]:
        rows.append(
            {
                "language": language(entry["language"]),
                "text_language": language(entry["text_language"]),
                "figures": figures(entry["body"], entry["recipients"]),
                "within_budget": entry["within_budget"],
            }
        )
    total = preview["total_segments"]
    waits = quiet_until(chorus, at) if chorus.quiet_hours else None
    return {
        **preview,
        "rows": rows,
        "cost": money(cost(total)),
        "duration": duration(total),
        "rate": chorus.sms_max_per_second,
        "quiet_hours": chorus.quiet_hours,
        "waits_until": local(waits) if waits else None,
        "timezone": chorus.timezone,
        "at": local(at) if at else None,
    }


def _new_page(consultation: Consultation, form: BroadcastForm, status: int = 200, error=None):
    kind = form.kind.data if form.kind.data in KINDS else "summary"
    preview = _preview(consultation, kind, None) if consultation.status == "open" else None
    if consultation.status != "open" and status == 200:
        status = 409
    return (
        render_template(
            "staff/broadcast_new.html",
            consultation=consultation,
            form=form,
            kind=kind,
            preview=preview,
            error=error,
            timezone=settings().timezone,
        ),
        status,
    )


@bp.get("/consultations/<code>/broadcast")
@requires(StaffRole.ORGANISER)
def broadcast_new(code: str):
    """What a broadcast (summary, or ?kind=reminder) would send, per language, with its
    recipients, segments, cost and duration; then when to send it."""
    consultation = _consultation(code)
    form = BroadcastForm(kind=_kind())
    return _new_page(consultation, form)


@bp.post("/consultations/<code>/broadcast/confirm")
@requires(StaffRole.ORGANISER)
def broadcast_confirm(code: str):
    """The confirmation step: the numbers again, and one button that sends."""
    consultation = _consultation(code)
    form = BroadcastForm()
    if consultation.status != "open" or not form.check():
        return _new_page(consultation, form, 422)
    at = form.at_utc()
    preview = _preview(consultation, form.kind.data, at, bool(form.links.data))
    if not preview["within_budget"]:
        return _new_page(consultation, form, 422)
    return render_template(
        "staff/broadcast_confirm.html",
        consultation=consultation,
        form=form,
        kind=form.kind.data,
        preview=preview,
        at=at,
    )


@bp.post("/consultations/<code>/broadcast")
@requires(StaffRole.ORGANISER)
def broadcast_send(code: str):
    """Create the broadcast (as the API's /broadcast or /remind does) and show its
    progress."""
    consultation = _consultation(code)
    form = BroadcastForm()
    if not form.check():
        return _new_page(consultation, form, 422)
    chorus = settings()
    try:
        if form.kind.data == "reminder":
            broadcast, recipients = broadcasts_ops.create_reminder(
                consultation,
                actor=actor(),
                settings=chorus,
                with_links=bool(form.links.data),
                base_url=request.host_url,
            )
        else:
            broadcast, recipients = broadcasts_ops.create_summary(
                consultation,
                actor=actor(),
                settings=chorus,
                at=form.at_utc(),
                with_links=bool(form.links.data),
                base_url=request.host_url,
            )
    except DomainError as refusal:
        db.session.rollback()
        consultation = _consultation(code)
        return _new_page(consultation, form, refusal.status, error=refusal.message)
    db.session.commit()
    broadcast_tasks.launch(broadcast)
    if broadcast.status == "scheduled":
        flash(
            gettext(
                "Broadcast scheduled for %(when)s: %(n)d members.",
                when=local(broadcast.scheduled_at),
                n=recipients,
            )
        )
    else:
        flash(gettext("Broadcast started: %(n)d members.", n=recipients))
    return redirect(page_url("staff.broadcast", broadcast_id=broadcast.id), code=303)


# ---------------------------------------------------------------------- the list


@bp.get("/broadcasts")
@requires(StaffRole.VIEWER)
def broadcasts():
    """Every broadcast, newest first, with its progress; paged, filtered by status."""
    status = request.args.get("status", "")
    if status not in BROADCAST_STATUSES:
        status = ""
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    query = select(Broadcast)
    counting = select(func.count()).select_from(Broadcast)
    if status:
        query = query.where(Broadcast.status == status)
        counting = counting.where(Broadcast.status == status)
    total = db.session.execute(counting).scalar_one()
    rows = list(
        db.session.execute(
            query.order_by(Broadcast.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).scalars()
    )
    ids = {row.consultation_id for row in rows if row.consultation_id is not None}
    codes = dict(
        db.session.execute(
            select(Consultation.id, Consultation.code).where(Consultation.id.in_(ids))
        ).all()
    )
    return render_template(
        "staff/broadcasts.html",
        rows=rows,
        codes=codes,
        progress=broadcasts_ops.progress_of(rows),
        status=status,
        statuses=BROADCAST_STATUSES,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


# ---------------------------------------------------------------------- one broadcast


def texts(bodies: dict[str, str]) -> list[dict[str, Any]]:
    """A broadcast's texts, each once, with the languages whose members get it. The
    text's own language: the default language when its members get it too (the usual
    fallback), else the first of them."""
    default = settings().default_language
    groups: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        if lang in bodies:
            # A broadcast with links shows x's where each member's own token goes.
            groups.setdefault(broadcasts_ops.displayed(bodies[lang]), []).append(lang)
    return [
        {
            "languages": [language(lang) for lang in langs],
            "body": body,
            "text_language": language(default if default in langs else langs[0]),
        }
        for body, langs in groups.items()
    ]


def handled(progress: dict[str, int]) -> int:
    """Texts that are settled one way or another: sent, failed, skipped or unknown."""
    return progress["sent"] + progress["failed"] + progress["skipped"] + progress["unknown"]


@bp.get("/broadcasts/<int:broadcast_id>")
@requires(StaffRole.VIEWER)
def broadcast(broadcast_id: int):
    """A broadcast's progress. While it is under way the page reloads itself every
    REFRESH_SECONDS with no JavaScript: a `Refresh` header, which browsers treat as
    <meta http-equiv="refresh">. The page offers to stop that (?auto=off): a reload
    staff cannot turn off would fail WCAG 2.2.1 (Timing Adjustable), and axe-core
    flags any <meta> refresh for that reason, whatever the page offers."""
    found = _broadcast(broadcast_id)
    progress = broadcasts_ops.progress(found)
    consultation = (
        db.session.get(Consultation, found.consultation_id) if found.consultation_id else None
    )
    under_way = found.status in REFRESHING
    auto = request.args.get("auto") != "off"
    page = render_template(
        "staff/broadcast.html",
        broadcast=found,
        consultation=consultation,
        progress=progress,
        handled=handled(progress),
        texts=texts(found.bodies or {}),
        under_way=under_way,
        refresh=under_way and auto,
        refresh_seconds=REFRESH_SECONDS,
        form=ConfirmForm(),
        timezone=settings().timezone,
    )
    headers = {"Refresh": str(REFRESH_SECONDS)} if under_way and auto else {}
    return page, 200, headers


def _act(broadcast_id: int, action: str):
    """Pause, resume or cancel through the domain, as the API does."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    found = _broadcast(broadcast_id, lock=True)
    try:
        getattr(broadcasts_ops, action)(found, actor=actor())
    except DomainError as refusal:
        db.session.rollback()
        flash(refusal.message, "error")
        return redirect(page_url("staff.broadcast", broadcast_id=broadcast_id), code=303)
    db.session.commit()
    if action == "resume":
        broadcast_tasks.after_resume(found)
    flash(
        {
            "pause": gettext("Broadcast paused. Texts already with Twilio still go."),
            "resume": gettext("Broadcast resumed."),
            "cancel": gettext("Broadcast cancelled: every text not yet sent is skipped."),
        }[action]
    )
    return redirect(page_url("staff.broadcast", broadcast_id=broadcast_id), code=303)


@bp.post("/broadcasts/<int:broadcast_id>/pause")
@requires(StaffRole.ORGANISER)
def broadcast_pause(broadcast_id: int):
    """Pause a scheduled or sending broadcast."""
    return _act(broadcast_id, "pause")


@bp.post("/broadcasts/<int:broadcast_id>/resume")
@requires(StaffRole.ORGANISER)
def broadcast_resume(broadcast_id: int):
    """Resume a paused broadcast where it stopped."""
    return _act(broadcast_id, "resume")


@bp.route("/broadcasts/<int:broadcast_id>/cancel", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def broadcast_cancel(broadcast_id: int):
    """Cancel a broadcast, after a confirmation page."""
    if request.method == "POST":
        return _act(broadcast_id, "cancel")
    found = _broadcast(broadcast_id)
    return render_template(
        "staff/broadcast_cancel.html",
        broadcast=found,
        progress=broadcasts_ops.progress(found),
        form=ConfirmForm(),
    )
