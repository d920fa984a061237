"""Staff console: sign-in, sign-out and the phone simulator.

The other screens are modules of their own in this package, on the same blueprint
(app/staff/blueprint.py); every route declares who may use it (app/staff/access.py).
"""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext
from sqlalchemy import select, update

from .. import accounts, audit
from ..config import RTL_LANGUAGES, settings
from ..domain.inbound import handle_inbound
from ..extensions import db, limiter
from ..models import Member, Message
from ..phones import try_e164
from ..tasks.outbox import enqueue_queued
from .access import (
    OPEN,
    SIMULATOR,
    actor,
    current_account,
    end_session,
    requires,
    safe_next,
    start_session,
)
from .blueprint import bp
from .forms import ConfirmForm, SignInForm

CONVERSATION_LIMIT = 200
MEMBER_LIMIT = 500
MAX_BODY = 1600
# Failed sign-ins allowed before a wait: per account (whoever tries) and per address.
SIGN_IN_PER_ACCOUNT = "10 per 15 minutes"
SIGN_IN_PER_ADDRESS = "30 per 15 minutes"


@bp.app_context_processor
def page_language() -> dict[str, str]:
    """`page_lang` and `page_dir` for base.html's <html lang dir> on every page."""
    lang = str(get_locale() or settings().default_language)
    return {"page_lang": lang, "page_dir": "rtl" if lang in RTL_LANGUAGES else "ltr"}


def _typed_email() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response) -> bool:
    """Only failed sign-ins count against the limits."""
    return response.status_code != 303


@bp.route("/login", methods=["GET", "POST"])
@requires(OPEN)
@limiter.limit(SIGN_IN_PER_ACCOUNT, key_func=_typed_email, methods=["POST"], deduct_when=_failed)
@limiter.limit(SIGN_IN_PER_ADDRESS, methods=["POST"], deduct_when=_failed)
def login():
    """The sign-in form, and signing in with an email and a password."""
    form = SignInForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("staff/login.html", form=form), status
    account = accounts.authenticate(form.email.data or "", form.password.data or "")
    if account is None:
        known = accounts.find(form.email.data or "")
        audit.record(
            "staff:anonymous",
            "staff.sign_in_failed",
            "staff_account" if known else None,
            known.id if known else None,
            {"address": request.remote_addr or ""},
        )
        db.session.commit()
        form.password.errors = [gettext("That email and password do not match an account.")]
        return render_template("staff/login.html", form=form), 401
    audit.record(
        f"staff:{account.email}",
        "staff.signed_in",
        "staff_account",
        account.id,
        {"address": request.remote_addr or ""},
    )
    db.session.commit()
    start_session(account)
    return redirect(safe_next(request.args.get("next")), code=303)


@bp.errorhandler(429)
def too_many(_error):
    """Too many failed sign-ins: the form again, saying how long to wait."""
    form = SignInForm()
    message = gettext("Too many failed sign-ins. Wait 15 minutes, then try again.")
    return render_template("staff/login.html", form=form, error=message), 429


@bp.post("/logout")
@requires(OPEN)
def logout():
    """Sign out: this session ends, and so does every other session of the account."""
    form = ConfirmForm()
    account = current_account()
    if form.validate_on_submit() and account is not None:
        accounts.end_sessions(account, actor=actor())
        db.session.commit()
    end_session()
    return redirect(url_for("staff.login"), code=303)


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
            staff=current_account(),
        ),
        status,
    )


@bp.get("/simulator")
@requires(SIMULATOR)
def simulator():
    """Pick a member or type a number, and see that phone's conversation."""
    region = settings().default_region
    raw = request.args.get("phone", "").strip()
    phone = try_e164(raw, region) if raw else None
    if raw and phone is None:
        return _page(None, gettext("That is not a phone number we can use."), status=422)
    return _page(phone)


@bp.post("/simulator")
@requires(SIMULATOR)
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
    result = handle_inbound(
        chorus, sid, phone, chorus.twilio_from or "", body, base_url=request.host_url
    )
    if g.staff is not None and result.message_id is not None:
        # Texts typed by signed-in staff are recorded with their account.
        db.session.execute(
            update(Message).where(Message.id == result.message_id).values(entered_by=actor())
        )
        db.session.commit()
    elif not result.committed:  # the same rule as the webhook
        db.session.commit()
    enqueue_queued(result.queued)
    page = url_for("staff.simulator", phone=phone, lang=request.args.get("lang"), _anchor="latest")
    return redirect(page, code=303)
