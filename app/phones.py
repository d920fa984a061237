"""Phone numbers: everything is stored in E.164, parsed with `phonenumbers`."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhone(ValueError):
    """The text is not a phone number we can send to."""


def to_e164(raw: str, region: str = "GB") -> str:
    """Return `raw` in E.164 (`07400 123456` -> `+447400123456`) or raise InvalidPhone."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhone("a phone number is required")
    if len(raw) > 40:
        raise InvalidPhone("that is too long to be a phone number")
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    e164, problem = _parse(text, region)
    if e164 is None:
        raise InvalidPhone(f"{raw!r} is {problem}")
    return e164


@lru_cache(maxsize=16384)
def _parse(text: str, region: str) -> tuple[str | None, str]:
    """(E.164, "") or (None, what is wrong). Cached: every webhook parses its sender, and
    the same few thousand members text again and again."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "not a phone number"
    if not phonenumbers.is_valid_number(number):
        return None, "not a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def try_e164(raw: str, region: str = "GB") -> str | None:
    """Like to_e164 but None for anything invalid (for webhooks, which must not fail)."""
    try:
        return to_e164(raw, region)
    except InvalidPhone:
        return None
