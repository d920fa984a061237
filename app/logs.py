"""Logging set-up: plain text, or one JSON object per line with the request id.

Phone numbers never reach a log: every line is masked as it is formatted, whoever
wrote it (`+447400123456` becomes `+44******3456`, URL-encoded ones too).

Every request gets an id: the proxy's `X-Request-ID` when it sends a sane one, else a
new one. It is echoed in the response's `X-Request-ID` header and carried by every log
line written while the request is handled, so one text's story can be found across
processes.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# E.164 after "+" or its URL encoding: country code and the last four digits stay.
_PHONE = re.compile(r"(\+|%2[Bb])(\d{2})(\d{3,11})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """`+447400123456` → `+44******3456`, wherever it stands in `text`."""
    return _PHONE.sub(lambda m: m[1] + m[2] + "*" * len(m[3]) + m[4], text)


class MaskingFormatter(logging.Formatter):
    """A plain-text formatter whose output has every phone number masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


def request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    if has_request_context():
        return getattr(g, "request_id", None)
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return mask_phones(json.dumps(entry, ensure_ascii=False))


def configure(log_format: str) -> None:
    """Send the root logger's output to stderr in `log_format` ("text" or "json")."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else MaskingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "chorus", False)]:
        root.removeHandler(old)
    handler.chorus = True  # type: ignore[attr-defined]  # marks ours, so a second app replaces it
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def init_app(app: Flask) -> None:
    """Give every request an id and echo it in the response."""

    @app.before_request
    def _assign_request_id() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        rid = request_id()
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        return response
