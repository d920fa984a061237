"""Broadcasts through the staff API: counts, languages, budget, schedule, pause/resume/cancel.

Jobs run inline (JOBS_EAGER), and texts go through the real twilio client to FakeTwilio.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.api.schemas import BroadcastSchema
from app.domain import broadcasts, members
from app.domain.outbox import claims
from app.extensions import db
from app.models import AuditEvent, Broadcast, Consultation, Member, Message, utcnow
from app.tasks import broadcasts as broadcast_tasks
from app.tasks import outbox as outbox_tasks
from app.worker import sweep
from tests.outbox_helpers import (
    Person,
    add_members,
    many,
    messages,
    per_phone,
    phone,
)


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


def actions(app) -> list[str]:
    """Audit actions, in order."""
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        )


def test_broadcast_answers_202_with_recipients_and_counts(app, staff, fake):
    add_members(app, many(5))
    add_members(app, [Person(10, status="opted_out"), Person(11, status="pending")])
    add_members(app, [Person(12, groups=("allies",))])  # not in the audience
    staff.consultation(audience=["community"])

    r = staff.post("/consultations/P12/broadcast")
    assert r.status_code == 202
    assert r.json["recipients"] == 5
    got = staff.get(f"/broadcasts/{r.json['broadcast_id']}").json
    assert got["status"] == "completed"
    assert (got["total"], got["sent"], got["delivered"], got["failed"], got["skipped"]) == (
        7,
        5,
        0,
        0,
        2,
    )
    assert sorted(per_phone(fake)) == sorted(phone(n) for n in range(5))
    assert set(per_phone(fake).values()) == {1}
    assert all(
        m["status_callback"].endswith(f"/twilio/status?m={i}")
        for i, m in zip([row.id for row in messages(app)], fake.messages, strict=True)
    )
    assert "broadcast.created" in actions(app)


def test_no_audience_means_every_active_member(app, staff, fake):
    add_members(app, [Person(1, groups=()), Person(2, groups=("allies",)), Person(3)])
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast")
    assert r.json["recipients"] == 3
    assert len(fake.messages) == 3


def test_each_member_gets_their_language_or_the_default(app, staff, fake):
    add_members(
        app,
        [Person(1, "en"), Person(2, "cy"), Person(3, "fr"), Person(4, "ar")],
    )
    staff.consultation(
        summary={"en": "Open the garden?", "cy": "Agor yr ardd?", "ar": "هل نفتح الحديقة؟"}
    )
    assert staff.post("/consultations/P12/broadcast").status_code == 202
    bodies = {m["to"]: m["body"] for m in fake.messages}
    assert bodies[phone(1)] == "P12: Open the garden?\nReply P12 YES, NO or ABSTAIN"
    assert bodies[phone(2)].startswith("P12: Agor yr ardd?\n")
    assert bodies[phone(3)] == bodies[phone(1)]  # no French summary: all in English
    assert bodies[phone(4)].startswith("P12: هل نفتح الحديقة؟\n")
    rows = {m.phone: m for m in messages(app)}
    assert (rows[phone(4)].encoding, rows[phone(1)].encoding) == ("UCS-2", "GSM-7")
    assert all(m.kind == "summary" and m.priority == "bulk" for m in rows.values())


def test_choice_lists_numbered_options_and_open_asks_for_a_comment(app, staff, fake):
    add_members(app, [Person(1)])
    staff.consultation("C1", kind="choice")
    staff.consultation("O1", kind="open")
    staff.post("/consultations/C1/broadcast")
    staff.post("/consultations/O1/broadcast")
    choice, open_ = fake.bodies_to(phone(1))
    assert choice.endswith("Reply C1 and the number of your choice:\n1 Monday\n2 Tuesday")
    assert open_.endswith("Reply O1 and your comment")


def test_preview_shows_every_language_its_cost_and_recipients(app, staff):
    add_members(app, [*many(3), Person(5, "ar"), Person(6, "fr"), Person(7, status="opted_out")])
    staff.consultation(summary={"en": "Open the garden?", "ar": "هل نفتح الحديقة؟"})
    r = staff.get("/consultations/P12/broadcast/preview")
    assert r.status_code == 200
    doc = r.json
    assert (doc["recipients"], doc["skipped"]) == (5, 1)
    by = {entry["language"]: entry for entry in doc["languages"]}
    assert set(by) == {"en", "ar", "fr"}
    assert (by["en"]["recipients"], by["en"]["segments"], by["en"]["encoding"]) == (3, 1, "GSM-7")
    assert (by["ar"]["encoding"], by["ar"]["text_language"]) == ("UCS-2", "ar")
    assert (by["fr"]["text_language"], by["fr"]["body"]) == ("en", by["en"]["body"])
    assert doc["total_segments"] == sum(e["segments"] * e["recipients"] for e in by.values())
    assert doc["within_budget"] is True
    assert doc["segment_budget"] == broadcasts.SEGMENT_BUDGET
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Broadcast)).scalar() == 0


def test_over_budget_is_refused_and_nothing_is_created(app, staff, fake):
    add_members(app, [Person(1, "ar")])
    long_arabic = "ح" * 470  # 470 UCS-2 characters: 8 segments with the instructions
    staff.consultation(summary={"en": "Short", "ar": long_arabic})
    assert staff.get("/consultations/P12/broadcast/preview").json["within_budget"] is False
    r = staff.post("/consultations/P12/broadcast")
    assert r.status_code == 422
    assert "budget" in r.json["error"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Broadcast)).scalar() == 0
    assert fake.messages == []


@pytest.mark.parametrize("state", ["draft", "closed"])
def test_only_an_open_consultation_can_be_broadcast(app, staff, fake, state):
    add_members(app, [Person(1)])
    staff.consultation(open_it=state != "draft")
    if state == "closed":
        staff.post("/consultations/P12/close")
    r = staff.post("/consultations/P12/broadcast")
    assert r.status_code == 409
    assert state in r.json["error"]
    assert fake.messages == []


@pytest.mark.parametrize(
    "body, words",
    [
        ({"at": "tomorrow"}, "ISO 8601"),
        ({"at": 12}, "ISO 8601"),
        ({"at": "2001-01-01T10:00:00Z"}, "future"),
        ({"when": "2001-01-01T10:00:00Z"}, "unknown"),
        ([1, 2], "object"),
    ],
)
def test_bad_broadcast_bodies_are_refused(app, staff, fake, body, words):
    add_members(app, [Person(1)])
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast", json=body)
    assert r.status_code == 422
    assert words in r.json["error"]
    assert fake.messages == []


def test_unknown_things_are_404(staff):
    assert staff.post("/consultations/Z99/broadcast").status_code == 404
    assert staff.get("/broadcasts/999").status_code == 404
    assert staff.post("/broadcasts/999/pause").status_code == 404
    assert staff.get("/broadcasts/abc").status_code == 404


def summary_broadcast(app) -> tuple[int, int]:
    """Inside an app context: a committed, not yet expanded summary broadcast of the one
    consultation; (its id, its recipients)."""
    consultation = db.session.execute(select(Consultation)).scalar_one()
    broadcast, recipients = broadcasts.create_summary(
        consultation, actor="test", settings=app.config["CHORUS"]
    )
    db.session.commit()
    return broadcast.id, recipients


def test_opted_out_after_expansion_is_skipped_at_send_time(app, staff, fake):
    """A STOP that arrives mid-broadcast: the claim checks consent again."""
    ids = add_members(app, many(3))
    staff.consultation()
    with app.app_context():
        broadcast_id, _ = summary_broadcast(app)
        assert broadcast_tasks.expand_rows(broadcast_id) == 3  # rows queued, nothing sent yet
        members.opt_out(db.session.get(Member, ids[1]), source="sms")
        db.session.commit()
        broadcast_tasks.pump(broadcast_id)
        got = BroadcastSchema().dump(db.session.get(Broadcast, broadcast_id))
    assert phone(1) not in per_phone(fake)
    assert len(fake.messages) == 2
    assert (got["sent"], got["skipped"], got["status"]) == (2, 1, "completed")
    skipped = [m for m in messages(app) if m.status == "skipped"]
    assert [m.phone for m in skipped] == [phone(1)]
    assert skipped[0].failed_reason == "opted out"


def test_expansion_runs_once(app, staff):
    add_members(app, many(250))
    staff.consultation()
    with app.app_context():
        broadcast_id, recipients = summary_broadcast(app)
        assert recipients == 250
        assert broadcast_tasks.expand_rows(broadcast_id) == 250
        assert broadcast_tasks.expand_rows(broadcast_id) == 0
        db.session.execute(update(Broadcast).values(expanded_at=None))
        db.session.commit()
        assert (
            broadcast_tasks.expand_rows(broadcast_id) == 0
        )  # the unique (broadcast, member) holds
        batches = db.session.execute(
            select(Message.batch, func.count()).group_by(Message.batch).order_by(Message.batch)
        ).all()
    assert batches == [(0, 100), (1, 100), (2, 50)]


def test_schedule_then_send_when_due(app, staff, fake):
    add_members(app, many(2))
    staff.consultation()
    at = (utcnow() + timedelta(hours=1)).isoformat()
    r = staff.post("/consultations/P12/broadcast", json={"at": at})
    assert r.status_code == 202
    assert (r.json["status"], r.json["recipients"]) == ("scheduled", 2)
    broadcast_id = r.json["broadcast_id"]
    with app.app_context():
        sweep()
    assert fake.messages == []
    assert staff.get(f"/broadcasts/{broadcast_id}").json["status"] == "scheduled"
    with app.app_context():
        db.session.execute(update(Broadcast).values(scheduled_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        sweep()
    assert len(fake.messages) == 2
    assert staff.get(f"/broadcasts/{broadcast_id}").json["status"] == "completed"
    assert "broadcast.scheduled" in actions(app)


def test_pause_resume_cancel(app, staff, fake):
    add_members(app, many(4))
    staff.consultation()
    with app.app_context():
        broadcast_id, _ = summary_broadcast(app)
        broadcast_tasks.expand_rows(broadcast_id)

    r = staff.post(f"/broadcasts/{broadcast_id}/pause")
    assert (r.status_code, r.json["status"]) == (200, "paused")
    assert staff.post(f"/broadcasts/{broadcast_id}/pause").status_code == 409
    with app.app_context():
        broadcast_tasks.pump(broadcast_id)
        sweep()
        assert claims.claim(messages(app)[0].id) is False  # paused: nobody may claim
    assert fake.messages == []

    r = staff.post(f"/broadcasts/{broadcast_id}/resume")
    assert r.status_code == 200
    assert r.json["status"] == "completed"
    assert len(fake.messages) == 4
    assert staff.post(f"/broadcasts/{broadcast_id}/cancel").status_code == 409
    assert {"broadcast.paused", "broadcast.resumed"} <= set(actions(app))


def test_cancel_skips_everything_unsent(app, staff, fake):
    add_members(app, many(3))
    staff.consultation()
    at = (utcnow() + timedelta(hours=1)).isoformat()
    broadcast_id = staff.post("/consultations/P12/broadcast", json={"at": at}).json["broadcast_id"]
    assert staff.post(f"/broadcasts/{broadcast_id}/pause").json["status"] == "paused"
    assert staff.post(f"/broadcasts/{broadcast_id}/resume").json["status"] == "scheduled"
    with app.app_context():
        db.session.execute(update(Broadcast).values(scheduled_at=utcnow()))
        db.session.commit()
        broadcast_tasks.start(broadcast_id)  # it starts (expands and sends) ...
    assert len(fake.messages) == 3

    # ... and a second broadcast is cancelled while its rows wait
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        second, _ = broadcasts.create_summary(
            consultation, actor="t", settings=app.config["CHORUS"]
        )
        db.session.commit()
        broadcast_tasks.expand_rows(second.id)
        second_id = second.id
    r = staff.post(f"/broadcasts/{second_id}/cancel")
    assert r.status_code == 200
    assert (r.json["status"], r.json["skipped"], r.json["sent"]) == ("cancelled", 3, 0)
    with app.app_context():
        sweep()
    assert len(fake.messages) == 3
    assert {m.failed_reason for m in messages(app, broadcast_id=second_id)} == {
        "broadcast cancelled"
    }
    assert "broadcast.cancelled" in actions(app)


def test_a_closed_consultation_stops_its_summary_broadcast(app, staff, fake):
    add_members(app, many(2))
    staff.consultation()
    with app.app_context():
        broadcast_id, _ = summary_broadcast(app)
        broadcast_tasks.expand_rows(broadcast_id)
    staff.post("/consultations/P12/close")
    with app.app_context():
        broadcast_tasks.pump(broadcast_id)
    assert fake.messages == []
    got = staff.get(f"/broadcasts/{broadcast_id}").json
    assert (got["status"], got["skipped"]) == ("cancelled", 2)


def test_same_member_never_gets_the_same_broadcast_twice(app, staff, fake):
    add_members(app, many(3))
    staff.consultation()
    broadcast_id = staff.post("/consultations/P12/broadcast").json["broadcast_id"]
    with app.app_context():
        # Replaying every job of the broadcast sends nothing more.
        broadcast_tasks.expand(broadcast_id)
        for batch in (0, 1):
            broadcast_tasks.run_batch(broadcast_id, batch)
        for row in messages(app):
            outbox_tasks.send_message(row.id)
        sweep()
    assert sorted(per_phone(fake).values()) == [1, 1, 1]


def test_a_cancelled_broadcast_leaves_nothing_pending(app, staff, fake):
    add_members(app, many(2))
    staff.consultation()
    with app.app_context():
        broadcast_id, _ = summary_broadcast(app)
        broadcast_tasks.expand_rows(broadcast_id)
        first = messages(app)[0].id
        # A worker claimed one and died; then staff cancel.
        db.session.execute(
            update(Message)
            .where(Message.id == first)
            .values(status="sending", claimed_at=utcnow() - timedelta(minutes=5))
        )
        db.session.commit()
    assert staff.post(f"/broadcasts/{broadcast_id}/cancel").json["pending"] == 1
    with app.app_context():
        assert outbox_tasks.recover_stale() == (0, 1)
    got = staff.get(f"/broadcasts/{broadcast_id}").json
    assert (got["pending"], got["skipped"], got["status"]) == (0, 2, "cancelled")
    assert fake.messages == []
