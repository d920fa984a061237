"""The outbox: Twilio's answers (retry, opt-out, permanent failure), claims, stale claims,
quiet hours, the console backend and one-to-one texts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.config import parse_quiet_hours, settings
from app.domain.outbox import claims, quiet
from app.domain.outbox import queue as outbox_queue
from app.extensions import db
from app.models import AuditEvent, Member, Message, utcnow
from app.sms.backends import FAILED, OPTED_OUT, RETRY, classify
from app.tasks import outbox as outbox_tasks
from app.worker import sweep
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, TWILIO_FROM, make_settings
from tests.outbox_helpers import (
    Person,
    Staff,
    add_members,
    finish,
    messages,
    per_phone,
    phone,
    twilio_env,
)


@pytest.fixture
def app(make_app, fake):
    """An app sending through FakeTwilio with a short retry backoff (0.1-0.3 s at first)."""
    made = make_app(config={"OUTBOX_RETRY_BASE": 0.2}, **twilio_env(fake))
    yield made
    finish(made)


def broadcast_to(app, people: list[Person]) -> int:
    """Add `people`, open P12 and broadcast it; returns the broadcast id."""
    add_members(app, people)
    staff = Staff(app)
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast")
    assert r.status_code == 202, r.json
    return r.json["broadcast_id"]


@pytest.fixture
def patient_app(make_app, fake):
    """An app whose retries wait a minute: nothing is retried behind a test's back."""
    made = make_app(config={"OUTBOX_RETRY_BASE": 60}, **twilio_env(fake))
    yield made
    finish(made)


def retry_now(app) -> None:
    """Make every waiting retry due now, then sweep (which sends due retries)."""
    with app.app_context():
        db.session.execute(
            update(Message).where(Message.status == "queued").values(next_attempt_at=utcnow())
        )
        db.session.commit()
        sweep()


@pytest.mark.parametrize(
    "status, code, outcome",
    [
        (429, 20429, RETRY),
        (500, 500, RETRY),
        (503, None, RETRY),
        (401, 20003, RETRY),
        (400, 21610, OPTED_OUT),
        (400, 21211, FAILED),
        (400, 21614, FAILED),
        (400, 21408, FAILED),
        (404, 20404, FAILED),
        (400, 99999, FAILED),  # unknown codes fail safely, shown to staff
    ],
)
def test_classify_twilio_errors(status, code, outcome):
    assert classify(status, code, "x").outcome == outcome


def test_429_then_success_is_retried_and_sent_once(patient_app, fake):
    app = patient_app
    fake.fail_next(1, status=429, code=20429)
    broadcast_to(app, [Person(1)])
    (row,) = messages(app)
    assert (row.status, row.error_count, row.error_code) == ("queued", 1, "20429")
    assert row.next_attempt_at is not None
    assert fake.messages == []
    retry_now(app)
    (row,) = messages(app)
    assert (row.status, row.error_count) == ("sent", 1)
    assert row.twilio_sid == fake.messages[0]["sid"]
    assert (fake.attempts, len(fake.messages)) == (2, 1)


def test_an_answer_cut_off_after_twilio_accepted_is_reconciled_not_resent(app, fake):
    """Twilio has the text but the connection drops before its answer: the send is in
    doubt, so the claim is kept (no retry), and once its lease is over the sweeper finds
    the text in Twilio's list and records it instead of sending it again."""
    fake.cut_off_next(1)
    broadcast_to(app, [Person(1)])
    (row,) = messages(app)
    assert (row.status, row.error_count) == ("sending", 0)
    assert "dropped" in row.failed_reason
    assert len(fake.messages) == 1

    retry_now(app)  # within the lease: nothing happens to it
    assert messages(app)[0].status == "sending"
    with app.app_context():
        db.session.execute(update(Message).values(claimed_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
        sweep()
        sweep()
    (row,) = messages(app)
    assert (row.status, row.twilio_sid) == ("sent", fake.messages[0]["sid"])
    assert (fake.attempts, per_phone(fake)) == (1, {phone(1): 1})


def test_500_is_retried(patient_app, fake):
    app = patient_app
    fake.fail_next(2, status=500, code=None, raw_body="<html>Internal Server Error</html>")
    broadcast_to(app, [Person(1)])
    retry_now(app)
    assert messages(app)[0].status == "queued"
    retry_now(app)
    (row,) = messages(app)
    assert (row.status, row.error_count) == ("sent", 2)
    assert per_phone(fake) == {phone(1): 1}


def test_a_retry_is_not_sent_before_it_is_due(make_app, fake):
    app = make_app(config={"OUTBOX_RETRY_BASE": 60}, **twilio_env(fake))
    try:
        fake.fail_next(1, status=429, code=20429)
        broadcast_to(app, [Person(1)])
        with app.app_context():
            sweep()
        assert fake.attempts == 1
        assert messages(app)[0].next_attempt_at > utcnow() + timedelta(seconds=20)
    finally:
        finish(app)


def test_retries_give_up_after_the_maximum(make_app, fake):
    app = make_app(config={"OUTBOX_RETRY_BASE": 0.01, "OUTBOX_MAX_ATTEMPTS": 3}, **twilio_env(fake))
    try:
        fake.fail_for(phone(1), status=503, code=None, raw_body="busy")
        broadcast_to(app, [Person(1)])
        for _ in range(4):
            retry_now(app)
        (row,) = messages(app)
        assert row.status == "failed"
        assert row.failed_reason.startswith("gave up after 3 tries")
        assert fake.attempts == 3
    finally:
        finish(app)


def test_unreachable_twilio_is_retried(make_app):
    app = make_app(
        config={"OUTBOX_RETRY_BASE": 60}, SMS_BACKEND="twilio", SMS_MAX_PER_SECOND="1000"
    )
    try:
        broadcast_to(app, [Person(1)])  # TWILIO_API_BASE_URL is a closed port
        (row,) = messages(app)
        assert (row.status, row.error_count) == ("queued", 1)
        assert "cannot reach Twilio" in row.failed_reason
    finally:
        finish(app)


def test_21610_opts_the_member_out_and_skips(app, fake):
    fake.fail_for(phone(1), status=400, code=21610)
    broadcast_id = broadcast_to(app, [Person(1), Person(2)])
    rows = {m.phone: m for m in messages(app)}
    assert (rows[phone(1)].status, rows[phone(1)].error_code) == ("skipped", "21610")
    assert rows[phone(2)].status == "sent"
    with app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone(1))).scalar_one()
        assert (member.status, member.opt_out_source) == ("opted_out", "twilio-21610")
        assert db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "member.opted_out")
        ).scalar_one()
    retry_now(app)
    assert fake.attempts == 2
    got = Staff(app).get(f"/broadcasts/{broadcast_id}").json
    assert (got["sent"], got["skipped"]) == (1, 1)


@pytest.mark.parametrize("code", [21211, 21614])
def test_permanent_errors_fail_with_a_reason_and_are_not_retried(app, fake, code):
    fake.fail_for(phone(1), status=400, code=code, message="The 'To' number is not valid")
    broadcast_id = broadcast_to(app, [Person(1)])
    (row,) = messages(app)
    assert (row.status, row.error_code) == ("failed", str(code))
    assert "not valid" in row.failed_reason
    retry_now(app)
    assert fake.attempts == 1
    got = Staff(app).get(f"/broadcasts/{broadcast_id}").json
    assert (got["failed"], got["status"]) == (1, "completed")


def test_claim_is_taken_once(app):
    add_members(app, [Person(1)])
    with app.app_context():
        message = outbox_queue.queue_message(phone=phone(1), body="hi", kind="test")
        db.session.commit()
        assert claims.claim(message.id) is True
        assert claims.claim(message.id) is False


def test_nothing_goes_to_an_opted_out_number(app, fake):
    add_members(app, [Person(1, status="opted_out")])
    with app.app_context():
        stranger = outbox_tasks.send_text(phone=phone(1), body="hello", kind="test")
        assert db.session.get(Message, stranger.id).status == "skipped"
    assert fake.attempts == 0


def test_stale_claims_are_reconciled_or_requeued(app, fake):
    add_members(app, [Person(1), Person(2)])
    with app.app_context():
        old = utcnow() - timedelta(minutes=5)
        recorded = outbox_queue.queue_message(phone=phone(1), body="a", kind="test")
        lost = outbox_queue.queue_message(phone=phone(2), body="b", kind="test")
        fresh = outbox_queue.queue_message(phone=phone(2), body="c", kind="test")
        db.session.flush()
        recorded.status, recorded.claimed_at, recorded.twilio_sid = "sending", old, "SMabc"
        lost.status, lost.claimed_at = "sending", old
        fresh.status, fresh.claimed_at = "sending", utcnow()
        db.session.commit()
        assert outbox_tasks.recover_stale() == (1, 1)
        ids = recorded.id, lost.id, fresh.id
    rows = {m.id: m for m in messages(app)}
    assert rows[ids[0]].status == "sent"
    assert (rows[ids[1]].status, rows[ids[1]].error_count) == ("queued", 1)
    assert rows[ids[2]].status == "sending"  # still within its lease
    with app.app_context():
        sweep()
    assert fake.bodies_to(phone(2)) == ["b"]


def test_a_stale_claim_that_twilio_has_is_reconciled_not_resent(app, fake):
    """The worker died after Twilio accepted the text: Twilio's list shows it."""
    from twilio.rest import Client

    add_members(app, [Person(1)])
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake.base_url
    try:
        earlier = client.messages.create(to=phone(1), from_=TWILIO_FROM, body="same text")
        accepted = client.messages.create(to=phone(1), from_=TWILIO_FROM, body="same text")
    finally:
        client.http_client.session.close()
    with app.app_context():
        old = utcnow() - timedelta(minutes=2)
        done = outbox_queue.queue_message(phone=phone(1), body="same text", kind="test")
        done.status, done.twilio_sid = "sent", earlier.sid  # an earlier text, recorded
        died = outbox_queue.queue_message(phone=phone(1), body="same text", kind="test")
        died.status, died.claimed_at = "sending", old
        db.session.commit()
        assert outbox_tasks.recover_stale() == (1, 0)
        sweep()
        stored = db.session.get(Message, died.id)
        assert (stored.status, stored.twilio_sid) == ("sent", accepted.sid)
    assert fake.attempts == 2  # nothing sent again


def test_record_sent_never_moves_backwards(app):
    with app.app_context():
        message = outbox_queue.queue_message(phone=phone(1), body="a", kind="test")
        message.status, message.twilio_sid = "delivered", "SM1"
        db.session.commit()
        claims.record_sent(message.id, "SM2")
        again = db.session.get(Message, message.id)
        db.session.refresh(again)
        assert (again.status, again.twilio_sid) == ("delivered", "SM1")


def test_backoff_grows_with_jitter_and_a_cap(app):
    with app.app_context():
        first = [claims.backoff(1, settings()) for _ in range(50)]
        third = [claims.backoff(3, settings()) for _ in range(50)]
        huge = [claims.backoff(30, settings()) for _ in range(50)]
    assert all(0.1 <= d <= 0.3 for d in first)  # OUTBOX_RETRY_BASE is 0.2 here
    assert all(0.4 <= d <= 1.2 for d in third)
    assert len(set(first)) > 1
    assert max(huge) <= 600 * 1.5


@pytest.mark.parametrize(
    "window, local, quiet_until",
    [
        ("21:00-08:00", "2025-01-15 22:30", "2025-01-16 08:00"),
        ("21:00-08:00", "2025-01-15 03:00", "2025-01-15 08:00"),
        ("21:00-08:00", "2025-01-15 08:00", None),
        ("21:00-08:00", "2025-01-15 20:59", None),
        ("21:00-08:00", "2025-01-15 21:00", "2025-01-16 08:00"),
        ("12:00-14:00", "2025-01-15 13:00", "2025-01-15 14:00"),
        ("12:00-14:00", "2025-01-15 14:00", None),
        ("", "2025-01-15 23:00", None),
        ("21:00-08:00", "2025-07-15 22:00", "2025-07-16 08:00"),  # summer time
    ],
)
def test_quiet_hours(window, local, quiet_until):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    cfg = make_settings(QUIET_HOURS=window)
    assert cfg.quiet_hours == parse_quiet_hours(window)
    now = datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC)
    got = quiet.quiet_until(cfg, now)
    expected = (
        None
        if quiet_until is None
        else datetime.fromisoformat(quiet_until).replace(tzinfo=zone).astimezone(UTC)
    )
    assert got == expected


def _window_around_now() -> str:
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("Europe/London"))
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_quiet_hours_defer_bulk_but_not_replies(make_app, fake):
    quiet = make_app(QUIET_HOURS=_window_around_now(), **twilio_env(fake))
    try:
        broadcast_id = broadcast_to(quiet, [Person(1), Person(2)])
        with quiet.app_context():
            sweep()
            reply = outbox_tasks.send_text(
                phone=phone(3), body="Your vote is counted", kind="reply"
            )
            assert db.session.get(Message, reply.id).status == "sent"
        assert [m["to"] for m in fake.messages] == [phone(3)]
        assert Staff(quiet).get(f"/broadcasts/{broadcast_id}").json["status"] == "sending"
    finally:
        finish(quiet)
    morning = make_app(QUIET_HOURS="", **twilio_env(fake))
    try:
        with morning.app_context():
            sweep()
        assert sorted(per_phone(fake)) == [phone(1), phone(2), phone(3)]
    finally:
        finish(morning)


def test_console_backend_marks_sent_with_a_local_sid(make_app, caplog):
    caplog.set_level(logging.INFO, logger="app.sms.backends")
    app = make_app(SMS_BACKEND="console", SMS_MAX_PER_SECOND="1000")
    try:
        add_members(app, [Person(1)])
        with app.app_context():
            message = outbox_tasks.send_text(phone=phone(1), body="Hello there", kind="test")
            row = db.session.get(Message, message.id)
            assert row.status == "sent"
            assert row.twilio_sid.startswith("CONSOLE")
        # Logged that it went, never what it said (members' words stay out of logs).
        assert "SMS to" in caplog.text and "Hello there" not in caplog.text
    finally:
        finish(app)


def test_one_to_one_texts_are_high_priority(app, fake):
    add_members(app, [Person(1)])
    with app.app_context():
        member_id = db.session.execute(select(Member.id)).scalar_one()
        message = outbox_queue.queue_message(
            phone=phone(1), body="P12: more", kind="info", member_id=member_id
        )
        db.session.commit()
        assert message.priority == "high"
        assert message.segments == 1
        outbox_tasks.send_soon(message.id)
    assert fake.bodies_to(phone(1)) == ["P12: more"]
    assert fake.messages[0]["params"]["StatusCallback"].endswith(f"?m={message.id}")


def test_a_due_one_to_one_retry_is_found_by_the_sweeper(app, fake):
    with app.app_context():
        message = outbox_queue.queue_message(phone=phone(1), body="later", kind="test")
        message.next_attempt_at = utcnow() + timedelta(hours=1)
        db.session.commit()
        outbox_tasks.send_soon(message.id)
        sweep()
        assert fake.attempts == 0
        db.session.execute(update(Message).values(next_attempt_at=utcnow()))
        db.session.commit()
        sweep()
    assert fake.bodies_to(phone(1)) == ["later"]
