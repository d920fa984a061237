"""Every system text (each kind in `messages/`) with the worst values it can meet.

What a member receives depends on values Chorus fills in: codes, numbers, the
organisation's name, dates, and words staff wrote (option labels, titles). This module
says, for every template variable, the worst values it can take, and renders every
kind in a language with every combination that matters, through the shortening rule
of `app.sms.render`, so that

* tests/test_message_budget.py proves each kind fits its budget in every language,
* the staff page /staff/translations shows each text as members receive it, and
* `flask translations import` refuses a translation that would go over.

Worst values (see VARIABLES): codes of 3 letters and 4 digits (the longest the API
accepts), counts of 9,999,999 (more people than MAX_QUORUM), the number picking each
plural form at its largest, option 20 (MAX_OPTIONS) with labels in GSM-7 escapes
(two septets each), Welsh, Polish, Romanian, French, Arabic and emoji (two UTF-16 units
each), the language's own YES/NO/ABSTAIN (which never give way to a number), an
ORG_NAME of 20 GSM-7 characters that starts with a Latin letter and costs 39 septets,
each language's longest closing date, and a 12-letter word read from a typo.

A new template variable must be added to VARIABLES: `worst_cases` raises KeyError
naming it, so the budget test fails until it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import flask_babel
from babel.dates import format_datetime
from jinja2 import Environment, meta

from ..sms import segments
from ..sms.render import (
    Fitted,
    Option,
    StaffText,
    Translations,
    budget,
    environment,
    environment_for,
    kinds,
    render_fitted,
)
from . import grammar
from .broadcasts import CLOSES_FORMAT
from .consultations import MAX_OPTIONS, MAX_QUORUM
from .inbound import TALLY_TOP, language_menu
from .links import TOKEN_LENGTH
from .replies import TYPED_CHARS, echo
from .votes import RECEIPT_ALPHABET, RECEIPT_LENGTH

#: The largest count a text shows: more people than any community (MAX_QUORUM).
MAX_COUNT = 9_999_999
assert MAX_COUNT > MAX_QUORUM
#: ORG_NAME: 20 GSM-7 characters (app.config refuses more); "€" costs two septets, and a
#: Latin first letter checks that right-to-left texts do not begin with it.
WORST_ORG = "X" + "€" * 19
WORST_CODE = "ABC1234"  # CODE: 1-3 letters then 1-4 digits
WORST_OTHER = "ABD1234"
WORST_RECEIPT = RECEIPT_ALPHABET[-1] * RECEIPT_LENGTH
#: PUBLIC_BASE_URL: keep it to 40 characters (docs/messages.md).
MAX_BASE_URL = "https://" + "x" * 32
#: Option labels as staff might write them (each is cut to 20 characters in a text).
LABELS: dict[str, str] = {
    "GSM-7 escapes": "[€]{€}" * 10,
    "plain": "X" * 100,
    "Welsh": "Ŵyl Haf ar Ŷd y Parc Cymunedol",
    "French": "Écoles et crèches du quartier",
    "Polish": "Łąka przy szkole w Żółtej Dolinie",
    "Romanian": "Școala și spațiul țării noastre",
    "Arabic": "مكتبة الحي الجديدة في المركز",
    "emoji": "🎉🌳" * 20,
}
#: A consultation title (up to 200 characters in the API) for a text that names one.
WORST_TITLE = ("Ŵyl " + "🎉" * 3 + " Gŵyl y Parc ") * 12


# ---------------------------------------------------------------------- catalogs


@dataclass
class Catalog:
    """Where a language's words come from: the app's compiled catalogs (`translations`
    None: needs an app context) or a catalog being checked before it is accepted."""

    language: str
    translations: Translations | None = None
    _env: Environment | None = field(default=None, repr=False)

    @property
    def env(self) -> Environment | None:
        """The Jinja environment for `render_fitted` (None: the app's)."""
        if self.translations is not None and self._env is None:
            self._env = environment_for(self.translations)
        return self._env

    def gettext(self, message: str) -> str:
        if self.translations is not None:
            return self.translations.gettext(message)
        with flask_babel.force_locale(self.language):
            return flask_babel.gettext(message)

    def plural(self, n: int) -> int:
        """The plural form (msgstr index) the catalog picks for `n`."""
        translations: Any = self.translations
        if translations is None:
            with flask_babel.force_locale(self.language):
                translations = flask_babel.get_translations()
        rule: Callable[[int], int] | None = getattr(translations, "plural", None)
        return int(rule(n)) if rule is not None else int(n != 1)

    def vote_words(self) -> list[str]:
        """YES, NO and ABSTAIN in the language, longest first."""
        # The three literals are the msgids of app.domain.replies (extracted there).
        words = [self.gettext("YES"), self.gettext("NO"), self.gettext("ABSTAIN")]
        return sorted(words, key=lambda w: -segments.count(w).units)


# ---------------------------------------------------------------------- variables


@dataclass(frozen=True)
class Variable:
    """A template variable: what it is (for reviewers) and its worst values."""

    description: str
    worst: Callable[[Catalog], list[Any]]


def _one(value: Any) -> Callable[[Catalog], list[Any]]:
    return lambda _catalog: [value]


def plural_numbers(catalog: Catalog) -> list[int]:
    """For each plural form of the catalog, the largest count up to MAX_COUNT that picks
    it (the longest number with that form's words)."""
    largest: dict[int, int] = {}
    for n in itertools.chain(range(200), range(MAX_COUNT - 200, MAX_COUNT + 1)):
        largest[catalog.plural(n)] = n
    return sorted(largest.values())


@cache
def worst_date(language: str) -> str:
    """The longest closing date in `language` as a reminder shows it (CLOSES_FORMAT):
    every day of a year at 23:59, the one with most units, non-GSM first."""
    start = datetime(2027, 1, 1, 23, 59, tzinfo=ZoneInfo("UTC"))
    dates = (
        format_datetime(start + timedelta(days=d), CLOSES_FORMAT, locale=language)
        for d in range(366)
    )
    return max(dates, key=lambda d: (not segments.is_gsm7(d), segments.count(d).units))


@cache
def worst_url() -> str:
    """The longest personal link: MAX_BASE_URL, /v/ and a token (all tokens are as long)."""
    return f"{MAX_BASE_URL}/v/{'X' * TOKEN_LENGTH}"


def _tally(_catalog: Catalog) -> list[Any]:
    numbers = range(MAX_OPTIONS - TALLY_TOP + 1, MAX_OPTIONS + 1)
    return [", ".join(f"{n}:{MAX_COUNT}" for n in numbers)]


#: Template variable -> its description and worst values. `choice` and `previous` come
#: from SCENARIOS instead (they vary together).
VARIABLES: dict[str, Variable] = {
    "org": Variable("the organisation's name (ORG_NAME, up to 20 characters)", _one(WORST_ORG)),
    "code": Variable("a consultation's code, such as P12", _one(WORST_CODE)),
    "other": Variable("the code of another open consultation", _one(WORST_OTHER)),
    "receipt": Variable("the vote's receipt code, 9 letters and digits", _one(WORST_RECEIPT)),
    "choice": Variable(
        "the vote: YES, NO or ABSTAIN in the language, or an option's number and label "
        "(the label may be replaced by the number to keep the text short)",
        lambda c: [],
    ),
    "previous": Variable("the vote before the change (as choice)", lambda c: []),
    "count": Variable(
        "a number: options to choose from, people who took part or comments",
        _one(MAX_OPTIONS),
    ),
    "people": Variable("how many people took part", plural_numbers),
    "comments": Variable("how many comments there are", plural_numbers),
    "yes": Variable("how many voted yes", _one(MAX_COUNT)),
    "no": Variable("how many voted no", _one(MAX_COUNT)),
    "abstain": Variable("how many abstained", _one(MAX_COUNT)),
    "tally": Variable(
        f"the leading options and their votes, such as 2:14, 1:9 (up to {TALLY_TOP})", _tally
    ),
    "date": Variable(
        "when the consultation closes, such as Wed 30 Sep 23:59 (may be absent)",
        lambda c: [None, worst_date(c.language)],
    ),
    "menu": Variable(
        "the numbered list of languages: 1 English, 2 Cymraeg, ...", lambda c: [language_menu()]
    ),
    "name": Variable("the language's own name", lambda c: [grammar.language_name(c.language)]),
    "title": Variable(
        "a consultation's title (cut or left out to keep the text short)",
        _one(StaffText(WORST_TITLE)),
    ),
    "url": Variable("a member's personal link", lambda c: [worst_url()]),
    "vote": Variable(
        "the vote read from a typo: YES, NO or ABSTAIN in the language", lambda c: c.vote_words()
    ),
    "typed": Variable(
        "the member's word read as a vote, such as yse (at most 12 letters; a word in "
        "another script that would go over gets the usual confirmation instead)",
        lambda c: [echo("X" * TYPED_CHARS, c.language)],
    ),
}

#: What a placeholder inside a msgid stands for, where the template renames it.
PLACEHOLDERS: dict[str, str] = {name: v.description for name, v in VARIABLES.items()}


@dataclass(frozen=True)
class Scenario:
    """Staff words for the `choice` and `previous` of a vote confirmation."""

    name: str
    choice: Callable[[Catalog], Any]
    previous: Callable[[Catalog], Any]


def _option(number: int, label: str) -> Callable[[Catalog], Any]:
    return lambda _catalog: Option(number, label)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "vote words",
        lambda c: c.vote_words()[0],
        lambda c: c.vote_words()[1],
    ),
    *(
        Scenario(f"{name} label", _option(MAX_OPTIONS, label), _option(MAX_OPTIONS - 1, label))
        for name, label in LABELS.items()
    ),
)

#: When each kind is sent (the staff page and the CSV export show it).
WHEN: dict[str, str] = {
    "broadcast_choice": "the last line of a choice consultation's summary, before the options",
    "broadcast_open": "the last line of a comments-only consultation's summary",
    "broadcast_yes_no": "the last line of a yes/no consultation's summary",
    "choose_number": "the reply to a vote that is not one of the options",
    "choose_yes_no": "the reply to a number sent to a yes/no consultation",
    "closed": "the reply to a vote or comment after the consultation closed",
    "comment_recorded": "the reply to a comment",
    "comment_recorded_other": "the reply to a comment, when another consultation is open too",
    "comment_to_staff": "the reply to a text when nothing is open (it goes to staff)",
    "empty": "the reply to an empty text",
    "help": "the reply to HELP",
    "join_closed": "the reply to a stranger when open joining is off",
    "joined": "the reply to JOIN: a new member",
    "language_menu": "the reply to LANG alone",
    "language_set": "the reply to LANG with a language",
    "not_in_audience": "the reply to a vote on a consultation for another group",
    "nothing_open": "the reply to a vote when nothing is open",
    "opted_in": "the reply to START after STOP",
    "opted_out": "the reply to STOP",
    "outcome": "the first line of an outcome, before what was decided",
    "reminder": "the first line of a reminder, before the title and options",
    "results_choice": "the reply to RESULTS on a choice consultation",
    "results_open": "the reply to RESULTS on a comments-only consultation",
    "results_private": "the reply to RESULTS when the results are not public",
    "results_yes_no": "the reply to RESULTS on a yes/no consultation",
    "subscribed": "the reply to START from a member who gets texts already",
    "unknown_code": "the reply to a code that names no consultation",
    "vote_changed": "the reply to a vote that replaces an earlier one",
    "vote_comment": "the reply to a vote with a comment",
    "vote_comment_other": "the reply to a vote with a comment, when another is open too",
    "vote_recorded": "the reply to a first vote",
    "vote_recorded_other": "the reply to a first vote, when another consultation is open too",
    "vote_typo": "the reply to a vote read from a typo (yse, tka): says what was read",
    "vote_typo_comment": "the reply to a vote read from a typo, with a comment",
    "vote_typo_other": "the reply to a vote read from a typo, when another is open too",
    "welcome": "the reply to any text from a number that is not a member",
}


# ---------------------------------------------------------------------- templates


def template_variables(kind: str) -> set[str]:
    """The variables message `kind` uses."""
    env = environment()
    assert env.loader is not None  # environment() sets a FileSystemLoader
    source = env.loader.get_source(env, f"{kind}.txt")[0]
    return set(meta.find_undeclared_variables(env.parse(source)))


@cache
def msgids_by_kind() -> dict[str, tuple[str, ...]]:
    """Each kind's msgids (the singular of a plural entry), in template order."""
    env = environment()
    assert env.loader is not None  # environment() sets a FileSystemLoader
    found: dict[str, tuple[str, ...]] = {}
    for kind in kinds():
        source = env.loader.get_source(env, f"{kind}.txt")[0]
        ids: list[str] = []
        # extract_translations is added by jinja2.ext.i18n, as babel's extractor uses it.
        found_here = env.extract_translations(source)  # type: ignore[attr-defined]
        for _line, _function, message in found_here:
            first = message[0] if isinstance(message, tuple) else message
            if isinstance(first, str) and first not in ids:
                ids.append(first)
        found[kind] = tuple(ids)
    return found


def kinds_by_msgid() -> dict[str, list[str]]:
    """msgid -> the kinds whose templates use it."""
    out: dict[str, list[str]] = {}
    for kind, ids in msgids_by_kind().items():
        for msgid in ids:
            out.setdefault(msgid, []).append(kind)
    return out


# ---------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Case:
    """One rendering of a kind: the values used and what the member receives."""

    kind: str
    language: str
    scenario: str
    values: dict[str, Any]
    fitted: Fitted

    @property
    def text(self) -> str:
        return self.fitted.text

    @property
    def within(self) -> bool:
        return self.fitted.within

    @property
    def budget(self) -> int:
        return budget(self.language)

    def severity(self) -> tuple[bool, int, bool, int, int]:
        """Orders cases worst last: over budget, segments, UCS-2, units, step."""
        info = self.fitted.info
        return (
            not self.within,
            info.segments,
            info.encoding == segments.UCS2,
            info.units,
            self.fitted.step,
        )


def value_sets(kind: str, catalog: Catalog) -> Iterator[tuple[str, dict[str, Any]]]:
    """(scenario name, values) for every combination of worst values `kind` can meet.
    KeyError names a variable VARIABLES does not know."""
    names = sorted(template_variables(kind))
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        raise KeyError(
            f"messages/{kind}.txt uses {unknown}: add its worst values to VARIABLES "
            "in app/domain/system_texts.py"
        )
    staff = [n for n in names if n in ("choice", "previous")]
    plain = [n for n in names if n not in staff]
    choices = [VARIABLES[n].worst(catalog) for n in plain]
    scenarios = SCENARIOS if staff else (Scenario("", _none, _none),)
    for scenario in scenarios:
        for combination in itertools.product(*choices):
            values = dict(zip(plain, combination, strict=True))
            if "choice" in staff:
                values["choice"] = scenario.choice(catalog)
            if "previous" in staff:
                values["previous"] = scenario.previous(catalog)
            yield scenario.name, values


def _none(_catalog: Catalog) -> None:
    return None


def worst_cases(kind: str, catalog: Catalog) -> list[Case]:
    """`kind` rendered in the catalog's language with every combination of worst values."""
    return [
        Case(kind, catalog.language, scenario, values,
             render_fitted(kind, catalog.language, values, catalog.env))
        for scenario, values in value_sets(kind, catalog)
    ]  # fmt: skip


def worst_case(kind: str, catalog: Catalog) -> Case:
    """The case of `kind` that costs most (over budget first)."""
    return max(worst_cases(kind, catalog), key=Case.severity)
