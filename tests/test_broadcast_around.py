"""Around a consultation: reminders to non-voters, closing at closes_at, and the outcome
texted to participants in their language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditEvent, Broadcast, Comment, Consultation, Outcome, Vote, utcnow
from app.worker import sweep
from tests.outbox_helpers import (
    Person,
    add_members,
    per_phone,
    phone,
)


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


def consultation_id(app, code="P12") -> int:
    with app.app_context():
        return db.session.execute(
            select(Consultation.id).where(Consultation.code == code)
        ).scalar_one()


def vote(app, member_id: int, choice: str = "yes", code: str = "P12") -> None:
    """Record a vote straight in the database."""
    with app.app_context():
        db.session.add(
            Vote(
                consultation_id=consultation_id(app, code),
                member_id=member_id,
                choice=choice,
                channel="sms",
                receipt=f"R{member_id:05d}",
            )
        )
        db.session.commit()


def comment(app, member_id: int, code: str = "P12") -> None:
    """Record a comment straight in the database."""
    with app.app_context():
        db.session.add(
            Comment(
                consultation_id=consultation_id(app, code),
                member_id=member_id,
                body="a thought",
                channel="sms",
                language="en",
            )
        )
        db.session.commit()


def test_manual_reminder_goes_only_to_members_who_have_not_voted(app, staff, fake):
    ids = add_members(app, [Person(1), Person(2), Person(3, "cy"), Person(4, status="opted_out")])
    add_members(app, [Person(5, groups=("staff",))])
    staff.consultation(
        audience=["community"],
        closes_at=(utcnow() + timedelta(days=2)).isoformat(),
        title={"en": "Garden on Sundays", "cy": "Gardd ar ddydd Sul"},
    )
    vote(app, ids[0])
    r = staff.post("/consultations/P12/remind")
    assert r.status_code == 202
    assert r.json["recipients"] == 2
    assert sorted(per_phone(fake)) == [phone(2), phone(3)]
    (english,) = fake.bodies_to(phone(2))
    assert english.startswith("Reminder: P12 closes ")
    assert "\nGarden on Sundays\nReply P12 YES, NO or ABSTAIN" in english
    assert "Gardd ar ddydd Sul" in fake.bodies_to(phone(3))[0]
    got = staff.get(f"/broadcasts/{r.json['broadcast_id']}").json
    assert (got["kind"], got["sent"], got["skipped"]) == ("reminder", 2, 1)


def test_reminder_preview_counts_non_voters(app, staff):
    ids = add_members(app, [Person(1), Person(2)])
    staff.consultation()
    vote(app, ids[1])
    doc = staff.get("/consultations/P12/broadcast/preview?kind=reminder").json
    assert (doc["kind"], doc["recipients"]) == ("reminder", 1)
    assert doc["languages"][0]["body"].startswith("Reminder: we have not heard from you yet")
    assert staff.get("/consultations/P12/broadcast/preview?kind=other").status_code == 422


def test_open_consultation_reminds_those_who_have_not_commented(app, staff, fake):
    ids = add_members(app, [Person(1), Person(2)])
    staff.consultation(kind="open")
    comment(app, ids[0])
    staff.post("/consultations/P12/remind")
    assert list(per_phone(fake)) == [phone(2)]


def test_reminding_a_closed_consultation_conflicts(app, staff, fake):
    add_members(app, [Person(1)])
    staff.consultation()
    staff.post("/consultations/P12/close")
    assert staff.post("/consultations/P12/remind").status_code == 409
    assert fake.messages == []


def test_automatic_reminder_once_at_remind_at(app, staff, fake):
    ids = add_members(app, [Person(1), Person(2)])
    staff.consultation(
        closes_at=(utcnow() + timedelta(days=2)).isoformat(),
        remind_at=(utcnow() + timedelta(days=1)).isoformat(),
    )
    vote(app, ids[0])
    with app.app_context():
        sweep()
    assert fake.messages == []
    with app.app_context():
        db.session.execute(update(Consultation).values(remind_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        sweep()
        sweep()
        reminders = db.session.execute(select(Broadcast)).scalars().all()
        assert [(b.kind, b.created_by) for b in reminders] == [("reminder", "system")]
        assert db.session.execute(select(Consultation.reminded_at)).scalar_one() is not None
    assert list(per_phone(fake).items()) == [(phone(2), 1)]


def test_consultations_close_themselves_at_closes_at(app, staff):
    staff.consultation(closes_at=(utcnow() + timedelta(hours=1)).isoformat())
    staff.consultation("P13", closes_at=(utcnow() + timedelta(hours=1)).isoformat())
    with app.app_context():
        db.session.execute(
            update(Consultation)
            .where(Consultation.code == "P12")
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
        assert sweep()["closed"] == 1
        assert sweep()["closed"] == 0
        statuses = dict(db.session.execute(select(Consultation.code, Consultation.status)).all())
        closed_by = db.session.execute(
            select(AuditEvent.actor).where(AuditEvent.action == "consultation.closed")
        ).scalar_one()
    assert statuses == {"P12": "closed", "P13": "open"}
    assert closed_by == "system"


def test_outcome_notifies_participants_in_their_language(app, staff, fake):
    ids = add_members(
        app,
        [
            Person(1, "en"),  # voted
            Person(2, "cy"),  # commented
            Person(3, "fr"),  # voted; no French text: gets English
            Person(4, "en"),  # did not take part
            Person(5, "en"),  # voted, then opted out
        ],
    )
    staff.consultation()
    vote(app, ids[0])
    comment(app, ids[1])
    vote(app, ids[2], "no")
    vote(app, ids[4])
    with app.app_context():
        from app.domain import members
        from app.models import Member

        members.opt_out(db.session.get(Member, ids[4]), source="sms")
        db.session.commit()
    staff.post("/consultations/P12/close")
    r = staff.post(
        "/consultations/P12/outcome",
        json={"text": {"en": "We will open on Sundays.", "cy": "Byddwn ar agor."}, "notify": True},
    )
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["recipients"]) == ("decided", 3)
    assert sorted(per_phone(fake)) == [phone(1), phone(2), phone(3)]
    english = "Thank you for taking part in P12. What we decided:\nWe will open on Sundays."
    assert fake.bodies_to(phone(1)) == [english]
    assert fake.bodies_to(phone(3)) == [english]
    assert fake.bodies_to(phone(2))[0].endswith("\nByddwn ar agor.")
    got = staff.get(f"/broadcasts/{r.json['broadcast_id']}").json
    assert (got["kind"], got["sent"], got["skipped"]) == ("outcome", 3, 1)
    with app.app_context():
        outcome = db.session.execute(select(Outcome)).scalar_one()
        assert outcome.broadcast_id == r.json["broadcast_id"]
        assert db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "consultation.decided")
        ).scalar_one()


def test_outcome_of_an_open_consultation_closes_it_first(app, staff, fake):
    staff.consultation()
    r = staff.post("/consultations/P12/outcome", json={"text": {"en": "No change."}})
    assert r.status_code == 200
    assert (r.json["status"], r.json["broadcast_id"]) == ("decided", None)
    with app.app_context():
        done = db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        assert [a for a in done if a.startswith("consultation.")][-2:] == [
            "consultation.closed",
            "consultation.decided",
        ]
    assert fake.messages == []


@pytest.mark.parametrize(
    "payload, status, words",
    [
        ({"text": {"en": "x"}}, 409, "draft"),
        ({"text": {}}, 422, "text"),
        ({"text": {"xx": "y"}}, 422, "xx"),
        ({"text": {"en": "  "}}, 422, "non-empty"),
        ({"text": {"en": "y"}, "notify": "yes"}, 422, "notify"),
        ({"text": {"en": "y" * 1001}}, 422, "longer"),
    ],
)
def test_bad_outcomes_are_refused_and_change_nothing(app, staff, payload, status, words):
    staff.consultation(open_it=False)
    r = staff.post("/consultations/P12/outcome", json=payload)
    assert r.status_code == status
    assert words in r.json["error"]
    with app.app_context():
        assert db.session.execute(select(Consultation.status)).scalar_one() == "draft"
        assert db.session.execute(select(Outcome)).first() is None


def test_deciding_twice_conflicts(app, staff):
    staff.consultation()
    assert staff.post("/consultations/P12/outcome", json={"text": {"en": "a"}}).status_code == 200
    r = staff.post("/consultations/P12/outcome", json={"text": {"en": "b"}})
    assert r.status_code == 409
    assert "already decided" in r.json["error"]
