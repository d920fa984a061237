"""How the consultation and broadcast screens show numbers, money, times and languages.

Segments and encoding come from app/sms/segments.py (what carriers bill); cost is
SMS_PRICE_PER_SEGMENT x segments x recipients in SMS_PRICE_CURRENCY, kept as a Decimal
so the figure is exact; times are in the organisation's TIMEZONE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from flask import request, url_for
from flask_babel import format_currency, format_timedelta, get_locale

from ..config import RTL_LANGUAGES, settings
from ..domain.grammar import language_name
from ..sms import segments

#: How the console writes a moment: weekday, date and 24-hour time.
WHEN = "EEE d MMM y, HH:mm"
#: What a datetime-local input holds.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def page_url(endpoint: str, **values: Any) -> str:
    """url_for that keeps the page's ?lang=, so a flow stays in the language it began in."""
    values.setdefault("lang", request.args.get("lang") or None)
    return url_for(endpoint, **values)


def page_language() -> str:
    """The page's language code."""
    return str(get_locale() or settings().default_language)


def text_dir(language: str) -> str:
    """`rtl` for Arabic and Urdu, else `ltr`."""
    return "rtl" if language in RTL_LANGUAGES else "ltr"


@dataclass(frozen=True)
class Language:
    """A language as the console names it: in the page's language and in its own."""

    code: str
    name: str
    own: str

    @property
    def dir(self) -> str:
        return text_dir(self.code)


def language(code: str) -> Language:
    """`cy` -> Language("cy", "Welsh", "Cymraeg") on an English page."""
    try:
        name = Locale.parse(page_language()).languages.get(code) or code
    except (UnknownLocaleError, ValueError):
        name = code
    return Language(code, name, language_name(code))


def money(amount: Decimal) -> str:
    """An amount in SMS_PRICE_CURRENCY, written the page's way."""
    return str(format_currency(amount, settings().sms_price_currency))


def cost(segment_count: int) -> Decimal:
    """What `segment_count` segments cost (exact)."""
    return settings().sms_price_per_segment * segment_count


def price_text() -> str:
    """SMS_PRICE_PER_SEGMENT in fixed notation (`0.04`), for the page's script."""
    return f"{settings().sms_price_per_segment:f}"


def local(value: datetime | None) -> str:
    """A moment in TIMEZONE, the page's way (empty for None)."""
    if value is None:
        return ""
    zone = ZoneInfo(settings().timezone)
    return format_datetime(value, WHEN, tzinfo=zone, locale=page_language())


def local_input(value: datetime | None) -> datetime | None:
    """A stored (UTC) moment as the naive TIMEZONE time a datetime-local field shows."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(settings().timezone)).replace(tzinfo=None)


def duration(total_segments: int) -> str:
    """How long sending `total_segments` takes at SMS_MAX_PER_SECOND ("3 minutes")."""
    seconds = total_segments / settings().sms_max_per_second if total_segments else 0
    return str(format_timedelta(timedelta(seconds=max(seconds, 1)), threshold=1.1))


@dataclass(frozen=True)
class Figures:
    """One text's count, and what sending it to `recipients` members costs."""

    body: str
    recipients: int
    encoding: str
    segments: int
    units: int
    characters: int
    cost: Decimal

    @property
    def amount(self) -> str:
        """The cost as a plain decimal (`0.48`): what the page's script computes too."""
        return f"{self.cost:f}"

    @property
    def money(self) -> str:
        return money(self.cost)


def figures(body: str, recipients: int) -> Figures:
    """Count `body` as app/sms/segments.py does and price it for `recipients`."""
    info = segments.count(body)
    return Figures(
        body=body,
        recipients=recipients,
        encoding=info.encoding,
        segments=info.segments,
        units=info.units,
        characters=len(body),
        cost=cost(info.segments * recipients),
    )
