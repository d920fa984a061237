"""Staff console: a consultation's results, its comments (with moderation) and CSV
exports, at /staff/consultations/<code>/results.

The numbers are the results API's (`register.results`, which wraps
`consultations.results`), so the console, the API and the public page agree; the
breakdowns by channel, language and group are counted in SQL (app/domain/results.py).
Viewers read everything and download the exports; organisers also hide and show
comments (app/domain/comments.py, audited).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from babel import dates
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_number, format_percent, get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from ..config import RTL_LANGUAGES, settings
from ..domain import DomainError, grammar, register
from ..domain import comments as comments_ops
from ..domain import consultations as consultations_ops
from ..domain import results as results_ops
from ..extensions import db
from ..models import Consultation, StaffRole
from .access import actor, requires
from .blueprint import bp
from .charts import BarItem, bar_chart

# ---------------------------------------------------------------------- shared by the
# results, assisted-vote and outcome screens


def consultation_or_404(code: str) -> Consultation:
    """The consultation with this code (any case), or a 404 page."""
    found = consultations_ops.find(code)
    if found is None:
        abort(404)
    return found


def page_language() -> str:
    """The console page's language code."""
    return str(get_locale() or settings().default_language)


def share(value: float) -> str:
    """A share (0..1) as a percentage with at most one decimal: 55%, 59.6%."""
    return format_percent(value, "#,##0.#%")


def time_formatter() -> Callable[[datetime], str]:
    """Format moments as the page's short date and time in the organisation's zone; the
    locale and zone are looked up once (a page formats fifty of them)."""
    locale, zone = get_locale(), ZoneInfo(settings().timezone)
    # Converted first: babel's own tzinfo= path costs ten times as much per call.
    return lambda value: dates.format_datetime(value.astimezone(zone), "short", locale=locale)


def choice_label(consultation: Consultation, value: str) -> tuple[str, str]:
    """(label, its language) of one choice: YES/NO/ABSTAIN, or `2. Tuesday`."""
    lang = page_language()
    if consultation.kind == "choice":
        number = int(value)
        label = consultation.option_label(number, lang, settings().default_language)
        labels = consultation.options[number - 1].get("label", {})
        label_lang = next(
            (c for c in (lang, settings().default_language, *labels) if labels.get(c)), lang
        )
        return f"{number}. {label}", label_lang
    words = {"yes": gettext("YES"), "no": gettext("NO"), "abstain": gettext("ABSTAIN")}
    return words.get(value, value), lang


def consultation_links(consultation: Consultation) -> list[tuple[str, str, str]]:
    """(endpoint, url, label) for the consultation's console pages, where they exist: its
    own page (`staff.consultation`, else the list `staff.consultations`), then these three."""
    views = current_app.view_functions
    links = []
    if "staff.consultation" in views:
        links.append(
            (
                "staff.consultation",
                url_for("staff.consultation", code=consultation.code),
                gettext("Consultation"),
            )
        )
    elif "staff.consultations" in views:
        links.append(
            ("staff.consultations", url_for("staff.consultations"), gettext("All consultations"))
        )
    for endpoint, label in (
        ("staff.results", _l("Results")),
        ("staff.assisted", _l("Assisted votes")),
        ("staff.outcome", _l("Outcome")),
    ):
        links.append((endpoint, url_for(endpoint, code=consultation.code), str(label)))
    return links


def consultation_title(consultation: Consultation) -> tuple[str, str]:
    """(title, its language) in the page's language, else the default, else any."""
    titles = consultation.title or {}
    for lang in (page_language(), settings().default_language, *titles):
        if titles.get(lang):
            return titles[lang], lang
    return "", page_language()


# ---------------------------------------------------------------------- words


CHANNELS = {
    "sms": _l("Text message"),
    "web": _l("Web page"),
    "assisted": _l("Assisted (entered by staff)"),
}

STATUSES = {
    "draft": _l("Draft"),
    "open": _l("Open"),
    "closed": _l("Closed"),
    "decided": _l("Decided"),
}

DECIDED_BY = {
    "community": _l("The community decides by vote."),
    "staff": _l("Staff decide, informed by the replies."),
    "allies": _l("The Allies Group advises; staff decide."),
}


def rule_sentences(consultation: Consultation, check: results_ops.RuleCheck) -> list[str]:
    """The quorum and the threshold, reached or not, in words."""
    sentences = [str(DECIDED_BY.get(consultation.decision_by, consultation.decision_by))]
    if check.quorum is None:
        sentences.append(gettext("No quorum is set."))
    elif check.quorum_reached:
        sentences.append(
            gettext(
                "Quorum of %(quorum)s reached: %(count)s took part.",
                quorum=format_number(check.quorum),
                count=format_number(check.participants),
            )
        )
    else:
        sentences.append(
            gettext(
                "Quorum of %(quorum)s not reached: %(count)s took part.",
                quorum=format_number(check.quorum),
                count=format_number(check.participants),
            )
        )
    if consultation.kind == "open":
        sentences.append(gettext("Comments only: there is no vote to count."))
        return sentences
    if check.threshold is None:
        sentences.append(gettext("No threshold is set."))
        return sentences
    threshold = share(check.threshold)
    if not check.cast:
        sentences.append(
            gettext("Threshold %(threshold)s not reached: no votes yet.", threshold=threshold)
        )
        return sentences
    reached = check.threshold_reached
    if consultation.kind == "yes_no":
        yes = share(check.leader_share)
        sentences.append(
            gettext(
                "Threshold %(threshold)s reached: YES has %(share)s.",
                threshold=threshold,
                share=yes,
            )
            if reached
            else gettext(
                "Threshold %(threshold)s not reached: YES has %(share)s.",
                threshold=threshold,
                share=yes,
            )
        )
        return sentences
    if len(check.leaders) > 1:
        names = ", ".join(choice_label(consultation, value)[0] for value in check.leaders)
        sentences.append(
            gettext(
                "Threshold %(threshold)s not reached: %(options)s are tied at %(share)s each.",
                threshold=threshold,
                options=names,
                share=share(check.leader_share),
            )
        )
        return sentences
    leader = choice_label(consultation, check.leaders[0])[0]
    if reached:
        sentences.append(
            gettext(
                "Threshold %(threshold)s reached: %(option)s has %(share)s.",
                threshold=threshold,
                option=leader,
                share=share(check.leader_share),
            )
        )
    else:
        sentences.append(
            gettext(
                "Threshold %(threshold)s not reached: %(option)s leads with %(share)s.",
                threshold=threshold,
                option=leader,
                share=share(check.leader_share),
            )
        )
    return sentences


def _row_name(kind: str, key: str) -> str:
    if kind == "channel":
        return str(CHANNELS.get(key, key))
    if kind == "language":
        try:
            return f"{grammar.language_name(key)} ({key})"
        except KeyError:
            return key or gettext("(unknown)")
    return key or gettext("(no group)")


# ---------------------------------------------------------------------- the page


class ModerateForm(FlaskForm):
    """Hide or show one comment: the reason (needed to hide, optional to show)."""

    reason = StringField(
        _l("Reason"), validators=[Length(max=comments_ops.MAX_REASON)], render_kw={"maxlength": 200}
    )


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdecimal() and len(raw) < 7 else 1


def _results_page(
    consultation: Consultation,
    status: int = 200,
    *,
    error: str | None = None,
    error_comment: int | None = None,
    reason: str = "",
):
    answer = register.results(consultation)
    check = results_ops.check_rule(consultation, answer)
    audience = results_ops.audience_size(consultation)
    lang = page_language()
    items = []
    for value in consultation.choices:
        label, label_lang = choice_label(consultation, value)
        items.append(
            BarItem(
                value=value,
                label=label,
                lang=label_lang,
                count=answer["votes"][value],
                count_text=format_number(answer["votes"][value]),
                share_text=share(answer["shares"][value]),
            )
        )
    chart = bar_chart(items, rtl=lang in RTL_LANGUAGES)
    breakdowns = results_ops.breakdowns(consultation)
    tables = [
        ("channel", gettext("By channel"), breakdowns.channel),
        ("language", gettext("By language"), breakdowns.language),
        ("group", gettext("By group"), breakdowns.group),
    ]
    listing = comments_ops.page(consultation.id, _page_number())
    html = render_template(
        "staff/results.html",
        c=consultation,
        title=consultation_title(consultation),
        answer=answer,
        check=check,
        rule=rule_sentences(consultation, check),
        audience=audience,
        participation=share(answer["participants"] / audience) if audience else None,
        chart=chart,
        items=items,
        tables=tables,
        row_name=_row_name,
        listing=listing,
        channels=CHANNELS,
        statuses=STATUSES,
        links=consultation_links(consultation),
        form=ModerateForm(),
        error=error,
        error_comment=error_comment,
        reason=reason,
        rtl_languages=RTL_LANGUAGES,
        number=format_number,
        when=time_formatter(),
    )
    return html, status


@bp.get("/consultations/<code>/results")
@requires(StaffRole.VIEWER)
def results(code: str):
    """The tally as a chart and a table, breakdowns, participation, the rule, comments."""
    return _results_page(consultation_or_404(code))


def _back(consultation: Consultation, comment_id: int):
    target = url_for(
        "staff.results",
        code=consultation.code,
        page=request.args.get("page") or None,
        _anchor=f"comment-{comment_id}",
    )
    return redirect(target, code=303)


def _moderate(code: str, comment_id: int, hide: bool):
    consultation = consultation_or_404(code)
    try:
        comment = comments_ops.get(consultation.id, comment_id)
    except DomainError:
        abort(404)
    form = ModerateForm()
    reason = (form.reason.data or "").strip()
    if not form.validate_on_submit():
        message = " ".join(form.reason.errors) or gettext("The form had expired. Please try again.")
        db.session.rollback()
        return _results_page(
            consultation, 422, error=message, error_comment=comment_id, reason=reason
        )
    try:
        if hide:
            comments_ops.hide(comment, reason, actor=actor(), code=consultation.code)
        else:
            comments_ops.show(comment, reason, actor=actor(), code=consultation.code)
    except DomainError as exc:
        db.session.rollback()
        message = (
            gettext("Give a reason for hiding this comment.")
            if hide and not reason
            else gettext("That could not be done: %(why)s.", why=exc.message)
        )
        return _results_page(
            consultation, exc.status, error=message, error_comment=comment_id, reason=reason
        )
    db.session.commit()
    if hide:
        flash(gettext("Comment %(id)s is hidden from the public pages.", id=comment_id))
    else:
        flash(gettext("Comment %(id)s is shown again.", id=comment_id))
    return _back(consultation, comment_id)


@bp.post("/consultations/<code>/comments/<int:comment_id>/hide")
@requires(StaffRole.ORGANISER)
def comment_hide(code: str, comment_id: int):
    """Hide a comment, with a reason (audited)."""
    return _moderate(code, comment_id, hide=True)


@bp.post("/consultations/<code>/comments/<int:comment_id>/show")
@requires(StaffRole.ORGANISER)
def comment_show(code: str, comment_id: int):
    """Show a hidden comment again (audited)."""
    return _moderate(code, comment_id, hide=False)


# ---------------------------------------------------------------------- CSV exports

#: A cell starting with one of these would be a formula in a spreadsheet: a quote
#: in front keeps what members wrote as text (OWASP's advice on CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(
    app: Flask, header: list[str], rows: Callable[[], Iterable[tuple[Any, ...]]]
) -> Iterator[str]:
    """The CSV text, a line at a time (streamed to the browser). The rows are read
    inside an app context of the generator's own: the request's is gone by the time
    the server sends the body, and a download never started costs nothing."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    with app.app_context():
        for row in rows():
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([_cell(value) for value in row])
            yield buffer.getvalue()


def _download(
    name: str, header: list[str], rows: Callable[[], Iterable[tuple[Any, ...]]]
) -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app
    response = Response(_csv(app, header, rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/consultations/<code>/comments.csv")
@requires(StaffRole.VIEWER)
def comments_csv(code: str):
    """Every comment: id, time, channel, language, visible, reason, body, member id."""
    consultation = consultation_or_404(code)
    header = ["id", "time", "channel", "language", "visible", "reason", "body", "member_id"]
    rows = partial(comments_ops.export_rows, consultation.id)
    return _download(f"{consultation.code}-comments.csv", header, rows)


@bp.get("/consultations/<code>/votes.csv")
@requires(StaffRole.VIEWER)
def votes_csv(code: str):
    """Every current vote, anonymous: choice, channel, language, groups, time."""
    consultation = consultation_or_404(code)
    header = ["choice", "channel", "language", "groups", "time"]
    rows = partial(results_ops.anonymous_votes, consultation.id)
    return _download(f"{consultation.code}-votes.csv", header, rows)
