"""Shared pieces of the texting-out tests: a FakeTwilio, an app pointed at it, a staff
API client, and quick ways to make members and consultations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from app.extensions import db
from app.models import Member, MemberGroup, Message, utcnow
from app.tasks.sender import close_outbox
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fake_twilio import FakeTwilio

FAST = "1000"  # SMS_MAX_PER_SECOND for tests that are not about the rate


def phone(n: int) -> str:
    """A distinct UK mobile number for member `n`."""
    return f"+4474{n:08d}"


def start_fake(**kwargs: Any) -> FakeTwilio:
    """A running FakeTwilio that accepts the test credentials."""
    return FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, **kwargs).start()


def twilio_env(fake: FakeTwilio, **env: str) -> dict[str, str]:
    """Settings for an app that sends through `fake`."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": fake.base_url,
        "SMS_MAX_PER_SECOND": FAST,
    } | env


class Staff:
    """The staff API of one app, with a token made by the real command."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        result = app.test_cli_runner().invoke(args=["api-token", "create", "staff-tests"])
        assert result.exit_code == 0, result.output
        self.headers = {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}

    def get(self, path: str, **kw):
        return self.client.get("/api/v1" + path, headers=self.headers, **kw)

    def post(self, path: str, **kw):
        return self.client.post("/api/v1" + path, headers=self.headers, **kw)

    def consultation(
        self,
        code: str = "P12",
        kind: str = "yes_no",
        summary: dict[str, str] | None = None,
        open_it: bool = True,
        **extra: Any,
    ) -> None:
        """Draft (and open) a consultation through the API."""
        payload: dict[str, Any] = {
            "code": code,
            "kind": kind,
            "title": {"en": f"Title of {code}"},
            "summary": summary or {"en": f"Should we do {code}?"},
        }
        if kind == "choice" and "options" not in extra:
            payload["options"] = [{"label": {"en": "Monday"}}, {"label": {"en": "Tuesday"}}]
        payload.update(extra)
        r = self.post("/consultations", json=payload)
        assert r.status_code == 201, r.json
        if open_it:
            r = self.post(f"/consultations/{code}/open")
            assert r.status_code == 200, r.json


@dataclass
class Person:
    """A member to add: index (for the phone), language, groups, status."""

    n: int
    language: str = "en"
    groups: tuple[str, ...] = ("community",)
    status: str = "active"


def add_members(app, people: Iterable[Person]) -> list[int]:
    """Insert members (and their groups) straight into the database; returns their ids."""
    people = list(people)
    now = utcnow()
    with app.app_context():
        db.session.execute(
            insert(Member),
            [
                {
                    "phone": phone(p.n),
                    "language": p.language,
                    "status": p.status,
                    "consent_at": now,
                    "consent_source": "staff",
                    "created_at": now,
                    "updated_at": now,
                }
                for p in people
            ],
        )
        ids = dict(
            db.session.execute(
                select(Member.phone, Member.id).where(
                    Member.phone.in_([phone(p.n) for p in people])
                )
            ).all()
        )
        rows = [{"member_id": ids[phone(p.n)], "name": g} for p in people for g in p.groups]
        if rows:
            db.session.execute(insert(MemberGroup), rows)
        db.session.commit()
        return [ids[phone(p.n)] for p in people]


def many(count: int, start: int = 0, **kw: Any) -> list[Person]:
    """`count` people numbered from `start`."""
    return [Person(n, **kw) for n in range(start, start + count)]


def messages(app, **where: Any) -> list[Message]:
    """Outbound Message rows (optionally filtered by column values), in id order."""
    with app.app_context():
        query = select(Message).where(Message.direction == "out").order_by(Message.id)
        for column, value in where.items():
            query = query.where(getattr(Message, column) == value)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return list(rows)


def per_phone(fake: FakeTwilio) -> Counter[str]:
    """How many texts FakeTwilio accepted for each number."""
    return Counter(m["to"] for m in fake.messages)


def finish(app) -> None:
    """Close the app's outbox (threads and Twilio connections)."""
    close_outbox(app, wait=True)
