"""Broadcasts and reminders that carry each member's personal link.

The stored text holds a marked link (links.MARKER where the token goes); the sender
issues the member's link when it claims the text and stores the final body in the
claim's transaction. The expansion stays one INSERT ... SELECT, the segments are known
before anything is sent, and a text taken back from a dead worker keeps its one link.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from app.domain import broadcasts, links
from app.domain.outbox import claims
from app.extensions import db
from app.models import Broadcast, Consultation, Member, Message, PersonalLink, utcnow
from app.sms import segments
from app.tasks import broadcasts as broadcast_tasks
from app.tasks import outbox as outbox_tasks
from app.worker import sweep
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, TWILIO_FROM
from tests.outbox_helpers import Person, add_members, many, messages, phone

LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"/v/([A-Za-z0-9]{12})\b")


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


def token_in(body: str) -> str:
    [token] = LINK.findall(body)
    return token


def live_hash(app, member_id: int) -> str | None:
    """The hash of the member's one live link, if any."""
    with app.app_context():
        rows = db.session.execute(
            select(PersonalLink.token_hash).where(PersonalLink.member_id == member_id)
        ).all()
    assert len(rows) <= 1
    return rows[0][0] if rows else None


def test_preview_shows_what_the_links_add_per_language(app, staff):
    add_members(app, [*many(3), Person(5, "ar")])
    summary = "Open the garden on Sundays from April to September, with volunteers to lock up?"
    staff.consultation(summary={"en": summary, "ar": "هل نفتح الحديقة؟"})
    plain = staff.get("/consultations/P12/broadcast/preview").json
    linked = staff.get("/consultations/P12/broadcast/preview?links=true").json
    assert (plain["links"], linked["links"]) == (False, True)
    price = app.config["CHORUS"].sms_price_per_segment
    before = {e["language"]: e for e in plain["languages"]}
    for entry in linked["languages"]:
        language = entry["language"]
        assert entry["body"].startswith(before[language]["body"])
        assert entry["body"].endswith(f"{PUBLIC_BASE_URL}/v/{'x' * links.TOKEN_LENGTH}")
        assert entry["segments"] == before[language]["segments"] + entry["link_segments"]
        assert Decimal(entry["cost"]) == price * entry["segments"] * entry["recipients"]
        assert Decimal(entry["link_cost"]) == price * entry["link_segments"] * entry["recipients"]
        assert before[language]["link_segments"] == 0
    by = {e["language"]: e for e in linked["languages"]}
    assert by["ar"]["body"].splitlines()[-1].startswith("أو")  # in the text's language
    assert by["en"]["link_segments"] == 1  # one GSM-7 segment grows to two
    assert Decimal(linked["cost"]) == price * linked["total_segments"]
    assert linked["currency"] == "GBP"
    assert staff.get("/consultations/P12/broadcast/preview?links=maybe").status_code == 422
    with app.app_context():
        assert db.session.execute(select(Broadcast)).first() is None


def test_each_member_gets_their_own_link_and_the_expansion_is_one_insert(app, staff, fake):
    ids = add_members(app, [Person(1), Person(2, "cy"), Person(3, "ar")])
    staff.consultation(summary={"en": "Open the garden?"})
    statements: list[str] = []
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, recipients = broadcasts.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"], with_links=True
        )
        db.session.commit()
        assert recipients == 3 and broadcast.links
        broadcast_id = broadcast.id

        def seen(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            assert broadcast_tasks.expand_rows(broadcast_id) == 3
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1 and "INSERT INTO message" in inserts[0]
    queued = messages(app)
    assert all(links.waiting_for_link(m.body) for m in queued)
    assert all(m.segments == segments.count(m.body).segments for m in queued)
    assert live_hash(app, ids[0]) is None  # nothing issued before the text goes

    with app.app_context():
        broadcast_tasks.pump(broadcast_id)
    sent = {m.member_id: m for m in messages(app)}
    tokens = set()
    for member_id, number in zip(ids, (phone(1), phone(2), phone(3)), strict=True):
        [body] = fake.bodies_to(number)
        stored = sent[member_id]
        assert stored.status == "sent" and stored.body == body
        assert stored.segments == segments.count(body).segments  # what was counted is what went
        token = token_in(body)
        tokens.add(token)
        assert live_hash(app, member_id) == links.token_hash(token)
        with app.app_context():
            member, consultation = links.find(token)
            assert (member.id, consultation.code) == (member_id, "P12")
    assert len(tokens) == 3
    assert staff.get(f"/broadcasts/{broadcast_id}").json["links"] is True


def test_api_broadcast_and_reminder_with_links(app, staff, fake):
    add_members(app, [Person(1), Person(2)])
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast", json={"links": True})
    assert r.status_code == 202
    first = token_in(fake.bodies_to(phone(1))[0])
    r = staff.post("/consultations/P12/remind", json={"links": True})
    assert r.status_code == 202 and r.json["recipients"] == 2
    reminder = fake.bodies_to(phone(1))[1]
    assert reminder.startswith("Reminder:")
    second = token_in(reminder)
    assert second != first  # one live link: the newer one
    client = app.test_client()
    assert client.get(f"/v/{first}").status_code == 404
    assert client.get(f"/v/{second}").status_code == 200
    # Without the option, no link.
    assert staff.post("/consultations/P12/remind").status_code == 202
    assert "/v/" not in fake.bodies_to(phone(1))[2]
    bad = staff.post("/consultations/P12/broadcast", json={"links": "yes"})
    assert bad.status_code == 422 and "links" in bad.json["error"]


def test_links_need_an_origin(make_app, fake):
    from tests.outbox_helpers import Staff

    app = make_app(PUBLIC_BASE_URL="", SMS_BACKEND="console")
    add_members(app, [Person(1)])
    staff = Staff(app)
    staff.consultation()
    # Through the API the request's own origin serves.
    r = staff.get("/consultations/P12/broadcast/preview?links=true")
    assert r.status_code == 200 and "http://localhost/v/" in r.json["languages"][0]["body"]
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        with pytest.raises(broadcasts.Invalid, match="PUBLIC_BASE_URL"):
            broadcasts.create_summary(
                consultation, actor="system", settings=app.config["CHORUS"], with_links=True
            )


def expanded(app, staff, people: list[Person]) -> tuple[list[int], int]:
    """Members, and the ids of a summary broadcast with links, expanded, none sent."""
    ids = add_members(app, people)
    staff.consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"], with_links=True
        )
        db.session.commit()
        broadcast_tasks.expand_rows(broadcast.id)
        message_ids = db.session.execute(select(Message.id).order_by(Message.id)).scalars().all()
    return ids, message_ids


def test_a_text_claimed_again_after_its_worker_died_keeps_its_one_link(app, staff, fake):
    """The worker claimed the text, issued the link, committed, and died before Twilio:
    the sweeper re-queues it, and the next claim sends the same link."""
    [member_id], [message_id] = expanded(app, staff, [Person(1)])
    with app.app_context():
        assert claims.claim(message_id, "dead-worker")
        claim = claims.claimed(message_id)
        db.session.commit()
        token = token_in(claim.body)
        db.session.execute(
            Message.__table__.update()
            .where(Message.id == message_id)
            .values(claimed_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
        assert outbox_tasks.recover_stale() == (0, 1)
        assert db.session.get(Message, message_id).body == claim.body
        assert live_hash(app, member_id) == links.token_hash(token)
        sweep()
        broadcast_tasks.pump_broadcasts()
    assert fake.bodies_to(phone(1)) == [claim.body]
    assert token_in(fake.bodies_to(phone(1))[0]) == token
    assert live_hash(app, member_id) == links.token_hash(token)
    assert app.test_client().get(f"/v/{token}").status_code == 200


def test_a_text_twilio_took_before_its_worker_died_is_found_by_its_final_body(app, staff, fake):
    """The final body (with the link) was committed with the claim, so the sweeper
    finds the text at Twilio and never sends it again, or with another link."""
    from twilio.rest import Client

    [member_id], [message_id] = expanded(app, staff, [Person(1)])
    with app.app_context():
        assert claims.claim(message_id, "dead-worker")
        claim = claims.claimed(message_id)
        db.session.commit()
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake.base_url
    try:
        accepted = client.messages.create(to=phone(1), from_=TWILIO_FROM, body=claim.body)
    finally:
        client.http_client.session.close()
    with app.app_context():
        db.session.execute(
            Message.__table__.update()
            .where(Message.id == message_id)
            .values(claimed_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
        assert outbox_tasks.recover_stale() == (1, 0)
        sweep()
        stored = db.session.get(Message, message_id)
        assert (stored.status, stored.twilio_sid) == ("sent", accepted.sid)
    assert fake.attempts == 1
    assert live_hash(app, member_id) == links.token_hash(token_in(claim.body))


def test_a_claim_that_never_committed_leaves_the_text_waiting_for_its_link(app, staff, fake):
    """The worker died before committing its claim: nothing of it stands, no link was
    issued, and the next claim issues one."""
    [member_id], [message_id] = expanded(app, staff, [Person(1)])
    with app.app_context():
        assert claims.claim(message_id, "dying-worker")
        claims.claimed(message_id)
        db.session.rollback()
        stored = db.session.get(Message, message_id)
        assert stored.status == "queued" and links.waiting_for_link(stored.body)
    assert live_hash(app, member_id) is None
    with app.app_context():
        broadcast_tasks.pump_broadcasts()
    [body] = fake.bodies_to(phone(1))
    assert live_hash(app, member_id) == links.token_hash(token_in(body))


def test_an_opted_out_member_gets_no_text_and_no_link(app, staff, fake):
    ids, _ = expanded(app, staff, [Person(1), Person(2)])
    with app.app_context():
        member = db.session.get(Member, ids[1])
        member.status = "opted_out"
        db.session.commit()
        broadcast_tasks.pump_broadcasts()
    assert [m["to"] for m in fake.messages] == [phone(1)]
    assert live_hash(app, ids[1]) is None
