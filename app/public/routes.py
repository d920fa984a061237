"""Public page routes: the front page, consultations, the register, receipts, personal pages.

Pages are small, server-rendered and need no JavaScript. Public pages carry an ETag
and `no-cache`: the browser asks again each time (a vote just cast must show) and a
page that has not changed comes back as an empty 304, so on a costly connection a
reload costs a few hundred bytes. Receipt and personal pages are never cached and never
send a Referer (their URLs are the secret).

Rate limits (Flask-Limiter, in Redis when REDIS_URL is set, so every web process shares
them): receipt lookups per address, so receipts cannot be guessed by the million;
"Text me my link" per address and per number, plus LINK_TEXTS_PER_DAY texts a day in
all, counted in the database. Past a limit the answer is 429.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext
from werkzeug.exceptions import NotFound

from ..config import LANGUAGES, settings
from ..domain import Conflict, Invalid, comments, grammar, links, register
from ..domain.broadcasts import instructions
from ..domain.votes import current_vote, record_vote
from ..extensions import db, limiter
from ..models import Consultation, Member
from ..phones import try_e164
from ..tasks.outbox import send_text
from . import present

bp = Blueprint("public", __name__)

MAX_COMMENT = 1600
LANG_COOKIE_AGE = 365 * 24 * 3600
#: Receipt lookups per address: plenty for people checking their votes, far too few to
#: guess a receipt (about 2^41 per consultation).
RECEIPT_LOOKUPS_PER_ADDRESS = "30 per minute;300 per day"
#: "Text me my link": requests per address, and texts asked for one number.
LINK_REQUESTS_PER_ADDRESS = "5 per 10 minutes;20 per day"
LINK_REQUESTS_PER_NUMBER = "3 per day"


@bp.context_processor
def _present() -> dict:
    """The presentation helpers, for this blueprint's templates: `p.when(...)`."""
    return {"p": present}


@bp.app_context_processor
def _languages() -> dict:
    """`page_languages` for base.html's language links: (code, own name) pairs."""
    return {"page_languages": [(code, grammar.language_name(code)) for code in LANGUAGES]}


@bp.after_request
def remember_language(response):
    """A ?lang= choice sticks: it is kept in the `lang` cookie that select_locale reads."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES and request.cookies.get("lang") != wanted:
        response.set_cookie(
            "lang", wanted, max_age=LANG_COOKIE_AGE, samesite="Lax", httponly=True, secure=False
        )
    return response


def _public(response):
    """Cache headers for a public page, and 304 when the reader already has it."""
    response.headers["Cache-Control"] = "public, no-cache"
    response.vary.update(("Accept-Language", "Cookie"))
    response.add_etag()
    return response.make_conditional(request)


def _private(response):
    """Headers for a page whose URL is a secret: not cached, not indexed, no Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _page(template: str, status: int = 200, **values):
    response = current_app.make_response((render_template(template, **values), status))
    return response


@bp.errorhandler(NotFound)
def not_found(_exc):
    """A page of our own for anything missing under the public pages (never a 500)."""
    return _private(_page("public/not_found.html", 404))


@bp.errorhandler(429)
def too_many(_exc):
    """Past a rate limit (receipts, "Text me my link"): wait, then try again."""
    return _private(_page("public/too_many.html", 429))


@bp.get("/")
def home():
    """The front page: where to go next (the register, the phone simulator)."""
    return render_template("home.html")


# ---------------------------------------------------------------------- consultations


@bp.get("/c/<code>")
def consultation(code: str):
    """A consultation's public page: question, rule, dates, how to text, tally, outcome."""
    found = register.public_consultation(code)
    if found is None:
        abort(404)
    return _public(_consultation_page(found))


def _consultation_page(found: Consultation, status: int = 200, **values):
    return _page(
        "public/consultation.html",
        status,
        c=found,
        results=register.results(found),
        instructions=instructions(found, present.language()),
        number=settings().twilio_from,
        **values,
    )


def _typed_number() -> str:
    """The rate-limit key of the number typed into "Text me my link" (as E.164)."""
    raw = (request.form.get("phone") or "")[:40]
    return "link-number:" + (try_e164(raw, settings().default_region) or "invalid")


def _answered(response) -> bool:
    """Only a request that got the answer page counts against its number's limit."""
    return response.status_code == 200


@bp.post("/c/<code>/link")
@limiter.limit(LINK_REQUESTS_PER_NUMBER, key_func=_typed_number, deduct_when=_answered)
@limiter.limit(LINK_REQUESTS_PER_ADDRESS)
def text_me_my_link(code: str):
    """ "Text me my link": the member's personal link, by text, to the number typed.

    The answer is the same page whether or not the number is a member's (no way to
    learn who is): members who may be texted (active, in the consultation's audience)
    get the text, nobody else does. A number that is not one is refused (422) and
    nothing is written; past a limit, or the day's LINK_TEXTS_PER_DAY, 429 for all.
    """
    found = register.public_consultation(code)
    if found is None or found.status != "open":
        abort(404)
    current = settings()
    raw = (request.form.get("phone") or "").strip()
    phone = try_e164(raw[:40], current.default_region)
    if phone is None:
        error = gettext("That is not a mobile number we can text. Please check it and try again.")
        response = _consultation_page(found, 422, link_error=error, link_phone=raw[:40])
        return _private(response)
    if links.cap_reached(current):
        db.session.rollback()
        abort(429)
    wanted = links.link_text(current, phone, found, base_url=request.host_url)
    if wanted is None:
        db.session.rollback()
    else:
        member, body = wanted
        send_text(
            phone=phone, body=body, kind="link", member_id=member.id, consultation_id=found.id
        )
    return _private(_page("public/link_sent.html", c=found, phone=phone))


@bp.get("/decisions")
def decisions():
    """The public register of every consultation and decision, newest first."""
    page = request.args.get("page", "1")
    page_number = int(page) if page.isdecimal() and len(page) < 7 else 1  # not "²"
    listing = register.register(page_number)
    response = _page("public/decisions.html", listing=listing, log=register.audit_head())
    return _public(response)


@bp.get("/decisions/log")
def audit_log():
    """Whether the tamper-evident audit log's hash chain holds, and its head."""
    response = _page("public/log.html", log=register.audit_check())
    return _public(response)


@bp.get("/privacy")
def privacy():
    """What Chorus keeps about members, why, for how long, and how to get a copy or
    have it erased (by asking staff)."""
    current = settings()
    response = _page(
        "public/privacy.html",
        org=current.org_name,
        days=current.message_retention_days,
        number=current.twilio_from,
    )
    return _public(response)


# ---------------------------------------------------------------------- receipts


@bp.get("/receipts")
def receipt_lookup():
    """The receipt form's target (a GET form): go to the receipt's own page."""
    code = request.args.get("consultation", "").strip()
    receipt = request.args.get("receipt", "").strip()
    if not code and not receipt:
        return _private(_page("public/receipt_lookup.html"))
    if not code or not receipt:
        error = gettext("Give the consultation code and the receipt from your text.")
        return _private(
            _page("public/receipt_lookup.html", 422, error=error, code=code, receipt=receipt)
        )
    cleaned = register.normalise_receipt(receipt) or receipt[:40]
    target = url_for(
        "public.receipt", code=code[:12].upper(), receipt=cleaned, lang=request.args.get("lang")
    )
    return redirect(target, code=303)


@bp.get("/receipts/<code>/<receipt>")
@limiter.limit(RECEIPT_LOOKUPS_PER_ADDRESS)
def receipt(code: str, receipt: str):
    """Does my vote count, and as what: the choice, channel, last change, open or closed."""
    found = register.find_receipt(code, receipt)
    if found is None:
        consultation = register.public_consultation(code)
        response = _page(
            "public/receipt_lookup.html",
            404,
            missing=True,
            consultation=consultation,
            code=code[:12].upper(),
            receipt=receipt[:40],
        )
        return _private(response)
    consultation, vote = found
    response = _page("public/receipt.html", c=consultation, vote=vote)
    return _private(response)


# ---------------------------------------------------------------------- personal pages


class LinkGone(NotFound):
    """A personal link that opens nothing (any more)."""


@bp.errorhandler(LinkGone)
def link_gone(_exc):
    """Not found, saying why a link may stop working and how to get a new one."""
    return _private(_page("public/not_found.html", 404, link_gone=True))


def _personal(token: str) -> tuple[Member, Consultation]:
    """The member and consultation a live token opens; 404 when the token is unknown,
    replaced, revoked or expired, or the consultation is a draft."""
    found = links.find(token)
    if found is None or found[1].status == "draft":
        raise LinkGone()
    return found


def _personal_language(member: Member) -> str:
    """?lang=, else the visitor's cookie, else the member's own language."""
    for wanted in (request.args.get("lang"), request.cookies.get("lang"), member.language):
        if wanted in LANGUAGES:
            return wanted
    return settings().default_language


def _personal_page(
    token: str,
    member: Member,
    consultation: Consultation,
    status: int = 200,
    *,
    error: str | None = None,
    chosen: str | None = None,
    comment: str = "",
):
    with force_locale(_personal_language(member)):
        vote = current_vote(consultation, member)
        html = render_template(
            "public/personal.html",
            c=consultation,
            token=token,
            vote=vote,
            chosen=chosen if chosen is not None else (vote.choice if vote else None),
            comment=comment,
            error=error,
            refusal=links.refusal(member, consultation),
            stopped=member.status == "opted_out",
            form_key=links.form_key(token),
            saved=request.args.get("saved"),
            max_comment=MAX_COMMENT,
            number=settings().twilio_from,
        )
    return _private(current_app.make_response((html, status)))


@bp.get("/v/<token>")
def personal(token: str):
    """A member's own page for one consultation: vote, change the vote, comment."""
    member, consultation = _personal(token)
    return _personal_page(token, member, consultation)


@bp.post("/v/<token>")
def personal_vote(token: str):
    """Record the vote (channel web) and the comment, then show the page with the receipt."""
    member, consultation = _personal(token)
    choice = request.form.get("choice", "").strip()
    # PostgreSQL text cannot hold NUL: drop it rather than fail the post.
    comment = request.form.get("comment", "").replace("\r\n", "\n").replace("\x00", "").strip()
    with force_locale(_personal_language(member)):
        problem, status = _check_post(token, member, consultation, choice, comment)
    if problem is not None:
        return _personal_page(
            token, member, consultation, status, error=problem, chosen=choice, comment=comment
        )
    try:
        if choice:
            record_vote(consultation, member, choice, channel="web")
        if comment:
            comments.add(
                consultation_id=consultation.id,
                member_id=member.id,
                body=comment,
                channel="web",
                language=_personal_language(member),
            )
        db.session.commit()
    except (Conflict, Invalid):
        # The page's own checks passed but the domain refused (a close in between).
        db.session.rollback()
        with force_locale(_personal_language(member)):
            error = gettext("Your vote could not be recorded. Nothing was changed.")
        return _personal_page(token, member, consultation, 409, error=error)
    saved = "both" if choice and comment else ("vote" if choice else "comment")
    # Post/redirect/get: a reload shows the page again instead of posting twice.
    target = url_for("public.personal", token=token, saved=saved, lang=request.args.get("lang"))
    return _private(redirect(target, code=303))


def _check_post(
    token: str, member: Member, consultation: Consultation, choice: str, comment: str
) -> tuple[str | None, int]:
    """(message, status) when the post cannot be taken, else (None, 200)."""
    if links.refusal(member, consultation) is not None:
        return gettext("Your vote could not be recorded. Nothing was changed."), 409
    if not links.form_key_ok(token, request.form.get("form_key")):
        return gettext("This form is out of date. Please choose again and send."), 400
    if choice and choice not in consultation.choices:
        return gettext("Please choose one of the options below."), 422
    if len(comment) > MAX_COMMENT:
        return (
            gettext(
                "A comment can be at most %(num)s characters.",
                num=present.number(MAX_COMMENT),
            ),
            422,
        )
    if not choice and not comment:
        if consultation.kind == "open":
            return gettext("Please write a comment before sending."), 422
        return gettext("Please choose one of the options below."), 422
    return None, 200
