"""Small helpers for running SQL in the session."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable

from ..extensions import db


def changed(statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE in the session; the number of rows it changed."""
    result = cast("CursorResult[Any]", db.session.execute(statement))
    return result.rowcount
