"""Assisted votes in the console: a vote given by phone, in person or on paper, entered by
an organiser through the same record_vote as a text, counted once, with its receipt."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Member, Message, Vote, VoteChange
from tests.results_helpers import national, text
from tests.staff_helpers import post, staff_client

FORM = "/staff/consultations/P12/assisted"


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


def record(client, phone, choice="yes", method="in_person", code="P12"):
    return post(
        client,
        f"/staff/consultations/{code}/assisted",
        {"phone": phone, "choice": choice, "method": method},
    )


def outbound(world) -> int:
    return world.count(Message, Message.direction == "out")


def test_assisted_vote_is_recorded_with_the_staff_account_and_its_receipt_shown(
    app, world, organiser
):
    phone = world.member()
    world.consultation("P12")
    page = text(organiser.get(FORM))
    assert "<legend>Their vote</legend>" in page and "<legend>How they gave it</legend>" in page

    r = record(organiser, national(phone), "yes", "phone")  # typed as the member said it
    assert r.status_code == 303
    (vote,) = world.rows(Vote)
    assert (vote.channel, vote.choice, vote.entered_by) == (
        "assisted",
        "yes",
        "staff:organiser@example.org",
    )
    assert r.headers["Location"].endswith(f"/staff/consultations/P12/assisted/{vote.id}")
    done = text(organiser.get(r.headers["Location"]))
    assert f'<p class="receipt" id="receipt">{vote.receipt}</p>' in done
    assert "Vote recorded: YES." in done
    assert f"/receipts/P12/{vote.receipt}" in done
    # The receipt works on the public page, as any vote's does.
    public = text(app.test_client().get(f"/receipts/P12/{vote.receipt}"))
    assert "entered by staff for the member" in public

    event = world.rows(AuditEvent, AuditEvent.action == "vote.assisted")[0]
    assert event.actor == "staff:organiser@example.org"
    assert (event.subject_type, event.subject_id) == ("consultation", "P12")
    with app.app_context():
        member_id = db.session.execute(select(Member.id).where(Member.phone == phone)).scalar()
    assert event.data == {"member": member_id, "choice": "yes", "previous": None, "method": "phone"}
    assert phone not in str(event.data)
    (change,) = world.rows(VoteChange)
    assert (change.channel, change.entered_by) == ("assisted", "staff:organiser@example.org")
    # Listed among the latest assisted votes.
    assert vote.receipt in text(organiser.get(FORM))


def test_a_later_text_replaces_an_assisted_vote_and_it_counts_once(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    assert record(organiser, phone, "yes").status_code == 303
    receipt = world.rows(Vote)[0].receipt
    assert "NO" in world.text(phone, "P12 NO")
    (vote,) = world.rows(Vote)
    assert (vote.choice, vote.channel, vote.entered_by, vote.receipt) == (
        "no",
        "sms",
        None,
        receipt,
    )
    assert world.results("P12")["votes"] == {"yes": 0, "no": 1, "abstain": 0}


def test_an_assisted_vote_replaces_a_text_and_it_counts_once(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    world.text(phone, "P12 YES")
    r = record(organiser, phone, "no", "paper")
    done = text(organiser.get(r.headers["Location"]))
    assert "It replaces their earlier vote, YES." in done
    (vote,) = world.rows(Vote)
    assert (vote.choice, vote.channel) == ("no", "assisted")
    assert world.results("P12")["votes"] == {"yes": 0, "no": 1, "abstain": 0}
    assert [c.choice for c in world.rows(VoteChange)] == ["yes", "no"]
    assert world.rows(AuditEvent, AuditEvent.action == "vote.assisted")[0].data["previous"] == "yes"


def test_the_same_choice_again_changes_nothing(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    world.text(phone, "P12 YES")
    done = text(organiser.get(record(organiser, phone, "yes").headers["Location"]))
    assert "Their vote was already YES: nothing changed." in done
    assert world.count(VoteChange) == 1


def test_an_opted_out_member_can_vote_in_person_and_nothing_is_texted(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    world.text(phone, "STOP")
    before = outbound(world)
    r = record(organiser, phone, "abstain", "in_person")
    assert r.status_code == 303
    done = text(organiser.get(r.headers["Location"]))
    assert "opted out of texts: nothing will be texted to them" in done
    assert world.rows(Vote)[0].choice == "abstain"
    assert outbound(world) == before
    assert world.get_member(phone).status == "opted_out"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("not a number", "That is not a phone number we can use."),
        ("+447400999999", "No member has the number +447400999999."),
        ("", 'class="field-error">Enter the member'),
    ],
)
def test_a_number_that_is_not_a_member_is_explained(app, world, organiser, typed, message):
    world.consultation("P12")
    r = record(organiser, typed)
    assert r.status_code == 422
    page = text(r)
    assert message in page
    assert 'aria-invalid="true"' in page
    assert world.count(Vote) == 0


def test_pending_and_out_of_audience_members_are_refused_with_the_reason(app, world, organiser):
    allies = world.member(groups=["allies"])
    pending = world.member()
    with app.app_context():
        row = db.session.execute(select(Member).where(Member.phone == pending)).scalar_one()
        row.status = "pending"
        db.session.commit()
    world.consultation("P12", audience=["community"])
    r = record(organiser, allies)
    assert r.status_code == 422
    assert (
        "This member is not in the audience of P12 (groups: community; their groups: allies)"
        in (text(r))
    )
    r = record(organiser, pending)
    assert r.status_code == 422
    assert "has not agreed to join yet (pending)" in text(r)
    assert world.count(Vote) == 0


def test_a_bad_choice_or_method_is_refused(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    assert record(organiser, phone, "maybe").status_code == 422
    assert record(organiser, phone, "yes", "carrier pigeon").status_code == 422
    assert world.count(Vote) == 0


def test_no_vote_on_a_closed_draft_or_comments_only_consultation(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    world.close("P12")
    page = text(organiser.get(FORM))
    assert "P12 is closed: votes can be recorded only while it is open." in page
    assert '<form method="post" action="/staff/consultations/P12/assisted"' not in page
    assert record(organiser, phone).status_code == 409
    world.consultation("D1", open_=False)
    assert "D1 is draft" in text(organiser.get("/staff/consultations/D1/assisted"))
    assert record(organiser, phone, code="D1").status_code == 409
    world.consultation("O1", kind="open")
    assert "comments only" in text(organiser.get("/staff/consultations/O1/assisted"))
    assert world.count(Vote) == 0


def test_viewers_cannot_record_or_see_assisted_votes(app, world):
    phone = world.member()
    world.consultation("P12")
    viewer = staff_client(app, "viewer")
    assert viewer.get(FORM).status_code == 403
    assert record(viewer, phone).status_code == 403
    organiser = staff_client(app, "organiser")
    location = record(organiser, phone).headers["Location"]
    assert viewer.get(location).status_code == 403
    assert world.count(Vote) == 1


def test_the_confirmation_of_another_consultation_is_not_found(app, world, organiser):
    phone = world.member()
    world.consultation("P12")
    world.consultation("P13")
    location = record(organiser, phone).headers["Location"]
    vote_id = re.search(r"/(\d+)$", location).group(1)
    assert organiser.get(f"/staff/consultations/P13/assisted/{vote_id}").status_code == 404
