"""Review of the texting-out code: each test here failed before the fix it names.

Jobs run inline unless a test says otherwise; texts go through the real twilio client
to FakeTwilio.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update

from app.api.schemas import BroadcastSchema
from app.domain import Conflict, broadcasts, members, outcomes
from app.domain.outbox import queue as outbox_queue
from app.extensions import db
from app.jobs import KEY_PREFIX
from app.models import AuditEvent, Broadcast, Consultation, Member, Message, Outcome, utcnow
from app.sms.ratelimit import RateLimiter
from app.tasks import broadcasts as broadcast_tasks
from app.tasks import outbox as outbox_tasks
from app.tasks import sender as sending
from app.tasks.consultations import remind_due
from tests.conftest import AUTH_TOKEN, DATABASE_URL, PUBLIC_BASE_URL
from tests.fake_twilio import sign
from tests.outbox_helpers import (
    Person,
    Staff,
    add_members,
    finish,
    messages,
    phone,
    start_fake,
    twilio_env,
)


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


def queue_one(app, member_id: int, n: int = 1, body: str = "hello") -> int:
    """A committed, queued one-to-one text to member `n`; returns its id."""
    with app.app_context():
        message = outbox_queue.queue_message(
            phone=phone(n), body=body, kind="t", member_id=member_id
        )
        db.session.commit()
        return message.id


def status(app, message_id: int) -> str:
    with app.app_context():
        return db.session.execute(
            select(Message.status).where(Message.id == message_id)
        ).scalar_one()


class GatedLimiter:
    """The sender's limiter, holding the sender when it books a new slot (after its claim)
    until the test lets it go: the test acts while the send waits for its slot."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.booking, self.go = threading.Event(), threading.Event()

    def book(self, *args, **kwargs):
        self.booking.set()
        assert self.go.wait(30), "the test never let the send go on"
        return self.limiter.book(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.limiter, name)


WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b|.*\bFOR UPDATE\b", re.IGNORECASE | re.DOTALL)


def first_write_of(app, thread: threading.Thread) -> threading.Event:
    """An event set when `thread` sends its first write to the database: the statement
    that waits for the lock another transaction holds."""
    sent = threading.Event()
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread() is thread and WRITE.match(statement):
            sent.set()

    return sent


def age_suspicions(app, seconds: float = 60.0) -> None:
    """Backdate every "not beating" mark by `seconds`: the sweeper's second look at a
    process (jobs.dead) then comes long after its first, without waiting for it."""
    redis = app.extensions["chorus_jobs"].redis
    for key in redis.scan_iter(KEY_PREFIX + "suspect:*"):
        redis.set(key, f"{float(redis.get(key)) - seconds:.3f}", keepttl=True)


# ---------------------------------------------------------------------- STOP always wins


def test_a_stop_between_claim_and_send_is_honoured(make_app, fake):
    """A send woken late books a new slot after it has claimed the text; a STOP that
    lands while it waits for that slot must still stop the text."""
    app = make_app(**twilio_env(fake, SMS_MAX_PER_SECOND="2"))
    try:
        (member_id,) = add_members(app, [Person(1)])
        message_id = queue_one(app, member_id)
        sender = sending.outbox(app)
        sender.limiter = gate = GatedLimiter(sender.limiter)
        late = sending.Slot(time.monotonic() - 1.0, 1, None)  # a slot it woke too late for

        def deliver():
            with app.app_context():
                sender._deliver(message_id, late)

        thread = threading.Thread(target=deliver)
        thread.start()
        assert gate.booking.wait(10)  # claimed, booking its new slot
        assert status(app, message_id) == "sending"
        with app.app_context():
            members.opt_out(db.session.get(Member, member_id), source="sms")  # STOP
            db.session.commit()
        gate.go.set()
        thread.join(10)
        assert fake.messages == []
        assert status(app, message_id) == "skipped"
    finally:
        finish(app)


def test_a_broadcast_text_booked_before_quiet_hours_waits_for_their_end(make_app, fake):
    """A batch job books texts up to half a second ahead and looks at the clock every
    half second: a text booked just before quiet hours began must not go inside them."""
    now = datetime.now(ZoneInfo("Europe/London"))
    window = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    app = make_app(**twilio_env(fake, QUIET_HOURS=window, TIMEZONE="Europe/London"))
    try:
        add_members(app, [Person(1)])
        staff = Staff(app)
        staff.consultation()
        broadcast_id = staff.post("/consultations/P12/broadcast").json["broadcast_id"]
        with app.app_context():
            (message_id,) = db.session.execute(select(Message.id)).scalars()
            # What the batch job did at 20:59:59.9, the send coming due after 21:00.
            sending.outbox().dispatch(message_id, 1, bulk=True, broadcast_id=broadcast_id)
        assert fake.messages == []
        assert status(app, message_id) == "queued"  # it goes when quiet hours end
    finally:
        finish(app)


# ---------------------------------------------------------------------- claims and heartbeats


@pytest.fixture
def slow_fake():
    """A FakeTwilio that holds the first request (a text in flight) until the test sets
    `slow_fake.release`; `slow_fake.arrived` is set when it came. Later requests (the
    sweeper reading Twilio's list) are answered at once."""
    running = start_fake()
    running.arrived, running.release = threading.Event(), threading.Event()

    def hold_the_first():
        if not running.arrived.is_set():
            running.arrived.set()
            running.release.wait(30)

    running._delay = hold_the_first
    yield running
    running.release.set()
    running.stop()


def test_an_inline_sender_with_redis_keeps_its_live_claims(make_app, slow_fake, rq_setup):
    """OUTBOX_SEND_THREADS=0 sends inline and never beats: its claims must not be taken
    for a dead process's while its Twilio call is in flight (that sends them twice)."""
    env, config = rq_setup
    app = make_app(
        config={**config, "OUTBOX_SEND_THREADS": 0, "OUTBOX_HEARTBEAT_TTL": 0.4},
        **twilio_env(slow_fake),
        **env,
    )
    try:
        (member_id,) = add_members(app, [Person(1)])
        message_id = queue_one(app, member_id)
        sender = sending.outbox(app)
        assert sender.inline

        def deliver():
            with app.app_context():
                sender._deliver(message_id)

        thread = threading.Thread(target=deliver)
        thread.start()
        assert slow_fake.arrived.wait(10)  # the text is with Twilio
        with app.app_context():
            first = outbox_tasks.recover_stale()
            age_suspicions(app)
            second = outbox_tasks.recover_stale()
            outbox_tasks.send_message(message_id)  # what the sweeper's pump_singles would queue
        slow_fake.release.set()
        thread.join(10)
        assert (first, second) == ((0, 0), (0, 0))
        assert len(slow_fake.bodies_to(phone(1))) == 1
    finally:
        finish(app)


def test_claims_in_flight_at_shutdown_are_not_taken_back(make_app, slow_fake, rq_setup):
    """SIGTERM finishes the texts in flight: the process must keep beating until they
    are done, or another worker's sweeper re-queues (and re-sends) them meanwhile."""
    env, config = rq_setup
    app = make_app(
        config={**config, "OUTBOX_SEND_THREADS": 2, "OUTBOX_HEARTBEAT_TTL": 0.4},
        **twilio_env(slow_fake),
        **env,
    )
    try:
        (member_id,) = add_members(app, [Person(1)])
        message_id = queue_one(app, member_id)
        sender = sending.outbox(app)
        with app.app_context():
            assert sender.dispatch(message_id, 1, bulk=False, broadcast_id=None)
        assert slow_fake.arrived.wait(10)  # the text is with Twilio
        coordinator = app.extensions["chorus_jobs"]
        beat, real_beat = threading.Event(), coordinator.beat

        def spy(*args):
            real_beat(*args)
            beat.set()

        coordinator.beat = spy
        closing = threading.Thread(target=sending.close_outbox, args=(app,))
        closing.start()  # the worker was told to stop; the text is still with Twilio
        assert sender.stop.wait(10)
        beat.clear()
        assert beat.wait(10), "the heartbeat stopped while a text was in flight"
        with app.app_context():
            first = outbox_tasks.recover_stale()
            age_suspicions(app)
            second = outbox_tasks.recover_stale()
        slow_fake.release.set()
        closing.join(10)
        assert (first, second) == ((0, 0), (0, 0))
        assert status(app, message_id) == "sent"
    finally:
        finish(app)


# ---------------------------------------------------------------------- the sweeper


def test_a_reminder_over_budget_does_not_block_the_other_reminders(app, staff, fake):
    add_members(app, [Person(1)])
    times = {
        "remind_at": (utcnow() + timedelta(days=1)).isoformat(),
        "closes_at": (utcnow() + timedelta(days=2)).isoformat(),
    }
    long_options = [{"label": {"en": f"{n} " + "x" * 95}} for n in range(20)]
    staff.consultation("P1", kind="choice", options=long_options, **times)
    staff.consultation("P2", **times)
    with app.app_context():
        db.session.execute(update(Consultation).values(remind_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        remind_due()
        remind_due()  # and the refused one is not tried again at every sweep
        reminded = db.session.execute(
            select(Consultation.code)
            .join(Broadcast, Broadcast.consultation_id == Consultation.id)
            .where(Broadcast.kind == "reminder")
        ).scalars()
        assert list(reminded) == ["P2"]
        assert all(db.session.execute(select(Consultation.reminded_at)).scalars())
        refused = db.session.execute(
            select(AuditEvent.subject_id).where(
                AuditEvent.action == "consultation.reminder_refused"
            )
        ).scalars()
        assert list(refused) == ["P1"]  # staff can see why P1 had no reminder
    assert fake.bodies_to(phone(1))[0].startswith("Reminder")


def test_a_cancel_while_the_expansion_waits_leaves_nothing_queued(app, staff, fake):
    """Staff cancel after the expansion has read the broadcast but before it claims it:
    the expansion must see the cancel, not queue rows that nothing will ever send or skip."""
    add_members(app, [Person(1), Person(2)])
    staff.consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"]
        )
        db.session.commit()
        broadcast_id = broadcast.id
    cancelling, go = threading.Event(), threading.Event()

    def cancel():
        with app.app_context():
            broadcasts.cancel(db.session.get(Broadcast, broadcast_id), actor="staff")
            db.session.flush()  # the broadcast row is now locked by this transaction
            cancelling.set()
            go.wait(10)
            db.session.commit()

    def expand():
        with app.app_context():
            broadcast_tasks.expand_rows(broadcast_id)

    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert cancelling.wait(10)
    expander = threading.Thread(target=expand)
    waiting = first_write_of(app, expander)
    expander.start()  # reads "sending", then waits for the row lock
    assert waiting.wait(10)
    go.set()
    canceller.join(10)
    expander.join(10)
    with app.app_context():
        got = BroadcastSchema().dump(db.session.get(Broadcast, broadcast_id))
    assert (got["status"], got["pending"]) == ("cancelled", 0)
    assert fake.messages == []


def test_two_outcomes_at_once_the_second_is_a_conflict(app, staff):
    """Two staff (or a client retrying) publish the outcome at the same moment: the
    second is told it is already decided (409), not a 500 from the unique index."""
    staff.consultation()
    recorded, go = threading.Event(), threading.Event()
    second: list[BaseException | None] = []

    def first():
        with app.app_context():
            consultation = db.session.execute(select(Consultation)).scalar_one()
            outcomes.decide(
                consultation, {"text": {"en": "Yes"}}, actor="a", settings=app.config["CHORUS"]
            )  # flushed: the outcome row is written, not yet committed
            recorded.set()
            go.wait(10)
            db.session.commit()

    def other():
        with app.app_context():
            consultation = db.session.execute(select(Consultation)).scalar_one()
            try:
                outcomes.decide(
                    consultation, {"text": {"en": "No"}}, actor="b", settings=app.config["CHORUS"]
                )
                second.append(None)
            except BaseException as exc:  # the test looks at what it was
                second.append(exc)
            finally:
                db.session.rollback()

    a = threading.Thread(target=first)
    a.start()
    assert recorded.wait(10)
    b = threading.Thread(target=other)
    waiting = first_write_of(app, b)
    b.start()  # reads "open", no outcome yet; its write waits for the first's
    assert waiting.wait(10)
    go.set()
    a.join(10)
    b.join(10)
    assert len(second) == 1 and isinstance(second[0], Conflict), second
    with app.app_context():
        assert db.session.execute(select(Outcome.text)).scalars().all() == [{"en": "Yes"}]


@pytest.mark.skipif("postgresql" not in DATABASE_URL, reason="row locks: PostgreSQL")
def test_a_pause_racing_a_cancel_does_not_revive_the_broadcast(app, staff, fake):
    """Staff pause while a cancel is being committed: the pause must see the cancel
    (409), not overwrite it and leave a cancelled broadcast paused (and resumable)."""
    add_members(app, [Person(1)])
    staff.consultation()
    at = (utcnow() + timedelta(hours=1)).isoformat()
    broadcast_id = staff.post("/consultations/P12/broadcast", json={"at": at}).json["broadcast_id"]
    cancelling, go = threading.Event(), threading.Event()

    def cancel():
        with app.app_context():
            broadcasts.cancel(db.session.get(Broadcast, broadcast_id), actor="staff")
            db.session.flush()
            cancelling.set()
            go.wait(10)
            db.session.commit()

    answers = []
    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert cancelling.wait(10)
    pauser = threading.Thread(
        target=lambda: answers.append(staff.post(f"/broadcasts/{broadcast_id}/pause"))
    )
    waiting = first_write_of(app, pauser)
    pauser.start()
    assert waiting.wait(10)
    go.set()
    canceller.join(10)
    pauser.join(10)
    assert answers[0].status_code == 409, answers[0].json
    assert staff.get(f"/broadcasts/{broadcast_id}").json["status"] == "cancelled"


# ---------------------------------------------------------------------- the staff API


@pytest.mark.parametrize("broadcast_id", ["2147483648", "99999999999999999999"])
@pytest.mark.parametrize("action", ["", "/pause", "/resume", "/cancel"])
def test_a_broadcast_id_beyond_any_row_is_404(staff, broadcast_id, action):
    path = f"/broadcasts/{broadcast_id}{action}"
    r = staff.post(path) if action else staff.get(path)
    assert r.status_code == 404
    assert "error" in r.json


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00"]
)
def test_an_out_of_range_at_is_422(app, staff, fake, at):
    add_members(app, [Person(1)])
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast", json={"at": at})
    assert r.status_code == 422
    assert "range" in r.json["error"]
    with app.app_context():
        assert db.session.execute(select(Broadcast)).first() is None


def test_openapi_says_a_broadcast_body_takes_only_at(app, staff, fake):
    add_members(app, [Person(1)])
    staff.consultation()
    assert staff.post("/consultations/P12/broadcast", json={"when": "soon"}).status_code == 422
    schema = staff.get("/openapi.json").json["components"]["schemas"]["BroadcastIn"]
    assert schema.get("additionalProperties") is False


def test_a_text_with_no_default_language_translation_is_never_a_mix(app, staff, fake):
    """The summary exists only in French: an English member gets it all in French
    (summary and reply instructions), not French with English instructions."""
    add_members(app, [Person(1, language="en"), Person(2, language="fr")])
    staff.consultation(title={"fr": "Horaires"}, summary={"fr": "Faut-il ouvrir le lundi ?"})
    assert staff.post("/consultations/P12/broadcast").status_code == 202
    french = "P12: Faut-il ouvrir le lundi ?\nRépondez P12 OUI, NON ou ABSTENTION"
    assert fake.bodies_to(phone(1)) == [french]
    assert fake.bodies_to(phone(2)) == [french]
    preview = staff.get("/consultations/P12/broadcast/preview").json
    shown = {row["language"]: row["text_language"] for row in preview["languages"]}
    assert shown["en"] == "fr"


# ---------------------------------------------------------------------- status callbacks


@pytest.mark.parametrize("ref", ["²", "99999999999"])
def test_a_status_callback_with_an_odd_message_ref_is_not_a_500(app, client, ref):
    (member_id,) = add_members(app, [Person(1)])
    message_id = queue_one(app, member_id)
    with app.app_context():
        db.session.execute(update(Message).values(status="sent", twilio_sid="SM" + "2" * 32))
        db.session.commit()
    params = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    path = f"/twilio/status?m={quote(ref)}"  # as Twilio calls it, percent-encoded
    signature = sign(PUBLIC_BASE_URL + path, params, AUTH_TOKEN)
    r = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 204
    assert status(app, message_id) == "delivered"  # found by its sid instead
    assert [m.status for m in messages(app)] == ["delivered"]


def test_a_sender_whose_claim_was_taken_back_does_not_send(make_app, fake):
    """A sender that stalls past its lease while waiting for its slot finds the sweeper
    gave the text to another sender: it must not send it as well."""
    app = make_app(**twilio_env(fake, SMS_MAX_PER_SECOND="2"))
    try:
        (member_id,) = add_members(app, [Person(1)])
        message_id = queue_one(app, member_id)
        sender = sending.outbox(app)
        sender.limiter = gate = GatedLimiter(sender.limiter)
        late = sending.Slot(time.monotonic() - 1.0, 1, None)  # a slot it woke too late for

        def deliver():
            with app.app_context():
                sender._deliver(message_id, late)

        thread = threading.Thread(target=deliver)
        thread.start()
        assert gate.booking.wait(10)  # claimed, booking its new slot
        assert status(app, message_id) == "sending"
        with app.app_context():  # what recovery then a new claim by another sender leave
            db.session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(claimed_at=utcnow() + timedelta(seconds=1), claimed_by="other")
            )
            db.session.commit()
        gate.go.set()
        thread.join(10)
        assert fake.messages == []
        assert status(app, message_id) == "sending"  # the other sender's to send
    finally:
        finish(app)
