"""How the public pages say things: dates, decision rules, choices, channels, statuses.

Every word goes through gettext in the page's language; staff-written texts are
picked in that language with a fallback and carry the language they are really in,
so a screen reader reads an English fallback on an Arabic page as English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError, dates
from flask_babel import format_number, format_percent, get_locale, gettext, ngettext

from ..config import RTL_LANGUAGES, settings
from ..domain.register import shorten as cut
from ..models import Consultation


def language() -> str:
    """The page's language code."""
    return str(get_locale() or settings().default_language)


def _fallback() -> str:
    return settings().default_language


@dataclass
class Text:
    """A staff-written text and the language it is in (it may be a fallback)."""

    value: str
    lang: str

    @property
    def dir(self) -> str:
        """`rtl` or `ltr`, for the element holding the text."""
        return "rtl" if self.lang in RTL_LANGUAGES else "ltr"

    def __bool__(self) -> bool:
        return bool(self.value)


def pick(texts: dict[str, str] | None, lang: str | None = None) -> Text:
    """The text in the page's language, else the default language, else any language."""
    texts = texts or {}
    lang = lang or language()
    for candidate in (lang, _fallback(), *texts):
        if texts.get(candidate):
            return Text(texts[candidate], candidate)
    return Text("", lang)


def when(value: datetime | None) -> str:
    """A moment as the page's reader reads it: a long date and a short time, org time zone."""
    if value is None:
        return ""
    zone = ZoneInfo(settings().timezone)
    locale = _date_locale(language(), settings().default_region)
    date = dates.format_date(value.astimezone(zone).date(), "long", locale=locale)
    time = dates.format_time(value, "short", tzinfo=zone, locale=locale)
    # Babel's own way of joining a date and a time in the locale's order: a str such as
    # "{1} 'at' {0}", though Babel declares it a DateTimePattern.
    pattern = cast(str, dates.get_datetime_format("long", locale=locale)).replace("'", "")
    return pattern.replace("{0}", time).replace("{1}", date)


def _date_locale(lang: str, region: str) -> Locale:
    """The language as written in the organisation's region where babel knows it.

    `en` alone is US English (January 15, 12:00 PM); a UK organisation writes
    15 January, 12:00, which is en_GB.
    """
    try:
        return Locale.parse(f"{lang}_{region}")
    except (UnknownLocaleError, ValueError):
        return Locale.parse(lang)


def zone() -> str:
    """The organisation's time zone as a place name in the page's language."""
    try:
        return dates.get_timezone_location(ZoneInfo(settings().timezone), locale=language())
    except LookupError:  # pragma: no cover - babel knows every IANA zone we accept
        return settings().timezone


def number(value: int) -> str:
    """A count in the page's language."""
    return format_number(value)


def percent(share: float) -> str:
    """A share (0..1) as a whole percentage in the page's language."""
    return format_percent(round(share, 2))


def status(value: str) -> str:
    """A consultation's status as a word."""
    return {
        "open": gettext("Open"),
        "closed": gettext("Closed"),
        "decided": gettext("Decided"),
    }.get(value, value)


def decided_by(consultation: Consultation) -> str:
    """Who decides, in a few words (for the register)."""
    return {
        "community": gettext("Community vote"),
        "staff": gettext("Staff, informed by the replies"),
        "allies": gettext("Allies Group advises"),
    }.get(consultation.decision_by, consultation.decision_by)


def decision_rule(consultation: Consultation) -> list[str]:
    """Who decides and how, as sentences: the rule, the quorum, the threshold."""
    sentences = [
        {
            "community": gettext("The community decides by vote."),
            "staff": gettext("Staff decide, with everyone's replies in mind."),
            "allies": gettext(
                "The Allies Group advises, and staff decide with its advice and the replies "
                "in mind."
            ),
        }.get(consultation.decision_by, consultation.decision_by)
    ]
    if consultation.quorum:
        sentences.append(
            ngettext(
                "The result counts only if at least %(count)s person takes part.",
                "The result counts only if at least %(count)s people take part.",
                consultation.quorum,
                count=format_number(consultation.quorum),
            )
        )
    if consultation.threshold is not None and consultation.kind != "open":
        percent = format_percent(consultation.threshold)
        if consultation.kind == "yes_no":
            sentences.append(
                gettext("It passes if at least %(percent)s of the votes are YES.", percent=percent)
            )
        else:
            sentences.append(
                gettext(
                    "An option wins only with at least %(percent)s of the votes.", percent=percent
                )
            )
    return sentences


def yes_no_word(choice: str) -> str:
    """YES, NO or ABSTAIN in the page's language, as a member would text it."""
    return {"yes": gettext("YES"), "no": gettext("NO"), "abstain": gettext("ABSTAIN")}.get(
        choice, choice
    )


@dataclass
class Choice:
    """One way to vote on a consultation: its value, its name and, for results, its count."""

    value: str
    name: str  # YES/NO/ABSTAIN, or an option's label
    label_lang: str
    numbered: bool = False
    count: int = 0
    share: float = 0.0

    @property
    def label(self) -> str:
        """`YES`, or `2. Community centre`."""
        return f"{self.value}. {self.name}" if self.numbered else self.name

    @property
    def dir(self) -> str:
        """`rtl` or `ltr`: the direction of the label's language."""
        return "rtl" if self.label_lang in RTL_LANGUAGES else "ltr"

    @property
    def percent(self) -> int:
        """The share as a whole percentage, for a bar's width."""
        return round(self.share * 100)


def choices(consultation: Consultation, results: dict | None = None) -> list[Choice]:
    """The consultation's choices in order, labelled in the page's language, with counts."""
    out = []
    page = language()
    for value in consultation.choices:
        if consultation.kind == "choice":
            label = pick(consultation.options[int(value) - 1].get("label"))
            choice = Choice(value, label.value, label.lang, numbered=True)
        else:
            choice = Choice(value, yes_no_word(value), page)
        if results is not None:
            choice.count = results["votes"].get(value, 0)
            choice.share = results["shares"].get(value, 0.0)
        out.append(choice)
    return out


def choice_label(consultation: Consultation, value: str) -> Text:
    """How one choice reads on a page: `YES`, or `2. Community centre`."""
    for choice in choices(consultation):
        if choice.value == value:
            return Text(choice.label, choice.label_lang)
    return Text(value, language())


def channel(value: str) -> str:
    """How a vote came in, as a phrase."""
    return {
        "sms": gettext("by text message"),
        "web": gettext("on the web page"),
        "assisted": gettext("entered by staff for the member (by phone, in person or on paper)"),
    }.get(value, value)


def shorten(text: str) -> str:
    """A long staff text cut at a word, for a table cell."""
    return cut(text)
