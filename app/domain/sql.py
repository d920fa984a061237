"""Small helpers for running SQL in the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, Select
from sqlalchemy.orm import InstrumentedAttribute

from ..extensions import db


def changed(statement: Executable) -> int:
    """Run an INSERT, UPDATE or DELETE in the session; the number of rows it changed."""
    result = cast("CursorResult[Any]", db.session.execute(statement))
    return result.rowcount


def keyset_page(
    query: Select[Any],
    key: InstrumentedAttribute[int],
    key_of: Callable[[Any], int],
    exists: Callable[[ColumnElement[bool]], bool],
    *,
    before: int | None,
    after: int | None,
    per_page: int,
    scalars: bool = False,
) -> tuple[list[Any], int | None, int | None]:
    """One page of `query`, newest (highest `key`) first: the newest `per_page`, those
    below `before`, or those above `after`. Returns (rows, newer, older): the keys to
    page from (`after=newer`, `before=older`), None where there is nothing more.
    `key_of(row)` reads a row's key; `exists(condition)` says whether a row matching the
    query's filters and `condition` exists. `scalars`: rows are the first column."""
    if after is not None:
        query = query.where(key > after).order_by(key.asc())
    else:
        if before is not None:
            query = query.where(key < before)
        query = query.order_by(key.desc())
    result = db.session.execute(query.limit(per_page + 1))
    rows = list(result.scalars() if scalars else result.all())
    more = len(rows) > per_page
    rows = rows[:per_page]
    if after is not None:
        rows.reverse()
    if not rows:
        return rows, None, None
    first, last = key_of(rows[0]), key_of(rows[-1])
    if after is not None:
        return rows, first if more else None, last if exists(key < last) else None
    newer = first if before is not None and exists(key > first) else None
    return rows, newer, last if more else None
