"""SMS copy: one Jinja template per message kind in `messages/`, rendered in a locale,
shortened by one rule until it fits its segment budget.

Templates are plain text with `{% trans %}` blocks; gettext catalogs in
`translations/` hold every language. Rendering needs an app context (Flask-Babel's
`force_locale` does nothing outside one), unless the text is drawn with a catalog of
its own (`environment(translations)`, used to check a catalog before it is accepted).

The budget
    A system text (every kind in `messages/`) fits ONE GSM-7 segment in English (160
    characters, no character outside GSM-7) and at most TWO segments in every other
    language (`budget`, `within_budget`).

The shortening rule
    Staff write words that end up inside system texts: an option's label in a vote
    confirmation ("your vote 2 Llyfrgell is counted"), and possibly a consultation's
    title. One letter outside GSM-7 ("Ŵyl", "Écoles", an emoji) turns the whole text
    into UCS-2, where a segment holds 70 units instead of 160. Callers pass such words
    as `Option(number, label)` or `StaffText(text)`, never as plain strings, and
    `render` applies these steps in order, the same in every language, stopping at
    the first text that is within the budget:

    0. as written: an option is its number and its label cut to 20 characters
       (`2 Llyfrgell`), a title is cut to 40 characters at a space;
    1. option labels give way to their numbers (`2`);
    2. titles are cut to 20 characters at a space;
    3. titles are left out.

    Numbers, codes, receipts, the organisation's name and the translations themselves
    are never shortened: `tests/test_message_budget.py` renders every kind in every
    language at the last step with the worst values they can take and proves it fits,
    so the last step always fits. Should a catalog still go over (a translation edited
    by hand and not checked), the text is sent as it is and an error is logged: a
    message cut by a rule would lose the keyword a member needs. See docs/messages.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import flask_babel
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..config import ROOT
from . import segments

log = logging.getLogger(__name__)

MESSAGES_DIR = ROOT / "messages"
_SPACE = re.compile(r"[ \t]*\n[ \t]*|[ \t]{2,}")

LABEL_CHARS = 20  # an option label in a system text is cut to this
TITLE_CHARS = 40  # a title in a system text is cut to this, then to SHORT_TITLE_CHARS
SHORT_TITLE_CHARS = 20
ELLIPSIS = "..."  # three dots: "…" is not GSM-7


class Translations(Protocol):
    """What rendering reads of a gettext catalog (`gettext.GNUTranslations` has it)."""

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...


@cache
def environment() -> Environment:
    """The Jinja environment for SMS copy in the app's catalogs (Flask-Babel's locale)."""
    return _new_environment(flask_babel.gettext, _ngettext)


def environment_for(translations: Translations) -> Environment:
    """An environment drawing texts from `translations` (a catalog being checked)."""
    return _new_environment(translations.gettext, translations.ngettext)


def _new_environment(gettext: Callable[..., str], ngettext: Callable[..., str]) -> Environment:
    env = Environment(
        loader=FileSystemLoader(MESSAGES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,  # not HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # No stat() of the template file on every render: copy changes with a restart.
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        gettext, ngettext, newstyle=True
    )
    return env


def _ngettext(singular: str, plural: str, n: int) -> str:
    """The plural form for `n`, unformatted: Jinja's newstyle ngettext formats it.

    flask_babel.ngettext would format it already, with only `num`, so a pluralized
    `{% trans %}` with other variables failed with a KeyError.
    """
    return flask_babel.get_translations().ungettext(singular, plural, n)


def budget(language: str) -> int:
    """Segments a system message may take: one in English, two in any other language."""
    return 1 if language == "en" else 2


def within_budget(text: str, language: str) -> bool:
    """True when `text` fits the budget of `language` (English: one GSM-7 segment)."""
    return _within(segments.count(text), language)


def _within(info: segments.SegmentInfo, language: str) -> bool:
    if language == "en" and info.encoding != segments.GSM7:
        return False
    return info.segments <= budget(language)


def kinds() -> list[str]:
    """Every message kind (template name without `.txt`)."""
    return sorted(p.stem for p in MESSAGES_DIR.glob("*.txt"))


# ---------------------------------------------------------------------- staff words


@dataclass(frozen=True, slots=True)
class Option:
    """An option of a choice consultation as a system text names it: `2 Library`."""

    number: int
    label: str


@dataclass(frozen=True, slots=True)
class StaffText:
    """Other words staff wrote (a consultation's title) quoted in a system text."""

    text: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the shortening rule: how staff words are shown at this step."""

    name: str
    label_chars: int  # 0: the option's number alone
    title_chars: int  # 0: the title left out


STEPS: tuple[Step, ...] = (
    Step("as written", LABEL_CHARS, TITLE_CHARS),
    Step("option labels replaced by their numbers", 0, TITLE_CHARS),
    Step("titles cut to 20 characters", 0, SHORT_TITLE_CHARS),
    Step("titles left out", 0, 0),
)


def cut(text: str, limit: int, *, ellipsis: bool = False) -> str:
    """`text` on one line, at most `limit` characters. A label is cut where the limit
    falls (its start is what a member recognises); with `ellipsis` (a title) the cut is
    at a space where one is near, and "..." says something was left out."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if not ellipsis:
        return text[:limit].rstrip()
    room = limit - len(ELLIPSIS)
    space = text.rfind(" ", 0, room + 1)
    head = text[:space] if space >= room // 2 else text[:room]
    return head.rstrip(" ,.;:-") + ELLIPSIS


def shown(value: object, step: Step) -> object:
    """A template value as step `step` shows it (anything but staff words: unchanged)."""
    if isinstance(value, Option):
        if not step.label_chars:
            return str(value.number)
        return f"{value.number} {cut(value.label, step.label_chars)}".rstrip()
    if isinstance(value, StaffText):
        return cut(value.text, step.title_chars, ellipsis=True) if step.title_chars else ""
    return value


@dataclass(frozen=True, slots=True)
class Fitted:
    """A rendered system text: what the member gets, at which step, and its cost."""

    text: str
    step: int  # index into STEPS
    info: segments.SegmentInfo
    within: bool

    @property
    def step_name(self) -> str:
        return STEPS[self.step].name


def fit(draw: Callable[[dict[str, Any]], str], language: str, values: Mapping[str, Any]) -> Fitted:
    """Apply the shortening rule: `draw(values as a step shows them)` at each step in
    turn, until the text is within the budget of `language` (see the module docstring).
    Steps that would change nothing are not drawn."""
    previous: dict[str, Any] | None = None
    fitted: Fitted | None = None
    for index, step in enumerate(STEPS):
        now = {name: shown(value, step) for name, value in values.items()}
        if now == previous:
            continue
        previous = now
        text = draw(now)
        info = segments.count(text)
        fitted = Fitted(text, index, info, _within(info, language))
        if fitted.within:
            break
    assert fitted is not None  # the first step is always drawn
    return fitted


def draw(
    kind: str, language: str, values: Mapping[str, Any], env: Environment | None = None
) -> str:
    """The text of `kind` with `values` as given, no shortening (on one line unless the
    template breaks it). `env`: an environment of `environment_for`, else the app's."""
    if env is None:
        template = environment().get_template(f"{kind}.txt")
        with flask_babel.force_locale(language):
            text = template.render(**values)
    else:
        text = env.get_template(f"{kind}.txt").render(**values)
    return _SPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()


def render_fitted(
    kind: str, language: str, values: Mapping[str, Any], env: Environment | None = None
) -> Fitted:
    """Message `kind` in `language`, shortened by the rule until it fits."""
    return fit(lambda now: draw(kind, language, now, env), language, values)


def render(kind: str, language: str, **values: Any) -> str:
    """The text of message `kind` in `language`, shortened by the rule until it fits."""
    fitted = render_fitted(kind, language, values)
    if not fitted.within:
        log.error(
            "message %s in %s is %s segments (%s) at the last shortening step: check the "
            "catalog (flask --app wsgi translations check %s)",
            kind,
            language,
            fitted.info.segments,
            fitted.info.encoding,
            language,
        )
    return fitted.text
