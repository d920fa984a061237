"""The wording of vote confirmations, shared by the full and the fast inbound paths.

A vote read from a slip of a vote word ("yse", see app/domain/typos.py) gets a
confirmation that says what was read (`vote_typo`, `vote_typo_comment`,
`vote_typo_other`: `P12: we read "yse" as YES and counted it...`), so the member can
put it right; `confirm_vote` chooses.

`consultation` here is anything with the `code`, `kind` and `option_label` of a
Consultation (the ORM row, or `inbound_fast.Row`).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from flask import has_app_context
from flask_babel import force_locale, gettext

from ..sms.render import Option, render, render_fitted
from .typos import MAX_SLIP

TYPED_CHARS = MAX_SLIP  # a member's word quoted in a confirmation is cut to this
RTL = frozenset({"ar", "ur"})
FSI, PDI = "\u2068", "\u2069"  # first-strong isolate and its end


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


def echo(word: str, language: str) -> str:
    """A member's word as a confirmation quotes it: at most TYPED_CHARS characters and, in
    a right-to-left text, isolated, so a Latin word cannot turn the sentence around it."""
    word = word[:TYPED_CHARS]
    return f"{FSI}{word}{PDI}" if language in RTL else word


def confirm_vote(
    consultation: Confirmable,
    language: str,
    *,
    choice: str,
    previous: str | None,
    receipt: str,
    other: str | None,
    with_comment: bool,
    changed: bool,
    typed: str | None = None,
) -> tuple[str, str]:
    """The kind and text of a recorded vote's confirmation.

    `typed` is the member's word when the vote was read from a slip (Intent.typo): the
    reply then says what was read. Should that go over the budget (a word in another
    script turns an English text into UCS-2), the usual confirmation is sent instead;
    it names the choice too.
    """
    if typed:
        kind = "vote_typo_comment" if with_comment else "vote_typo"
        if other:
            kind = "vote_typo_other"
        values: dict[str, Any] = {
            "code": consultation.code,
            "typed": echo(typed, language),
            "vote": choice_label(consultation, choice, language),
            "receipt": receipt,
        }
        if other:
            values["other"] = other
        fitted = render_fitted(kind, language, values)
        if fitted.within:
            return kind, fitted.text
    kind = vote_reply_kind(with_comment, other, changed)
    text = vote_confirmation(
        kind,
        consultation,
        language,
        choice=choice,
        previous=previous,
        receipt=receipt,
        other=other,
    )
    return kind, text
