"""record_vote: one vote per member per consultation, history, receipts, and refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain import Conflict, Invalid
from app.domain import votes as votes_ops
from app.extensions import db
from app.models import Consultation, Member, Vote, VoteChange, utcnow


@pytest.fixture
def ctx(app):
    """An app context with one active community member and open P12 (yes/no), P14 (choice)."""
    with app.app_context():
        member = Member(phone="+447400500001", language="en", status="active")
        member.set_groups(["community"])
        db.session.add(member)
        now = utcnow()
        db.session.add_all(
            [
                Consultation(code="P12", kind="yes_no", status="open", opened_at=now),
                Consultation(
                    code="P14",
                    kind="choice",
                    status="open",
                    opened_at=now,
                    options=[{"label": {"en": "A"}}, {"label": {"en": "B"}}],
                ),
                Consultation(code="P15", kind="yes_no", status="open", audience=["allies"]),
                Consultation(code="P16", kind="yes_no", status="closed"),
                Consultation(code="P17", kind="open", status="open"),
            ]
        )
        db.session.commit()
        yield
        db.session.rollback()


def get(code: str) -> Consultation:
    return db.session.execute(select(Consultation).where(Consultation.code == code)).scalar_one()


def member() -> Member:
    return db.session.execute(select(Member).where(Member.phone == "+447400500001")).scalar_one()


def test_first_vote_then_change_keeps_one_row_the_receipt_and_the_history(ctx):
    first = votes_ops.record_vote(get("P12"), member(), "yes", channel="sms")
    assert first.created and not first.changed and first.previous is None
    receipt = first.vote.receipt
    second = votes_ops.record_vote(get("P12"), member(), "no", channel="web")
    assert not second.created and second.changed and second.previous == "yes"
    assert second.vote.id == first.vote.id and second.vote.receipt == receipt
    assert second.vote.channel == "web"
    same = votes_ops.record_vote(get("P12"), member(), "no", channel="sms")
    assert not same.changed
    db.session.commit()
    history = votes_ops.history(second.vote)
    assert [(h.previous, h.choice, h.channel) for h in history] == [
        (None, "yes", "sms"),
        ("yes", "no", "web"),
    ]
    assert db.session.execute(select(Vote)).scalars().all() == [second.vote]


def test_assisted_votes_name_who_entered_them(ctx):
    result = votes_ops.record_vote(
        get("P12"), member(), "abstain", channel="assisted", entered_by="staff:kit"
    )
    db.session.commit()
    assert result.vote.entered_by == "staff:kit"
    assert votes_ops.history(result.vote)[0].entered_by == "staff:kit"


@pytest.mark.parametrize(
    ("code", "choice", "error"),
    [
        ("P12", "2", Invalid),
        ("P12", "maybe", Invalid),
        ("P14", "yes", Invalid),
        ("P14", "3", Invalid),
        ("P17", "yes", Invalid),
        ("P15", "yes", Conflict),
        ("P16", "yes", Conflict),
    ],
)
def test_refusals_write_nothing(ctx, code, choice, error):
    with pytest.raises(error):
        votes_ops.record_vote(get(code), member(), choice, channel="sms")
    db.session.flush()
    assert db.session.execute(select(Vote)).first() is None


def test_opted_out_member_cannot_vote_by_text_but_can_on_the_web(ctx):
    member().status = "opted_out"
    with pytest.raises(Conflict):
        votes_ops.record_vote(get("P12"), member(), "yes", channel="sms")
    assert votes_ops.record_vote(get("P12"), member(), "yes", channel="web").vote.choice == "yes"


def test_pending_member_cannot_vote_anywhere(ctx):
    member().status = "pending"
    for channel in ("sms", "web"):
        with pytest.raises(Conflict):
            votes_ops.record_vote(get("P12"), member(), "yes", channel=channel)


def test_receipt_collision_draws_another(ctx, monkeypatch):
    other = Member(phone="+447400500002", language="en", status="active")
    db.session.add(other)
    db.session.flush()
    taken = votes_ops.record_vote(get("P12"), other, "yes", channel="sms").vote.receipt
    draws = iter([taken, taken, "CDEFGH"])
    monkeypatch.setattr(votes_ops, "new_receipt", lambda: next(draws))
    result = votes_ops.record_vote(get("P12"), member(), "no", channel="sms")
    assert result.vote.receipt == "CDEFGH"


def test_receipt_clash_in_the_database_is_retried(ctx, monkeypatch):
    """A receipt already taken is caught by the unique key and another one drawn."""
    other = Member(phone="+447400500002", language="en", status="active")
    db.session.add(other)
    db.session.flush()
    taken = votes_ops.record_vote(get("P12"), other, "yes", channel="sms").vote.receipt
    draws = iter([taken, "CDEFGH"])
    monkeypatch.setattr(votes_ops, "new_receipt", lambda: next(draws))
    result = votes_ops.record_vote(get("P12"), member(), "no", channel="sms")
    db.session.commit()
    assert result.vote.receipt == "CDEFGH"
    assert len(db.session.execute(select(Vote)).scalars().all()) == 2


def test_concurrent_first_votes_become_an_update(ctx, monkeypatch):
    """Two requests both saw no vote; the second insert hits the unique key and updates."""
    votes_ops.record_vote(get("P12"), member(), "yes", channel="sms")
    db.session.commit()
    real = votes_ops.current_vote
    looks = []

    def stale_first_look(consultation, who):
        looks.append(1)
        return None if len(looks) == 1 else real(consultation, who)

    monkeypatch.setattr(votes_ops, "current_vote", stale_first_look)
    result = votes_ops.record_vote(get("P12"), member(), "no", channel="sms")
    db.session.commit()
    assert len(looks) == 2
    assert not result.created and result.previous == "yes" and result.vote.choice == "no"
    assert [v.choice for v in db.session.execute(select(Vote)).scalars()] == ["no"]
    assert len(db.session.execute(select(VoteChange)).scalars().all()) == 2


def test_receipts_avoid_look_alike_characters():
    for _ in range(200):
        receipt = votes_ops.new_receipt()
        assert len(receipt) == 9
        assert not set(receipt) & set("0O1IL2Z5S8B")


def test_receipts_are_about_two_to_the_forty_per_consultation():
    """At least 8 characters; at least 2^40 receipts, so guessing one is hopeless."""
    assert votes_ops.RECEIPT_LENGTH >= 8
    assert len(votes_ops.RECEIPT_ALPHABET) ** votes_ops.RECEIPT_LENGTH >= 2**40
    assert len(set(votes_ops.RECEIPT_ALPHABET)) == len(votes_ops.RECEIPT_ALPHABET)
