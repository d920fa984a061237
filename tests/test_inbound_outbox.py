"""INFO on a long consultation: the first part in TwiML, the rest through the real outbox.

The app sends through FakeTwilio over HTTP, as in production; nothing is patched.
"""

from __future__ import annotations

import pytest

from app.models import Message


@pytest.fixture
def app(sending_app):
    """The app, sending one-to-one texts through FakeTwilio."""
    return sending_app


def test_long_info_arrives_in_as_few_texts_as_possible(world, fake):
    body = " ".join(f"Paragraph {n} of the full text." for n in range(150))
    world.consultation("P12", body={"en": body})
    phone = world.member()
    first = world.text(phone, "INFO P12")
    rest = [m["body"] for m in fake.wait_for_messages(2)]
    assert len(first) <= 1600 and all(len(part) <= 1600 for part in rest)
    assert " ".join([first, *rest]) == f"P12: Title of P12\n{body}"
    queued = world.rows(
        Message, Message.direction == "out", Message.kind == "info", Message.reply_to_id.is_(None)
    )
    assert [m.priority for m in queued] == ["high", "high"]
    # A retry of the same INFO text sends nothing more.
    sid = world.rows(Message, Message.direction == "in")[0].twilio_sid
    assert world.text(phone, "INFO P12", sid=sid) == first
    assert len(fake.messages) == 2


def test_info_to_an_opted_out_member_sends_nothing(world, fake):
    world.consultation("P12", body={"en": "x " * 2000})
    phone = world.member()
    world.text(phone, "STOP")
    assert world.text(phone, "INFO P12") is None
    assert fake.messages == []
