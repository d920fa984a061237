"""Helpers for the inbound tests: a signed texter and a small world of members and consultations.

Everything goes through the real routes: members and consultations through the staff
API, texts through the signed `POST /twilio/inbound`, results through the results API.
Only "this consultation was texted to this member" is written directly (as the
outbound Message row a broadcast leaves), so these tests do not depend on broadcasting.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

from sqlalchemy import delete, func, select

from app.domain.members import WELCOME_KIND
from app.extensions import db
from app.models import Consultation, Member, Message, utcnow
from tests.conftest import ACCOUNT_SID, TWILIO_FROM

_sids = itertools.count(1)


def new_sid() -> str:
    """A fresh Twilio-shaped MessageSid."""
    return f"SM{next(_sids):032x}"


def twiml_reply(response) -> str | None:
    """The one <Message> of a TwiML answer, or None when it has none."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1, "TwiML must hold zero or one message"
    return messages[0].text if messages else None


def inbound_params(phone: str, body: str, sid: str | None = None) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS."""
    sid = sid or new_sid()
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "To": TWILIO_FROM,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }


def deliver_at_once(app, all_params: list[dict[str, str]]) -> tuple[list, list]:
    """POST every form to /twilio/inbound, signed, from one thread each, all released at
    the same moment; returns (TwiML reply texts, exceptions)."""
    import threading

    from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
    from tests.fake_twilio import sign

    start = threading.Barrier(len(all_params))
    replies, errors = [], []

    def deliver(params: dict[str, str]) -> None:
        signature = sign(PUBLIC_BASE_URL + "/twilio/inbound", params, AUTH_TOKEN)
        try:
            client = app.test_client()
            start.wait()
            response = client.post(
                "/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
            )
            replies.append(twiml_reply(response))
        except Exception as exc:  # pragma: no cover - the caller asserts there is none
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(params,)) for params in all_params]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies, errors


class World:
    """Members, consultations and texts for one test app."""

    def __init__(self, app, api, signed_post, fake=None):
        self.app = app
        self.api = api
        self.signed_post = signed_post
        self.fake = fake  # the FakeTwilio the app sends through, if any
        self._phones = itertools.count(1)

    # --- people and consultations, through the staff API

    def member(
        self,
        language: str = "en",
        groups: list[str] | None = None,
        welcome: bool = False,
        **extra: Any,
    ) -> str:
        """Add a member; returns their E.164 phone.

        A member added through the API is texted a welcome first; unless `welcome`, that
        text is dropped here (its row, and FakeTwilio's record of it), as if it had gone
        long ago, so that the tests see only the texts they cause
        (tests/test_members_data.py tests the welcome itself).
        """
        phone = f"+4474002{next(self._phones):05d}"
        payload = {"phone": phone, "language": language, "groups": groups or ["community"]}
        payload.update(extra)
        response = self.api.post("/members", json=payload)
        assert response.status_code == 201, response.get_json()
        if not welcome:
            with self.app.app_context():
                db.session.execute(
                    delete(Message).where(Message.phone == phone, Message.kind == WELCOME_KIND)
                )
                db.session.commit()
            if self.fake is not None:
                self.fake.forget(phone)
        return phone

    def stranger(self) -> str:
        """A valid number that is not a member."""
        return f"+4474003{next(self._phones):05d}"

    def consultation(
        self,
        code: str,
        kind: str = "yes_no",
        *,
        options: list[str] | list[dict[str, str]] | None = None,
        audience: list[str] | None = None,
        results_public: bool = True,
        body: dict[str, str] | None = None,
        title: dict[str, str] | None = None,
        open_: bool = True,
    ) -> str:
        """Create (and by default open) a consultation through the API."""
        payload: dict[str, Any] = {
            "code": code,
            "kind": kind,
            "title": title or {"en": f"Title of {code}"},
            "summary": {"en": f"Summary of {code}"},
            "results_public": results_public,
        }
        if options is not None:
            payload["options"] = [
                {"label": o if isinstance(o, dict) else {"en": o}} for o in options
            ]
        if audience is not None:
            payload["audience"] = audience
        if body is not None:
            payload["body"] = body
        response = self.api.post("/consultations", json=payload)
        assert response.status_code == 201, response.get_json()
        if open_:
            response = self.api.post(f"/consultations/{code}/open")
            assert response.status_code == 200, response.get_json()
        return code

    def close(self, code: str) -> None:
        """Close a consultation through the API."""
        response = self.api.post(f"/consultations/{code}/close")
        assert response.status_code == 200, response.get_json()

    def results(self, code: str) -> dict[str, Any]:
        """The results API's answer."""
        response = self.api.get(f"/consultations/{code}/results")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def sent(self, code: str, phone: str, status: str = "delivered") -> None:
        """Record that consultation `code` was texted to `phone` (as a broadcast leaves it)."""
        with self.app.app_context():
            consultation = db.session.execute(
                select(Consultation).where(Consultation.code == code)
            ).scalar_one()
            member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
            db.session.add(
                Message(
                    direction="out",
                    member_id=member.id,
                    phone=phone,
                    body=f"{code}: Summary of {code}",
                    kind="summary",
                    status=status,
                    consultation_id=consultation.id,
                    sent_at=utcnow(),
                )
            )
            db.session.commit()

    # --- texting in

    def post(self, phone: str, body: str, sid: str | None = None):
        """The raw response to a signed inbound webhook."""
        return self.signed_post("/twilio/inbound", inbound_params(phone, body, sid))

    def text(self, phone: str, body: str, sid: str | None = None) -> str | None:
        """Text in as `phone`; returns the TwiML reply text (None: no reply)."""
        return twiml_reply(self.post(phone, body, sid))

    # --- looking inside

    def count(self, model, *where) -> int:
        """Rows of `model` matching `where`."""
        with self.app.app_context():
            return db.session.execute(
                select(func.count()).select_from(model).where(*where)
            ).scalar_one()

    def rows(self, model, *where, order=None) -> list:
        """Rows of `model` matching `where`, detached, in id order."""
        with self.app.app_context():
            rows = db.session.execute(
                select(model).where(*where).order_by(order if order is not None else model.id)
            ).scalars()
            result = list(rows)
            db.session.expunge_all()
            return result

    def get_member(self, phone: str) -> Member | None:
        """The member row for `phone`, detached (groups loaded)."""
        with self.app.app_context():
            member = db.session.execute(
                select(Member).where(Member.phone == phone)
            ).scalar_one_or_none()
            if member is not None:
                _ = member.groups
                db.session.expunge(member)
            return member
