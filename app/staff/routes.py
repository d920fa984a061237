"""Staff console routes: sign-in and the phone simulator."""

from __future__ import annotations

import uuid

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext
from sqlalchemy import select

from ..api.auth import find_token
from ..config import RTL_LANGUAGES, settings
from ..domain.inbound import handle_inbound
from ..extensions import db
from ..models import Member, Message
from ..phones import try_e164
from ..tasks.outbox import enqueue_queued
from .auth import check_csrf, csrf_token, safe_next, signed_in, staff_required

bp = Blueprint("staff", __name__, url_prefix="/staff")

CONVERSATION_LIMIT = 200
MEMBER_LIMIT = 500
MAX_BODY = 1600


@bp.app_context_processor
def page_language() -> dict[str, str]:
    """`page_lang` and `page_dir` for base.html's <html lang dir> on every page."""
    lang = str(get_locale() or settings().default_language)
    return {"page_lang": lang, "page_dir": "rtl" if lang in RTL_LANGUAGES else "ltr"}


@bp.get("/login")
def login():
    """The staff sign-in form."""
    return _login_page()


@bp.post("/login")
def login_post():
    """Exchange a staff API token for a signed-in session."""
    check_csrf()
    row = find_token(request.form.get("token", ""))
    if row is None:
        return _login_page(gettext("That token is not valid."), 401)
    session.clear()  # a fresh session on sign-in: nothing carried over from before
    session["staff_token"] = row.id
    return redirect(safe_next(request.args.get("next")), code=303)


@bp.post("/logout")
def logout():
    """Sign out."""
    check_csrf()
    session.clear()
    return redirect(url_for("staff.login"), code=303)


def _login_page(error: str | None = None, status: int = 200):
    return render_template("staff_login.html", error=error, csrf_token=csrf_token()), status


def _conversation(phone: str | None) -> list[Message]:
    """Every message to or from `phone` (inbound, replies, broadcasts), oldest first."""
    if not phone:
        return []
    rows = db.session.execute(
        select(Message)
        .where(Message.phone == phone)
        .order_by(Message.id.desc())
        .limit(CONVERSATION_LIMIT)
    ).scalars()
    return list(reversed(list(rows)))


def _page(phone: str | None, error: str | None = None, body: str = "", status: int = 200):
    members = db.session.execute(
        select(Member).order_by(Member.name, Member.phone).limit(MEMBER_LIMIT)
    ).scalars()
    member = None
    if phone:
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar()
    return (
        render_template(
            "simulator.html",
            members=list(members),
            phone=phone or "",
            member=member,
            messages=_conversation(phone),
            error=error,
            body=body,
            max_body=MAX_BODY,
            csrf_token=csrf_token(),
            staff=signed_in(),
        ),
        status,
    )


@bp.get("/simulator")
@staff_required
def simulator():
    """Pick a member or type a number, and see that phone's conversation."""
    region = settings().default_region
    raw = request.args.get("phone", "").strip()
    phone = try_e164(raw, region) if raw else None
    if raw and phone is None:
        return _page(None, gettext("That is not a phone number we can use."), status=422)
    return _page(phone)


@bp.post("/simulator")
@staff_required
def simulator_send():
    """Text in as that phone, through the same domain code as the Twilio webhook."""
    chorus = settings()
    raw = (request.form.get("phone") or request.form.get("member") or "").strip()
    body = request.form.get("body", "")
    phone = try_e164(raw, chorus.default_region) if raw else None
    if phone is None:
        error = gettext("Choose a member or type a phone number.")
        if raw:
            error = gettext("That is not a phone number we can use.")
        return _page(None, error, body=body, status=422)
    if len(body) > MAX_BODY:
        error = gettext("A text can be at most %(n)d characters.", n=MAX_BODY)
        return _page(phone, error, body=body, status=422)
    # A sid of our own, shaped like Twilio's, so the simulator gets exactly-once too.
    sid = "SM" + uuid.uuid4().hex + "sim"
    result = handle_inbound(chorus, sid, phone, chorus.twilio_from or "", body)
    if not result.committed:  # the same rule as the webhook
        db.session.commit()
    enqueue_queued(result.queued)
    page = url_for("staff.simulator", phone=phone, lang=request.args.get("lang"), _anchor="latest")
    return redirect(page, code=303)
