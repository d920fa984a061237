"""The wording of vote confirmations, shared by the full and the fast inbound paths.

`consultation` here is anything with the `code`, `kind` and `option_label` of a
Consultation (the ORM row, or `inbound_fast.Row`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from flask import has_app_context
from flask_babel import force_locale, gettext

from ..sms.render import Option, render


class Confirmable(Protocol):
    """What a confirmation reads of a consultation (see the module docstring)."""

    @property
    def code(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def option_label(self, number: int, language: str, fallback: str = "en") -> str: ...


def choice_label(consultation: Confirmable, choice: str, language: str) -> str | Option:
    """A choice as a confirmation shows it: YES/NO/ABSTAIN in the language, or the
    option (`2 Library`, which `render` may shorten to `2` to keep the budget)."""
    if consultation.kind == "choice":
        return Option(int(choice), consultation.option_label(int(choice), language))
    words = _choice_words(language) if has_app_context() else _words_now(language)
    return words.get(choice, choice)


@cache
def _choice_words(language: str) -> dict[str, str]:
    """YES/NO/ABSTAIN in `language`, kept: the catalogs do not change while the process
    runs. Only inside an app context, where force_locale works."""
    return _words_now(language)


def _words_now(language: str) -> dict[str, str]:
    with force_locale(language):
        return {"yes": gettext("YES"), "no": gettext("NO"), "abstain": gettext("ABSTAIN")}


def vote_reply_kind(with_comment: bool, other: str | None, changed: bool) -> str:
    """Which confirmation a vote gets: with a comment, naming another open one, or a change."""
    if with_comment:
        return "vote_comment_other" if other else "vote_comment"
    if other:
        return "vote_recorded_other"
    return "vote_changed" if changed else "vote_recorded"


def vote_confirmation(
    kind: str,
    consultation: Confirmable,
    language: str,
    *,
    choice: str,
    previous: str | None,
    receipt: str,
    other: str | None,
) -> str:
    """The confirmation text of a recorded vote (`consultation`: anything with the
    `code`, `kind` and `option_label` of a Consultation). An option's label is staff
    text: `render` gives way to the option's number when the label would take the
    reply over its budget (app/sms/render.py, the shortening rule)."""
    values: dict[str, Any] = {
        "code": consultation.code,
        "choice": choice_label(consultation, choice, language),
        "receipt": receipt,
    }
    if other:
        values["other"] = other
    if kind == "vote_changed":
        assert previous is not None  # a changed vote had a choice before
        values["previous"] = choice_label(consultation, previous, language)
    return render(kind, language, **values)
