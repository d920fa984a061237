"""A text in doubt that Twilio cannot be asked about: asked again later, then `unknown`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.domain.outbox import queue as outbox_queue
from app.extensions import db
from app.models import Broadcast, Message, utcnow
from app.tasks import outbox as outbox_tasks
from app.worker import sweep
from tests.outbox_helpers import Person, Staff, add_members, finish, phone, twilio_env


@pytest.fixture
def app(make_app, fake):
    """Sends through FakeTwilio; gives up on a text in doubt after 30 minutes."""
    made = make_app(IN_DOUBT_GIVE_UP="1800", **twilio_env(fake))
    yield made
    finish(made)


def _claimed(app, claimed_minutes_ago: float, broadcast_id: int | None = None) -> int:
    """A text claimed that long ago whose worker died before Twilio answered."""
    with app.app_context():
        message = outbox_queue.queue_message(phone=phone(1), body="in doubt", kind="test")
        message.status = "sending"
        message.claimed_at = utcnow() - timedelta(minutes=claimed_minutes_ago)
        message.broadcast_id = broadcast_id
        db.session.commit()
        return message.id


def _row(app, message_id: int) -> Message:
    with app.app_context():
        row = db.session.get(Message, message_id)
        db.session.expunge(row)
        return row


def test_a_list_that_answers_html_leaves_the_text_in_doubt_and_asks_later(app, fake):
    add_members(app, [Person(1)])
    message_id = _claimed(app, claimed_minutes_ago=10)
    fake.fail_list_next(5)  # Twilio's edge answers an HTML 503 page
    with app.app_context():
        assert outbox_tasks.recover_stale() == (0, 0)  # no exception escapes
        row = db.session.get(Message, message_id)
        assert row.status == "sending" and "could not be asked" in row.failed_reason
        assert row.next_attempt_at > utcnow() + timedelta(minutes=4)  # half its age
        assert outbox_tasks.recover_stale() == (0, 0)  # not due again yet: not asked
    assert fake.bodies_to(phone(1)) == []  # never resent while in doubt


def test_once_twilio_answers_again_the_text_is_settled(app, fake):
    add_members(app, [Person(1)])
    message_id = _claimed(app, claimed_minutes_ago=10)
    fake.fail_list_next(1)
    with app.app_context():
        outbox_tasks.recover_stale()
        db.session.execute(
            update(Message).where(Message.id == message_id).values(next_attempt_at=utcnow())
        )
        db.session.commit()
        assert outbox_tasks.recover_stale() == (0, 1)  # Twilio has no such text: re-queued
    assert _row(app, message_id).status == "queued"


def test_in_doubt_longer_than_the_give_up_time_becomes_unknown_and_is_never_resent(app, fake):
    add_members(app, [Person(1)])
    message_id = _claimed(app, claimed_minutes_ago=31)
    fake.fail_list_next(3)
    with app.app_context():
        assert outbox_tasks.recover_stale() == (0, 0)
        sweep()
    row = _row(app, message_id)
    assert row.status == "unknown" and "not sent again" in row.failed_reason
    assert fake.bodies_to(phone(1)) == []


def test_a_late_delivery_callback_still_settles_an_unknown_text(app, fake, signed_post):
    add_members(app, [Person(1)])
    message_id = _claimed(app, claimed_minutes_ago=31)
    fake.fail_list_next(1)
    with app.app_context():
        outbox_tasks.recover_stale()
    params = {
        "MessageSid": "SM" + "4" * 32,
        "MessageStatus": "delivered",
        "AccountSid": "AC",
        "To": phone(1),
    }
    response = signed_post(f"/twilio/status?m={message_id}", params)
    assert response.status_code in (200, 204)
    assert _row(app, message_id).status == "delivered"


def test_a_broadcast_with_an_unknown_text_completes_and_counts_it(app, fake):
    add_members(app, [Person(1)])
    staff = Staff(app)
    staff.consultation()
    with app.app_context():
        broadcast = Broadcast(kind="announcement", bodies={"en": "x"}, audience=[])
        broadcast.status = "sending"
        broadcast.total = 1
        broadcast.expanded_at = utcnow()
        broadcast.started_at = utcnow()
        db.session.add(broadcast)
        db.session.commit()
        broadcast_id = broadcast.id
    _claimed(app, claimed_minutes_ago=31, broadcast_id=broadcast_id)
    fake.fail_list_next(3)
    with app.app_context():
        sweep()
        sweep()
    answer = staff.get(f"/broadcasts/{broadcast_id}").json
    assert answer["status"] == "completed"
    assert (answer["unknown"], answer["pending"], answer["sent"]) == (1, 0, 0)
