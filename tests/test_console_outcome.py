"""The outcome in the console: written per language with a segment check, confirmed with
recipients and cost, published to the register through outcomes.decide, and texted to
everyone who took part through FakeTwilio."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.domain import broadcasts
from app.extensions import db
from app.models import AuditEvent, Broadcast, Consultation, Outcome
from tests.results_helpers import text
from tests.staff_helpers import post, staff_client

PAGE = "/staff/consultations/P12/outcome"
ENGLISH = "We will open the garden on Sundays."
ARABIC = "سنفتح الحديقة أيام الأحد."


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def took_part(world):
    """P12 open; two English and one Arabic member voted, one English member did not."""
    people = [world.member("en"), world.member("en"), world.member("ar"), world.member("en")]
    world.consultation("P12")
    for phone, vote in zip(people[:3], ["YES", "NO", "YES"], strict=True):
        world.text(phone, f"P12 {vote}")
    return people


def test_write_check_confirm_publish_and_notify(app, world, organiser, fake, took_part):
    en1, en2, ar, bystander = took_part
    page = text(organiser.get(PAGE))
    # The ten languages side by side, each in its own language and direction.
    areas = re.findall(r'<textarea dir="(\w+)" id="(\w+)" lang="(\w+)"', page)
    assert [code for _, code, _ in areas] == [
        "en",
        "cy",
        "es",
        "fr",
        "pt",
        "pl",
        "ro",
        "ar",
        "ur",
        "bn",
    ]
    assert all(code == lang for _, code, lang in areas)
    assert {code for direction, code, _ in areas if direction == "rtl"} == {"ar", "ur"}
    assert "P12 is still open. Publishing the outcome closes it first" in page

    # Check: each text's segments and encoding as it will be texted; nothing written.
    form = {"en": ENGLISH, "ar": ARABIC, "notify": "y"}
    checked = post(organiser, PAGE, {**form, "action": "check"})
    assert checked.status_code == 200
    page = text(checked)
    assert "As texted: 1 segment, GSM-7" in page
    assert re.search(r"As texted: \d segments?, UCS-2", page)
    assert f"Thank you for taking part in P12. What we decided:\n{ENGLISH}" in page
    assert world.count(Outcome) == 0

    # Confirm: recipients per language and the estimated cost, before anything happens.
    confirm = post(organiser, PAGE, {**form, "action": "continue"})
    assert confirm.status_code == 200
    page = text(confirm)
    assert "3 people who took part will be texted." in page
    recipients = dict(re.findall(r'<tr data-language="(\w+)">.*?data-recipients="(\d+)"', page))
    assert recipients == {"en": "2", "ar": "1"}
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        preview = broadcasts.preview_outcome(
            consultation, {"en": ENGLISH, "ar": ARABIC}, app.config["CHORUS"]
        )
    expected = Decimal("0.04") * preview["total_segments"]
    assert f'<td class="num" id="cost">£{expected:.2f}</td>' in page
    assert world.count(Outcome) == 0 and fake.messages == []
    # The texts ride along to the publish step in the confirm form.
    assert f'<input type="hidden" name="en" value="{ENGLISH}">' in page

    published = post(organiser, PAGE + "/publish", form)
    assert published.status_code == 303
    assert published.headers["Location"].endswith(PAGE)
    after = text(organiser.get(PAGE))
    assert "The outcome is published, and it is being texted to 3 people." in after
    assert "Published outcome" in after

    # Texted to the three who took part, in their language; not to the bystander.
    assert sorted(m["to"] for m in fake.messages) == sorted([en1, en2, ar])
    assert fake.bodies_to(en1) == [f"Thank you for taking part in P12. What we decided:\n{ENGLISH}"]
    assert fake.bodies_to(ar)[0].endswith(ARABIC)
    assert fake.bodies_to(bystander) == []
    # The same record as the API's: decided, audited, with its broadcast.
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        outcome = db.session.execute(select(Outcome)).scalar_one()
        assert consultation.status == "decided"
        assert outcome.text == {"en": ENGLISH, "ar": ARABIC}
        assert outcome.decided_by == "staff:organiser@example.org"
        broadcast = db.session.get(Broadcast, outcome.broadcast_id)
        assert (broadcast.kind, broadcast.total) == ("outcome", 3)
    assert world.count(AuditEvent, AuditEvent.action == "consultation.decided") == 1
    # In the public register and on the consultation's public page.
    public = app.test_client()
    assert ENGLISH in text(public.get("/c/P12"))
    assert ENGLISH in text(public.get("/decisions"))
    assert ARABIC in text(public.get("/c/P12?lang=ar"))


def test_publish_without_notifying_then_notify_later(app, world, organiser, fake, took_part):
    world.close("P12")
    confirm = text(post(organiser, PAGE, {"en": ENGLISH, "action": "continue"}))
    assert "Nobody will be texted" in confirm
    assert post(organiser, PAGE + "/publish", {"en": ENGLISH}).status_code == 303
    assert fake.messages == []
    page = text(organiser.get(PAGE))
    assert "The outcome has not been texted to the people who took part." in page

    confirm = organiser.get(PAGE + "/notify")
    assert confirm.status_code == 200
    assert "3 people who took part will be texted." in text(confirm)
    r = post(organiser, PAGE + "/notify")
    assert r.status_code == 303
    assert len(fake.messages) == 3
    assert "The outcome is being texted to 3 people." in text(organiser.get(PAGE))
    # A second notify sends nothing more.
    again = post(organiser, PAGE + "/notify")
    assert again.status_code == 303
    assert "was already texted" in text(organiser.get(PAGE))
    assert organiser.get(PAGE + "/notify").status_code == 303
    assert len(fake.messages) == 3
    assert world.count(Broadcast) == 1


def test_nothing_written_without_a_text(app, world, organiser, took_part):
    r = post(organiser, PAGE, {"en": "   ", "action": "continue"})
    assert r.status_code == 422
    assert "Write the outcome in at least one language." in text(r)
    long = post(organiser, PAGE, {"en": "x" * 1001, "action": "continue"})
    assert long.status_code == 422
    assert "At most 1000 characters." in text(long)
    assert post(organiser, PAGE + "/publish", {"notify": "y"}).status_code == 422
    assert world.count(Outcome) == 0
    assert world.count(Broadcast) == 0


def test_a_draft_cannot_be_decided_nor_an_outcome_published_twice(app, world, organiser, fake):
    world.consultation("D1", open_=False)
    page = text(organiser.get("/staff/consultations/D1/outcome"))
    assert "D1 is a draft" in page
    assert (
        post(
            organiser, "/staff/consultations/D1/outcome", {"en": "x", "action": "continue"}
        ).status_code
        == 409
    )
    r = post(organiser, "/staff/consultations/D1/outcome/publish", {"en": "x"})
    assert r.status_code == 409
    assert "is a draft" in text(r)
    world.consultation("P12")
    assert post(organiser, PAGE + "/publish", {"en": ENGLISH}).status_code == 303
    twice = post(organiser, PAGE + "/publish", {"en": "Something else"})
    assert twice.status_code == 409
    assert "already decided" in text(twice)
    with app.app_context():
        assert db.session.execute(select(Outcome.text)).scalars().all() == [{"en": ENGLISH}]


def test_over_the_segment_budget_cannot_be_sent(app, world, organiser, fake, took_part):
    long_arabic = "ح" * 450
    page = text(post(organiser, PAGE, {"ar": long_arabic, "en": "ok", "action": "check"}))
    assert "over the budget of 6" in page
    confirm = text(
        post(organiser, PAGE, {"ar": long_arabic, "en": "ok", "notify": "y", "action": "continue"})
    )
    assert "A text is over the budget of 6 segments" in confirm
    assert "Publish and text it</button>" not in confirm
    r = post(organiser, PAGE + "/publish", {"ar": long_arabic, "en": "ok", "notify": "y"})
    assert r.status_code == 422
    assert world.count(Outcome) == 0 and fake.messages == []


def test_viewers_cannot_write_publish_or_notify(app, world, took_part):
    viewer = staff_client(app, "viewer")
    assert viewer.get(PAGE).status_code == 403
    assert post(viewer, PAGE, {"en": ENGLISH, "action": "continue"}).status_code == 403
    assert post(viewer, PAGE + "/publish", {"en": ENGLISH}).status_code == 403
    assert viewer.get(PAGE + "/notify").status_code == 403
    assert post(viewer, PAGE + "/notify").status_code == 403
    assert world.count(Outcome) == 0


def test_the_outcome_page_in_arabic_is_right_to_left(app, world, organiser, took_part):
    page = text(organiser.get(PAGE + "?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert '<textarea dir="ltr" id="en" lang="en"' in page
    assert '<textarea dir="rtl" id="ar" lang="ar"' in page
