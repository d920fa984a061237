"""Texts that reached Twilio while Chorus was down are recovered from its Messages list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.domain import inbound_recovery
from app.extensions import db
from app.models import Message, Vote
from app.sms.backends import make_backend
from app.tasks.recovery import recover_inbound

from .conftest import TWILIO_FROM
from .inbound_helpers import inbound_params, twiml_reply


@pytest.fixture
def app(sending_app):
    """Sends through FakeTwilio; jobs inline."""
    return sending_app


def _recover(app, page_size: int | None = None) -> int:
    with app.app_context():
        settings = app.config["CHORUS"]
        backend = make_backend(settings, per_call=True)
        if page_size:
            backend.page_size = page_size
        return recover_inbound(settings, backend)


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message).where(*where))


def _ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_a_vote_sent_while_chorus_was_down_hours_ago_is_counted_and_answered(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    # Chorus answered a text before the outage, then missed one three hours later.
    assert "HELP" not in (world.text(jo, "hello") or "")  # stored through the webhook
    sid = fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(hours=3))

    assert _recover(app) == 1

    with app.app_context():
        vote = db.session.scalar(select(Vote))
        assert vote is not None and vote.choice == "yes"
        text = db.session.scalar(select(Message).where(Message.twilio_sid == sid))
        assert text.direction == "in" and text.body == "yes"
    confirmation = fake.bodies_to(jo)
    assert len(confirmation) == 1 and "P12" in confirmation[0] and "YES" in confirmation[0]


def test_recovery_is_exactly_once(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    fake.receive(jo, "no", to=TWILIO_FROM, at=_ago(minutes=30))
    assert _recover(app) == 1
    assert _recover(app) == 0
    with app.app_context():
        inbound_recovery.save_checkpoint(_ago(days=2))  # as if the mark were old or lost
    assert _recover(app) == 0
    assert len(fake.bodies_to(jo)) == 1
    assert _count(app, Message.direction == "in") == 1


def test_a_text_the_webhook_already_took_is_left_alone(app, world, fake, signed_post):
    world.consultation("P12")
    jo = world.member()
    sid = fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(minutes=10))
    response = signed_post("/twilio/inbound", inbound_params(jo, "yes", sid))
    assert "YES" in twiml_reply(response)

    assert _recover(app) == 0
    assert fake.bodies_to(jo) == []  # its answer went back as TwiML, once


def test_texts_inside_the_grace_period_wait_for_their_webhook(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(seconds=20))
    assert _recover(app) == 0
    assert _count(app, Message.direction == "in") == 0


def test_a_late_webhook_for_a_recovered_text_gets_no_second_answer(app, world, fake, signed_post):
    world.consultation("P12")
    jo = world.member()
    sid = fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(minutes=10))
    assert _recover(app) == 1
    response = signed_post("/twilio/inbound", inbound_params(jo, "yes", sid))
    assert response.status_code == 200 and twiml_reply(response) is None
    assert len(fake.bodies_to(jo)) == 1


def test_a_long_list_is_read_page_by_page_in_the_order_texts_came(app, world, fake):
    world.consultation("P12")
    members = [world.member() for _ in range(4)]
    for minutes in range(60, 0, -3):  # 20 texts, five per member, the last one counts
        member = members[minutes % 4]
        fake.receive(
            member, "yes" if minutes > 3 * 4 else "no", to=TWILIO_FROM, at=_ago(minutes=minutes)
        )
    assert _recover(app, page_size=7) == 20  # three pages
    with app.app_context():
        choices = dict(db.session.execute(select(Vote.member_id, Vote.choice)).all())
    assert sorted(choices.values()) == ["no", "no", "no", "no"]


def test_other_numbers_and_outbound_texts_are_not_recovered(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    fake.receive(jo, "yes", to="+447700999888", at=_ago(minutes=10))  # another number
    assert _recover(app) == 0
    assert _count(app, Message.direction == "in") == 0


def test_a_failing_list_changes_nothing_and_is_tried_again(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(minutes=10))
    fake.fail_list_next()  # an HTML 503 page, not JSON
    assert _recover(app) == 0
    assert _count(app, Message.direction == "in") == 0
    assert _recover(app) == 1


def test_recovery_with_no_stored_text_looks_back_a_day(app, world, fake):
    world.consultation("P12")
    jo = world.member()
    fake.receive(jo, "yes", to=TWILIO_FROM, at=_ago(hours=20))
    fake.receive(jo, "no", to=TWILIO_FROM, at=_ago(days=9))  # older than any look-back
    assert _recover(app) == 1
    with app.app_context():
        assert db.session.scalar(select(Vote.choice)) == "yes"
