"""/v/{token}: a member's own page for one consultation; vote, change, comment, no JS.

Votes and comments go in through the page's real form (its hidden form key read
from the page as a browser would), and are checked through the results API and
the stored rows.
"""

from __future__ import annotations

import re

import flask
import pytest
from sqlalchemy import select

from app.domain import links
from app.extensions import db
from app.models import Comment, Consultation, Member, Vote, VoteChange
from tests.conftest import PUBLIC_BASE_URL
from tests.inbound_helpers import World
from tests.test_public import check_page


def path_for(world: World, phone: str, code: str) -> str:
    """The personal page's path for `phone` on `code`: a link issued (as LINK would) by
    links.personal_url, and committed."""
    with world.app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        consultation = db.session.execute(
            select(Consultation).where(Consultation.code == code)
        ).scalar_one()
        url = links.personal_url(world.app.config["CHORUS"], member, consultation)
        db.session.commit()
    assert url.startswith(PUBLIC_BASE_URL + "/v/")
    return url[len(PUBLIC_BASE_URL) :]


def form_key(html: str) -> str:
    """The hidden form key of the page's vote form."""
    match = re.search(r'name="form_key" value="([^"]+)"', html)
    assert match, "the page has no vote form"
    return match.group(1)


def submit(client, path: str, **fields):
    """Load the page, then post its form with `fields` (as a browser would)."""
    html = client.get(path).get_data(as_text=True)
    return client.post(path, data={"form_key": form_key(html), **fields})


def nothing_written(world: World) -> None:
    assert world.count(Vote) == 0
    assert world.count(VoteChange) == 0
    assert world.count(Comment) == 0


@pytest.fixture
def p12(world):
    """Open yes/no P12 and a member in its audience; returns the member's page path."""
    world.consultation("P12", body={"en": "All about the garden."})
    return path_for(world, world.member(), "P12")


def test_the_page_is_small_accessible_and_in_the_members_language(client, world):
    world.consultation("P12", title={"en": "Garden", "ar": "الحديقة"})
    path = path_for(world, world.member(language="ar"), "P12")
    html = check_page(client.get(path), "ar")
    assert "الحديقة" in html
    assert re.search(r"<fieldset>\s*<legend>", html)
    for value in ("yes", "no", "abstain"):
        assert f'id="choice-{value}" value="{value}"' in html
        assert f'<label for="choice-{value}"' in html
    assert 'maxlength="1600"' in html
    # The visitor can pick another language, and it beats the member's.
    check_page(client.get(path + "?lang=en"), "en")
    response = client.get(path)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex"


def test_voting_counts_once_on_the_web_and_a_change_keeps_the_history(client, world, p12):
    response = submit(client, p12, choice="yes")
    assert response.status_code == 303
    assert response.headers["Location"] == p12 + "?saved=vote"
    assert world.results("P12")["votes"] == {"yes": 1, "no": 0, "abstain": 0}
    [vote] = world.rows(Vote)
    assert vote.channel == "web" and vote.choice == "yes"
    html = check_page(client.get(response.headers["Location"]))
    assert "Thank you: your vote is recorded." in html
    assert f"Your receipt is {vote.receipt}." in html
    assert f'href="/receipts/P12/{vote.receipt}"' in html
    assert 'id="choice-yes" value="yes" checked' in html

    assert submit(client, p12, choice="no").status_code == 303
    results = world.results("P12")
    assert results["votes"] == {"yes": 0, "no": 1, "abstain": 0}
    assert results["participants"] == 1
    [changed] = world.rows(Vote)
    assert changed.receipt == vote.receipt and changed.choice == "no"
    history = world.rows(VoteChange)
    assert [(h.choice, h.previous, h.channel) for h in history] == [
        ("yes", None, "web"),
        ("no", "yes", "web"),
    ]
    # The same choice again changes nothing.
    assert submit(client, p12, choice="no").status_code == 303
    assert world.count(VoteChange) == 2


def test_a_web_vote_replaces_a_text_vote(client, world):
    world.consultation("P12")
    phone = world.member()
    world.sent("P12", phone)
    world.text(phone, "yes")
    assert submit(client, path_for(world, phone, "P12"), choice="abstain").status_code == 303
    assert world.results("P12")["votes"] == {"yes": 0, "no": 0, "abstain": 1}
    assert [h.channel for h in world.rows(VoteChange)] == ["sms", "web"]


def test_vote_with_a_comment_and_a_comment_alone(client, world, p12):
    text = "Only if volunteers are insured.\r\nAnd paid expenses."
    assert submit(client, p12, choice="yes", comment=text).status_code == 303
    [comment] = world.rows(Comment)
    assert comment.channel == "web" and comment.body == text.replace("\r\n", "\n")
    assert comment.language == "en"
    response = submit(client, p12, comment="One more thing.")
    assert response.status_code == 303 and response.headers["Location"].endswith("saved=comment")
    assert world.results("P12")["comments"] == 2
    assert world.results("P12")["votes"]["yes"] == 1


def test_choice_consultation_takes_option_numbers(client, world):
    world.consultation("P14", "choice", options=["Library", "Community centre"])
    path = path_for(world, world.member(), "P14")
    html = check_page(client.get(path))
    assert '<label for="choice-2">2. Community centre</label>' in html
    assert submit(client, path, choice="2").status_code == 303
    assert world.results("P14")["votes"] == {"1": 0, "2": 1}


def test_open_consultation_takes_comments_only(client, world):
    world.consultation("P17", "open")
    path = path_for(world, world.member(), "P17")
    html = check_page(client.get(path))
    assert 'type="radio"' not in html and '<label for="comment">' in html
    assert submit(client, path, comment="Here is my idea").status_code == 303
    assert world.results("P17")["comments"] == 1
    response = submit(client, path, comment="   ")
    assert response.status_code == 422
    assert "Please write a comment before sending." in response.get_data(as_text=True)
    assert world.count(Comment) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"choice": "maybe"}, "Please choose one of the options below."),
        ({"choice": "1"}, "Please choose one of the options below."),
        ({"choice": "YES"}, "Please choose one of the options below."),
        ({}, "Please choose one of the options below."),
        ({"comment": "  \r\n "}, "Please choose one of the options below."),
        ({"choice": "yes", "comment": "x" * 1601}, "A comment can be at most 1,600 characters."),
    ],
)
def test_invalid_posts_answer_422_with_the_form_and_write_nothing(
    client, world, p12, fields, message
):
    response = submit(client, p12, **fields)
    html = check_page(response, status=422)
    assert message in html and 'role="alert"' in html
    assert form_key(html)  # the form is there again...
    if "comment" in fields and fields["comment"].strip():
        assert fields["comment"] in html  # ...with what they wrote
    nothing_written(world)


def test_a_comment_of_exactly_1600_characters_is_fine(client, world, p12):
    assert submit(client, p12, choice="no", comment="y" * 1600).status_code == 303
    assert len(world.rows(Comment)[0].body) == 1600


def test_forged_tokens_are_not_found_and_write_nothing(client, world, p12, app):
    token = p12.removeprefix("/v/")
    key = form_key(client.get(p12).get_data(as_text=True))
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    forged = [
        changed,  # one character off
        token[:-1],
        token + "A",
        token.lower() if token.lower() != token else token.upper(),
        links.new_token(),  # the right shape, never issued
        links.token_hash(token),  # what the database holds is not a key
        "nonsense",
        "x" * 300,
        "%C3%A9" * 6,
    ]
    for bad in forged:
        html = check_page(client.get(f"/v/{bad}"), status=404)
        assert "Text LINK to our number for a new one." in html
        response = client.post(f"/v/{bad}", data={"choice": "yes", "form_key": key})
        assert response.status_code == 404
    nothing_written(world)


def test_a_draft_is_not_found(client, world):
    world.consultation("P20", open_=False)
    path = path_for(world, world.member(), "P20")
    check_page(client.get(path), status=404)


def test_the_form_key_must_come_from_a_page_for_this_token(client, world, p12):
    other = path_for(world, world.member(), "P12")
    key_for_other = form_key(client.get(other).get_data(as_text=True))
    for key in [None, "", "garbage", key_for_other]:
        data = {"choice": "yes"} if key is None else {"choice": "yes", "form_key": key}
        response = client.post(p12, data=data)
        html = check_page(response, status=400)
        assert "This form is out of date." in html
        assert form_key(html) != key  # a fresh form to send again
    nothing_written(world)


def test_an_old_form_key_has_expired(client, world, p12, monkeypatch):
    html = client.get(p12).get_data(as_text=True)
    monkeypatch.setattr(links, "FORM_MAX_AGE", -1)
    response = client.post(p12, data={"choice": "yes", "form_key": form_key(html)})
    assert response.status_code == 400
    nothing_written(world)


def test_closed_consultation_is_read_only_with_a_results_link(client, world, p12):
    key = form_key(client.get(p12).get_data(as_text=True))
    world.close("P12")
    html = check_page(client.get(p12))
    assert 'method="post"' not in html and 'type="radio"' not in html
    assert "This consultation has closed" in html
    assert 'href="/c/P12">See the results</a>' in html
    for data in [{"choice": "yes", "form_key": key}, {"choice": "yes"}]:
        response = client.post(p12, data=data)
        assert response.status_code == 409  # closed, whatever the form key
        html = response.get_data(as_text=True)
        assert 'method="post"' not in html and "Nothing was changed." in html
    nothing_written(world)


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        ("pending", "You can vote once you have joined."),
        ("audience", "This consultation is for other groups"),
    ],
)
def test_members_who_cannot_vote_get_a_read_only_page(client, world, app, setup, says):
    world.consultation("P12", audience=["allies"] if setup == "audience" else None)
    phone = world.member(groups=["community"])
    path = path_for(world, phone, "P12")
    with app.app_context():
        key = links.form_key(path.removeprefix("/v/"))  # a valid key: the refusal must hold
    if setup != "audience":
        with app.app_context():
            member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
            member.status = setup
            db.session.commit()
    html = check_page(client.get(path))
    assert says in html and 'method="post"' not in html
    response = client.post(path, data={"choice": "yes", "form_key": key})
    assert response.status_code == 409
    nothing_written(world)


def test_personal_url_without_public_base_url_uses_the_request_host(make_app, world):
    app = make_app(PUBLIC_BASE_URL="", SMS_BACKEND="console")  # twilio needs the URL
    world.consultation("P3")
    phone = world.member()
    with app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        consultation = db.session.execute(select(Consultation)).scalar_one()
        settings = app.config["CHORUS"]
        with pytest.raises(ValueError):
            links.personal_url(settings, member, consultation)
        url = links.personal_url(settings, member, consultation, base_url="http://x.test/")
        assert url.startswith("http://x.test/v/")
        found = links.find(url.rsplit("/", 1)[1])
        assert found is not None and (found[0].id, found[1].id) == (member.id, consultation.id)
    with app.test_request_context("/", base_url="https://chorus.local"):
        # A route passes its own origin: the domain never reads the request.
        with pytest.raises(ValueError):
            links.personal_url(app.config["CHORUS"], member, consultation)
        url = links.personal_url(
            app.config["CHORUS"], member, consultation, base_url=flask.request.host_url
        )
        assert url.startswith("https://chorus.local/v/")
        assert len(url) == len("https://chorus.local/v/") + links.TOKEN_LENGTH
        db.session.rollback()


def test_a_member_who_sent_stop_can_still_vote_on_the_web(client, world, app):
    world.consultation("P12")
    phone = world.member()
    path = path_for(world, phone, "P12")
    with app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        member.status = "opted_out"
        db.session.commit()
        key = links.form_key(path.removeprefix("/v/"))
    html = check_page(client.get(path))
    assert "You asked us to stop texting you, and we have." in html and 'method="post"' in html
    response = client.post(path, data={"choice": "no", "form_key": key})
    assert response.status_code == 303
    assert world.results("P12")["votes"]["no"] == 1
