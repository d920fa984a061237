"""Personal links reach members: short random tokens kept only as their hash, LINK by text
in every language, staff revoking, erasure, expiry after the decision, "Text me my link"
on the public page with its limits, and receipts that cannot be guessed.

Texts go in through the signed webhook and out through FakeTwilio; links are followed as
a member's phone would follow them.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.domain import links
from app.domain.votes import RECEIPT_ALPHABET, RECEIPT_LENGTH
from app.extensions import db
from app.models import (
    AuditEvent,
    Consultation,
    LinkTextDay,
    Member,
    Message,
    Outcome,
    PersonalLink,
    Vote,
    utcnow,
)
from app.sms.render import render
from tests.conftest import PUBLIC_BASE_URL
from tests.inbound_helpers import World
from tests.test_public import check_page, receipt_of, vote_by_text

LINK = re.compile(r"(https?://[^\s/]+)/v/([A-Za-z0-9]+)")


@pytest.fixture
def app(sending_app):
    """Texts go out through FakeTwilio (jobs inline)."""
    return sending_app


def link_in(text: str | None) -> str:
    """The path (/v/...) of the one personal link in a text."""
    assert text, "no text"
    found = LINK.findall(text)
    assert len(found) == 1, text
    origin, token = found[0]
    assert origin == PUBLIC_BASE_URL
    return f"/v/{token}"


def member_id(world: World, phone: str) -> int:
    member = world.get_member(phone)
    assert member is not None
    return member.id


def outbound(world: World, kind: str) -> list[Message]:
    return world.rows(Message, Message.direction == "out", Message.kind == kind)


# ---------------------------------------------------------------------- the token


def test_a_link_is_short_random_and_only_its_hash_is_stored(client, world):
    origin = "https://chorus.or.uk"
    assert len(origin) == 20
    tokens = {links.new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(len(t) == links.TOKEN_LENGTH and links.well_formed(t) for t in tokens)
    assert len(links.TOKEN_ALPHABET) ** links.TOKEN_LENGTH >= 2**64
    assert len(links.link_url(origin, next(iter(tokens)))) < 45

    world.consultation("P12")
    phone = world.member()
    path = link_in(world.text(phone, "LINK"))
    token = path.removeprefix("/v/")
    [row] = world.rows(PersonalLink)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(
        [getattr(row, column.key) for column in PersonalLink.__table__.columns]
    )
    assert (row.member_id, row.consultation_id) == (
        member_id(world, phone),
        world.rows(Consultation)[0].id,
    )
    assert "Your vote" in check_page(client.get(path))


def test_a_link_from_a_20_character_origin_is_under_45_characters(make_app):
    app = make_app(PUBLIC_BASE_URL="https://chorus.or.uk")
    with app.app_context():
        member = Member(phone="+447400000001", language="en")
        consultation = Consultation(code="P1", kind="yes_no", status="open")
        db.session.add_all([member, consultation])
        db.session.flush()
        url = links.issue_url(app.config["CHORUS"], member.id, consultation.id)
        db.session.rollback()
    assert url.startswith("https://chorus.or.uk/v/") and len(url) < 45


# ---------------------------------------------------------------------- LINK by text


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "LINK"),
        ("en", "send me my link please"),
        ("cy", "dolen"),
        ("es", "enlace"),
        ("fr", "lien"),
        ("pt", "meu link"),
        ("pl", "link"),
        ("ro", "legătura"),
        ("ar", "رابط"),
        ("ur", "لنک"),
        ("bn", "লিংক"),
        ("en", "লিংক"),  # every language's word works, whatever the member's language
        ("ar", "link"),
    ],
)
def test_link_by_text_replies_with_the_members_own_link(client, world, language, text):
    world.consultation("P12", title={"en": "The garden"})
    phone = world.member(language=language)
    world.sent("P12", phone)
    reply = world.text(phone, text)
    path = link_in(reply)
    with world.app.app_context():
        assert reply == render("link", language, code="P12", url=PUBLIC_BASE_URL + path)
    [stored] = outbound(world, "link")
    assert stored.body == reply and stored.phone == phone
    html = check_page(client.get(path + "?lang=en"))
    assert "The garden" in html
    # The page is the member's own: a vote there is theirs.
    key = re.search(r'name="form_key" value="([^"]+)"', html).group(1)
    assert client.post(path, data={"choice": "no", "form_key": key}).status_code == 303
    [vote] = world.rows(Vote)
    assert vote.member_id == member_id(world, phone) and vote.channel == "web"


def test_link_with_a_code_names_that_consultation(client, world):
    world.consultation("P12", title={"en": "The garden"})
    world.consultation("P13", title={"en": "The library"})
    phone = world.member()
    world.sent("P12", phone)
    assert "The garden" in check_page(client.get(link_in(world.text(phone, "link"))))
    assert "The library" in check_page(client.get(link_in(world.text(phone, "LINK P13"))))
    assert world.count(PersonalLink) == 2


def test_asking_again_replaces_the_link(client, world):
    world.consultation("P12")
    phone = world.member()
    first = link_in(world.text(phone, "LINK"))
    second = link_in(world.text(phone, "LINK"))
    assert first != second
    html = check_page(client.get(first), status=404)
    assert "Text LINK to our number for a new one." in html
    check_page(client.get(second))
    assert world.count(PersonalLink) == 1


def test_link_refusals_say_why_and_write_nothing_but_the_texts(world):
    world.consultation("P12", audience=["allies"])
    stranger = world.stranger()
    member = world.member(groups=["community"])
    stopped = world.member()
    world.text(stopped, "STOP")
    before = world.count(Message)

    assert "JOIN" in world.text(stranger, "LINK")  # the welcome: how to join
    assert world.text(stopped, "LINK") is None  # nothing is sent after STOP
    assert "There is nothing to vote on right now" in world.text(member, "LINK")
    assert "nothing called P99" in world.text(member, "LINK P99")
    assert "is for another group" in world.text(member, "LINK P12")
    assert world.count(PersonalLink) == 0
    # The five texts in and the four replies, nothing else.
    assert world.count(Message) == before + 9


# ---------------------------------------------------------------------- revoking


def test_staff_revoke_a_members_links_through_the_api(client, world, api, runner):
    world.consultation("P12")
    world.consultation("P13")
    phone = world.member()
    p12 = link_in(world.text(phone, "LINK P12"))
    p13 = link_in(world.text(phone, "LINK P13"))
    encoded = phone.replace("+", "%2B")

    response = api.post(f"/members/{encoded}/links/revoke", json={"consultation": "p12"})
    assert (response.status_code, response.get_json()) == (200, {"revoked": 1})
    check_page(client.get(p12), status=404)
    check_page(client.get(p13))
    response = api.post(f"/members/{encoded}/links/revoke")
    assert (response.status_code, response.get_json()) == (200, {"revoked": 1})
    check_page(client.get(p13), status=404)

    [event, _] = world.rows(
        AuditEvent, AuditEvent.action == "member.links_revoked", order=AuditEvent.seq
    )
    assert (event.subject_type, event.subject_id) == ("member", str(member_id(world, phone)))
    assert event.data == {"consultation": "P12", "links": 1}
    assert phone not in repr(event.data) + event.actor

    assert api.post("/members/%2B447400999999/links/revoke").status_code == 404
    assert (
        api.post(f"/members/{encoded}/links/revoke", json={"consultation": "Z99"}).status_code
        == 404
    )
    bad = api.post(f"/members/{encoded}/links/revoke", json={"consultation": "not a code"})
    assert bad.status_code == 422 and "consultation" in bad.get_json()["error"]
    viewer = runner.invoke(args=["api-token", "create", "viewer", "--role", "viewer"])
    headers = {"Authorization": f"Bearer {viewer.output.strip().splitlines()[-1]}"}
    refused = client.post(f"/api/v1/members/{encoded}/links/revoke", headers=headers)
    assert refused.status_code == 403


def test_erasure_revokes_every_link_of_the_member(client, world):
    world.consultation("P12")
    world.consultation("P13")
    phone, other = world.member(), world.member()
    mine = [link_in(world.text(phone, f"LINK {code}")) for code in ("P12", "P13")]
    theirs = link_in(world.text(other, "LINK P12"))
    with world.app.app_context():
        assert links.revoke_all_for_member(member_id(world, phone)) == 2
        db.session.commit()
    for path in mine:
        check_page(client.get(path), status=404)
    check_page(client.get(theirs))


def test_links_stop_30_days_after_the_decision(client, world, api):
    world.consultation("P12")
    phone = world.member()
    path = link_in(world.text(phone, "LINK"))
    response = api.post("/consultations/P12/outcome", json={"text": {"en": "We will."}})
    assert response.status_code == 200
    html = check_page(client.get(path))  # decided: read-only, still there for a while
    assert 'method="post"' not in html
    with world.app.app_context():
        db.session.execute(
            update(Outcome).values(
                created_at=utcnow() - links.LIVE_AFTER_DECISION + timedelta(minutes=1)
            )
        )
        db.session.commit()
    check_page(client.get(path))
    with world.app.app_context():
        db.session.execute(
            update(Outcome).values(
                created_at=utcnow() - links.LIVE_AFTER_DECISION - timedelta(minutes=1)
            )
        )
        db.session.commit()
    check_page(client.get(path), status=404)
    reply = world.text(phone, "LINK P12")
    assert reply.startswith("P12 was decided over 30 days ago")
    assert reply.endswith(f"{PUBLIC_BASE_URL}/c/P12") and "/v/" not in reply
    assert world.count(PersonalLink) == 1  # no new link for it


# ---------------------------------------------------------------------- "Text me my link"


def ask(client, phone: str, code: str = "P12", address: str = "10.0.0.1"):
    """Post the "Text me my link" form of /c/{code} from `address`."""
    return client.post(
        f"/c/{code}/link", data={"phone": phone}, environ_base={"REMOTE_ADDR": address}
    )


def test_text_me_my_link_texts_a_member_their_link(client, world, fake):
    world.consultation("P12", title={"en": "The garden"})
    phone = world.member(language="cy")
    html = check_page(client.get("/c/P12"))
    assert '<form method="post" action="/c/P12/link">' in html
    assert '<label for="phone">Your mobile number</label>' in html
    national = "0" + phone.removeprefix("+44")  # typed as people type it
    html = check_page(ask(client, national))
    assert "Check your phone" in html and phone in html
    [text] = fake.bodies_to(phone)
    with world.app.app_context():
        assert text == render("link", "cy", code="P12", url=PUBLIC_BASE_URL + link_in(text))
    assert "The garden" in check_page(client.get(link_in(text) + "?lang=en"))
    [stored] = outbound(world, "link")
    assert (stored.member_id, stored.body, stored.reply_to_id) == (
        member_id(world, phone),
        text,
        None,
    )
    assert world.rows(LinkTextDay, order=LinkTextDay.day)[0].texts == 1


def test_the_answer_is_the_same_whether_or_not_the_number_is_a_members(client, world, fake):
    world.consultation("P12", audience=["community"])
    member = world.member()
    stopped = world.member()
    world.text(stopped, "STOP")
    pending = world.member()
    with world.app.app_context():
        db.session.execute(update(Member).where(Member.phone == pending).values(status="pending"))
        db.session.commit()
    elsewhere = world.member(groups=["allies"])
    stranger = world.stranger()
    fake.reset()
    pages = {}
    for n, phone in enumerate([member, stopped, pending, elsewhere, stranger]):
        response = ask(client, phone, address=f"10.0.1.{n}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        pages[phone] = response.get_data(as_text=True).replace(phone, "NUMBER")
    assert len(set(pages.values())) == 1
    assert [m["to"] for m in fake.messages] == [member]  # only the member is texted
    assert world.count(PersonalLink) == 1


@pytest.mark.parametrize("typed", ["12", "hello", "", "+44 7400", "0" * 41, "07400 2\x0000001"])
def test_a_bad_number_is_refused_clearly_and_nothing_is_written(client, world, typed):
    world.consultation("P12")
    before = world.count(Message)
    response = ask(client, typed)
    html = check_page(response, status=422)
    assert "That is not a mobile number we can text." in html
    assert 'aria-invalid="true"' in html and 'role="alert"' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert world.count(Message) == before
    assert world.count(PersonalLink) == 0 and world.count(LinkTextDay) == 0


def test_text_me_my_link_only_while_the_consultation_is_open(client, world):
    world.consultation("P12")
    world.consultation("P20", open_=False)
    phone = world.member()
    world.close("P12")
    assert "Text me my link" not in check_page(client.get("/c/P12"))
    assert ask(client, phone).status_code == 404
    assert ask(client, phone, code="P20").status_code == 404
    assert world.count(PersonalLink) == 0


def test_limits_per_number_and_per_address_answer_429(client, world, fake):
    world.consultation("P12")
    phone = world.member()
    for n in range(3):
        assert ask(client, phone, address=f"10.0.2.{n}").status_code == 200
    refused = ask(client, phone, address="10.0.2.9")  # a fourth time, from anywhere
    assert refused.status_code == 429
    assert "Please wait a while, then try again." in check_page(refused, status=429)
    assert len(fake.bodies_to(phone)) == 3

    strangers = [world.stranger() for _ in range(6)]
    for stranger in strangers[:5]:
        assert ask(client, stranger, address="10.0.3.1").status_code == 200
    assert ask(client, strangers[5], address="10.0.3.1").status_code == 429
    assert ask(client, strangers[5], address="10.0.3.2").status_code == 200


def test_the_daily_cap_is_counted_in_the_database_for_every_process(make_app, fake):
    from tests.outbox_helpers import Staff, twilio_env

    app = make_app(LINK_TEXTS_PER_DAY="2", **twilio_env(fake))
    staff = Staff(app)
    staff.consultation("P12")
    phones = []
    for n in range(3):
        r = staff.post("/members", json={"phone": f"+4474005{n:05d}"})
        phones.append(r.json["phone"])
    client = app.test_client()
    assert ask(client, phones[0], address="10.0.4.1").status_code == 200
    assert ask(client, phones[1], address="10.0.4.2").status_code == 200
    # Another web process (its own app and limiter) sees the same count.
    other = make_app(LINK_TEXTS_PER_DAY="2", **twilio_env(fake)).test_client()
    assert ask(other, phones[2], address="10.0.4.3").status_code == 429
    assert ask(other, "+447400999999", address="10.0.4.4").status_code == 429  # for all
    # Only link texts count (each new member's welcome text may or may not have gone yet).
    linked = [m["to"] for m in fake.messages if "/v/" in m["body"]]
    assert sorted(linked) == sorted(phones[:2])
    with app.app_context():
        assert db.session.execute(select(LinkTextDay.texts)).scalar_one() == 2
        assert links.cap_reached(app.config["CHORUS"])
        assert not links.take_link_text(app.config["CHORUS"])


# ---------------------------------------------------------------------- receipts


def test_receipts_are_nine_characters_without_look_alikes(world):
    world.consultation("P12")
    phone = vote_by_text(world, "P12", "yes")
    receipt = receipt_of(world, phone, "P12")
    assert len(receipt) == RECEIPT_LENGTH == 9 and set(receipt) <= set(RECEIPT_ALPHABET)
    assert not set(RECEIPT_ALPHABET) & set("0O1IL")
    assert len(RECEIPT_ALPHABET) ** RECEIPT_LENGTH > 2**40


def test_receipt_lookups_are_rate_limited_per_address(client, world):
    world.consultation("P12")
    receipt = receipt_of(world, vote_by_text(world, "P12", "yes"), "P12")
    here = {"REMOTE_ADDR": "10.0.5.1"}
    for n in range(30):
        guess = receipt if n == 0 else f"ACDEFG{n:03d}"
        response = client.get(f"/receipts/P12/{guess}", environ_base=here)
        assert response.status_code in (200, 404)
    refused = client.get(f"/receipts/P12/{receipt}", environ_base=here)
    assert refused.status_code == 429
    check_page(refused, status=429)
    elsewhere = client.get(f"/receipts/P12/{receipt}", environ_base={"REMOTE_ADDR": "10.0.5.2"})
    assert elsewhere.status_code == 200


def test_a_receipt_page_shows_that_vote_and_nothing_more(client, world):
    world.consultation("P12")
    mine = vote_by_text(world, "P12", "yes", name="Ann Example")
    theirs = vote_by_text(world, "P12", "no but only on Sundays")
    html = check_page(client.get(f"/receipts/P12/{receipt_of(world, mine, 'P12')}"))
    assert "This vote counts, as:" in html and "YES" in html
    main = html[html.index("<main") :]
    assert receipt_of(world, theirs, "P12") not in main
    assert "NO" not in main.replace("NOT", "")  # the other vote is nowhere
    assert "Sundays" not in main and "Ann" not in main and mine not in main
    assert "data-choice" not in main  # no tally
