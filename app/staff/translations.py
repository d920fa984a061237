"""Staff console: every SMS kind in every language as members receive it, and each
language's review (`/staff/translations`, viewers and up).

Each text is rendered with the worst values it can meet (app.domain.system_texts:
longest codes and numbers, option labels in other scripts and emoji...) and shortened
by the same rule as a real reply, then shown with its characters, segments, encoding
and the shortening step it needed; a text over its budget is flagged (the budget test
means there should be none). The review status and reviewer come from the table in
translations/README.md. Rendering a language takes a few hundred milliseconds, so it
is done once per process and language: the catalogs only change with a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask import render_template, request
from flask_babel import lazy_gettext as _l

from ..config import LANGUAGES, RTL_LANGUAGES
from ..domain import grammar, translation_review
from ..domain.system_texts import WHEN, Catalog, worst_case
from ..models import StaffRole
from ..roles import requires
from ..sms.render import STEPS, budget, kinds
from .blueprint import bp

#: The shortening steps of app.sms.render.STEPS, as the page names them.
STEP_LABELS = (
    _l("as written"),
    _l("option labels replaced by their numbers"),
    _l("titles cut to 20 characters"),
    _l("titles left out"),
)
assert len(STEP_LABELS) == len(STEPS)


@dataclass(frozen=True)
class TextRow:
    """One kind in one language, as the page shows it."""

    kind: str
    when: str
    text: str
    characters: int
    segments: int
    encoding: str
    units: int
    budget: int
    step: int
    step_name: str
    within: bool


@cache
def language_rows(language: str) -> tuple[TextRow, ...]:
    """Every kind in `language` with its costliest worst case (kept for the process;
    needs an app context)."""
    catalog = Catalog(language)
    rows = []
    for kind in kinds():
        case = worst_case(kind, catalog)
        info = case.fitted.info
        rows.append(
            TextRow(
                kind=kind,
                when=WHEN.get(kind, ""),
                text=case.text,
                characters=len(case.text),
                segments=info.segments,
                encoding=info.encoding,
                units=info.units,
                budget=budget(language),
                step=case.fitted.step,
                step_name=case.fitted.step_name,
                within=case.within,
            )
        )
    return tuple(rows)


@bp.get("/translations")
@requires(StaffRole.VIEWER)
def translations():
    """The review table and every SMS kind in every language (or one: ?language=cy)."""
    chosen = request.args.get("language", "")
    shown = [chosen] if chosen in LANGUAGES else list(LANGUAGES)
    try:
        reviews = translation_review.statuses()
        review_error = None
    except translation_review.TranslationError as error:
        reviews, review_error = {}, str(error)
    rows = {language: language_rows(language) for language in LANGUAGES}
    summary = [
        {
            "language": language,
            "name": grammar.language_name(language),
            "review": reviews.get(language),
            "texts": len(rows[language]),
            "over": sum(not row.within for row in rows[language]),
            "most": max((row.segments for row in rows[language]), default=0),
            "budget": budget(language),
        }
        for language in LANGUAGES
    ]
    return render_template(
        "staff/translations.html",
        summary=summary,
        shown=shown,
        chosen=chosen if chosen in LANGUAGES else "",
        rows=rows,
        rtl=RTL_LANGUAGES,
        names={language: grammar.language_name(language) for language in LANGUAGES},
        review_error=review_error,
        step_labels=STEP_LABELS,
    )
