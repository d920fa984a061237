"""Bulk set-up data: members by COPY (PostgreSQL) or executemany (SQLite), consultations by API.

Members are written straight into the `member` table (with every column default the
model declares filled in), which is set-up, not something being measured. Consultations
go through the real staff API so they are exactly what staff would make.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import create_engine, insert, text

#: 1,000,000 valid UK mobile numbers: +44 7400 000000 .. +44 7400 999999.
PHONE_PREFIX = "+447400"
LANGUAGE_MIX = ["en"] * 8 + ["cy", "es"]


def phone(i: int) -> str:
    """The bench member number `i` (0 <= i < 1,000,000), E.164."""
    return f"{PHONE_PREFIX}{i:06d}"


def language(i: int) -> str:
    """Member i's language: 80% en, 10% cy, 10% es."""
    return LANGUAGE_MIX[i % len(LANGUAGE_MIX)]


def check_phones(count: int) -> None:
    """Sample the number range with phonenumbers, so a bad range fails loudly at set-up."""
    import phonenumbers

    rng = random.Random(7)
    for i in [0, count - 1, *(rng.randrange(count) for _ in range(200))]:
        if not phonenumbers.is_valid_number(phonenumbers.parse(phone(i))):
            raise ValueError(f"{phone(i)} is not a valid number; change PHONE_PREFIX")


def _sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _defaults(table: Any, given: set[str]) -> dict[str, Any]:
    """Values for the columns of `table` not in `given` that the model gives a default."""
    now = datetime.now(UTC)
    fixed: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.primary_key or column.default is None:
            continue
        default = column.default
        if default.is_scalar:
            fixed[column.name] = default.arg
        elif default.is_callable:
            value = default.arg(None)
            fixed[column.name] = now if isinstance(value, datetime) else value
    return fixed


def insert_rows(database_url: str, table: Any, names: list[str], rows: Iterable[list]) -> float:
    """Bulk-insert `rows` (lists in `names` order) into `table`; COPY on PostgreSQL.

    Columns the model gives a default are filled in, so set-up keeps working when a
    helper adds a column with a default. Returns seconds taken.
    """
    began = time.monotonic()
    fixed = _defaults(table, set(names))
    all_names = [*names, *fixed]
    extra = list(fixed.values())
    if database_url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database_url) as conn, conn.cursor() as cur:
            cols = ", ".join(f'"{n}"' for n in all_names)
            with cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([*row, *extra])
            conn.execute(f'ANALYZE "{table.name}"')
    else:
        engine = create_engine(_sqlalchemy_url(database_url))
        with engine.begin() as conn:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(dict(zip(all_names, [*row, *extra], strict=True)))
                if len(batch) >= 5000:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
        engine.dispose()
    return time.monotonic() - began


def insert_members(database_url: str, count: int, start: int = 0) -> float:
    """Insert `count` active members numbered from `start`; return seconds taken."""
    from app.models import Member

    now = datetime.now(UTC)
    names = ["phone", "name", "language", "status", "consent_at", "consent_source"]
    rows = (
        [phone(i), f"Bench member {i}", language(i), "active", now, "staff"]
        for i in range(start, start + count)
    )
    return insert_rows(database_url, Member.__table__, names, rows)


def count_rows(database_url: str, sql: str, **params: Any) -> Any:
    """One value from the benchmark database."""
    engine = create_engine(_sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


class Api:
    """A tiny staff-API client (requests, bearer token, raises on unexpected statuses)."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        """Call `path` under /api/v1; return the JSON answer or raise with the body."""
        response = self.session.request(
            method, f"{self.base_url}/api/v1{path}", timeout=kwargs.pop("timeout", 60), **kwargs
        )
        if response.status_code != expect:
            raise RuntimeError(
                f"{method} {path}: expected {expect}, got {response.status_code}: "
                f"{response.text[:500]}"
            )
        return response.json()

    def close(self) -> None:
        """Close the session."""
        self.session.close()


def yes_no(code: str) -> dict[str, Any]:
    """A yes/no consultation payload for the API."""
    return {
        "code": code,
        "kind": "yes_no",
        "title": {"en": "Move the Tuesday group", "es": "Mover el grupo del martes"},
        "summary": {
            "en": f"{code}: Should the Tuesday peer group move to the library from May? "
            f"Reply {code} YES or {code} NO, or add a comment.",
            "cy": f"{code}: A ddylai grwp dydd Mawrth symud i'r llyfrgell o fis Mai? "
            f"Atebwch {code} IE neu {code} NA.",
            "es": f"{code}: Mover el grupo del martes a la biblioteca desde mayo? "
            f"Responde {code} SI o {code} NO.",
        },
        "decision": {"by": "community", "quorum": 10, "threshold": 0.5},
    }


def choice(code: str) -> dict[str, Any]:
    """A four-option choice consultation payload for the API."""
    labels = ["Library", "Community hall", "Cafe upstairs", "Online only"]
    return {
        "code": code,
        "kind": "choice",
        "title": {"en": "Where should the summer event be?"},
        "summary": {
            "en": f"{code}: Where should the summer event be? 1 Library 2 Community hall "
            f"3 Cafe upstairs 4 Online only. Reply {code} and a number.",
        },
        "options": [{"label": {"en": label}} for label in labels],
        "decision": {"by": "staff"},
    }
