"""Phone numbers: everything is stored in E.164, parsed with `phonenumbers`."""

from __future__ import annotations

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
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str, region: str = "GB") -> str | None:
    """Like to_e164 but None for anything invalid (for webhooks, which must not fail)."""
    try:
        return to_e164(raw, region)
    except InvalidPhone:
        return None
