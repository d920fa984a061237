"""Reading request bodies for the schemas, and saying what is wrong in one sentence.

webargs (under flask-smorest) answers a bad body with its own 400/422 formats; the
staff API promises `{"error": "..."}` with 422, so this parser raises `Invalid` instead
and the blueprint's DomainError handler answers (and rolls back) as for any refusal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Request
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser

from ..domain import Invalid


def read_json_object(req: Request) -> dict[str, Any]:
    """The request's JSON object, whatever its Content-Type, or Invalid with a clear message."""
    try:
        data = req.get_json(silent=True, force=True)
    except RecursionError:  # nested too deep to parse; `silent` only covers ValueError
        data = None
    if data is None:
        raise Invalid("the body must be valid JSON")
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    try:
        # JSON may spell a lone surrogate ("\ud800"): no page or text could show it.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Invalid("the body must be valid Unicode text (a lone surrogate was found)") from None
    return data


def describe(messages: Any, path: str = "") -> list[str]:
    """marshmallow's nested error messages as sentences: `decision.quorum must be ...`."""
    if isinstance(messages, str):
        return [f"{path} {messages}" if path else messages]
    if isinstance(messages, list):
        return [line for message in messages for line in describe(message, path)]
    if isinstance(messages, Mapping):
        unknown = sorted(str(key) for key, value in messages.items() if value == ["Unknown field."])
        out = []
        if unknown:
            where = f" in {path}" if path else ""
            out.append(f"unknown field(s){where}: {', '.join(unknown)}")
        for key, value in messages.items():
            if str(key) in unknown:
                continue
            if key == "_schema":
                out.extend(describe(value, path))
            elif key in ("key", "value") and path:
                # A Dict field's errors are {item: {"key": [...], "value": [...]}}.
                out.extend(describe(value, path))
            else:
                out.extend(describe(value, f"{path}.{key}" if path else str(key)))
        return out
    return [f"{path} is not acceptable" if path else "the body is not acceptable"]


class ChorusParser(FlaskParser):
    """A FlaskParser whose refusals are `Invalid` (422 `{"error": ...}`)."""

    DEFAULT_VALIDATION_STATUS = 422

    def load_json(self, req: Request, schema: Schema) -> Any:
        """The body as a JSON object; an empty body is `{}` for a schema marked
        `optional_body`, and a refusal for every other one."""
        if getattr(schema, "optional_body", False) and not req.get_data():
            return {}
        return read_json_object(req)

    def handle_error(
        self,
        error: ValidationError,
        req: Request,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> Any:
        """Raise Invalid naming every field that is wrong."""
        messages = error.messages
        # webargs files the messages under their location ({"json": {...}}).
        if isinstance(messages, dict) and len(messages) == 1:
            location, inner = next(iter(messages.items()))
            if location in self.__location_map__:
                messages = inner
        raise Invalid("; ".join(describe(messages)) or "the body is not acceptable")
