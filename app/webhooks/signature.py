"""Twilio webhook signatures, checked against the public URL Twilio actually called.

The signed URL is rebuilt from PUBLIC_BASE_URL + path + the raw query string,
never from `request.url`: behind a proxy the scheme and host differ, and Werkzeug
re-encodes the query.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, request
from twilio.request_validator import RequestValidator

from ..config import settings

P = ParamSpec("P")
R = TypeVar("R")


def signed_url() -> str:
    """The URL Twilio signed for the current request."""
    base = settings().public_base_url or request.host_url.rstrip("/")
    url = base + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


def is_valid() -> bool:
    """True when X-Twilio-Signature matches the auth token, URL and form params."""
    token = settings().twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    # request.form is a MultiDict, which RequestValidator reads with getlist().
    valid: bool = RequestValidator(token).validate(signed_url(), request.form, signature)
    return valid


def twilio_signed(view: Callable[P, R]) -> Callable[P, R]:
    """Answer 403 (and do nothing) unless the request carries a valid Twilio signature."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not is_valid():
            abort(403, "invalid or missing Twilio signature")
        return view(*args, **kwargs)

    return wrapper
