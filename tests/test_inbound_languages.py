"""Real-looking replies in all ten languages, through the signed webhook and the results API.

Each row is a fresh member of that language who was texted one consultation (P12,
yes/no, or P14, three options) and replies once. The row says what must change in
the results API (a vote for a choice, a comment, both, or nothing) and the reply
must be the confirmation in the member's language.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain.grammar import parse
from app.domain.replies import choice_label, echo
from app.extensions import db
from app.models import Consultation, Member, Vote
from app.sms.render import render
from tests.inbound_helpers import World

RLM = "\u200f"
ZWSP = "\u200b"

# (language, text, consultation texted to them, (code, choice or None, comment?))
ROWS = [
    # English: typos (the reply says what was read), emoji, shouting, codes, vote + comment
    ("en", "yes", "P12", ("P12", "yes", False)),
    ("en", "Yes please!", "P12", ("P12", "yes", False)),
    ("en", "YESSS", "P12", ("P12", "yes", False)),
    ("en", "abstian", "P12", ("P12", "abstain", False)),
    ("en", "yse but only if it's weekends", "P12", ("P12", "yes", True)),
    ("en", "👍🏽", "P12", ("P12", "yes", False)),
    ("en", "👎", "P12", ("P12", "no", False)),
    ("en", ZWSP + "no" + ZWSP, "P12", ("P12", "no", False)),
    ("en", "P12: no", "P14", ("P12", "no", False)),
    ("en", "no p12", "P14", ("P12", "no", False)),
    ("en", "P12yes", "P14", ("P12", "yes", False)),
    ("en", "yes but only if it's weekends", "P12", ("P12", "yes", True)),
    ("en", "P12: no - the road is too narrow", "P14", ("P12", "no", True)),
    ("en", "The gate on Elm Road is broken", "P12", ("P12", None, True)),
    ("en", "ok", "P12", ("P12", None, True)),
    ("en", "2", "P14", ("P14", "2", False)),
    ("en", "option 3 please", "P14", ("P14", "3", False)),
    ("en", "2, the blue one", "P14", ("P14", "2", True)),
    ("en", "P14 1", "P12", ("P14", "1", False)),
    # Welsh
    ("cy", "ie", "P12", ("P12", "yes", False)),
    ("cy", "Na", "P12", ("P12", "no", False)),
    ("cy", "na, mae'n rhy ddrud", "P12", ("P12", "no", True)),
    ("cy", "ymatal", "P12", ("P12", "abstain", False)),
    ("cy", "P12 ie", "P14", ("P12", "yes", False)),
    ("cy", "ywd", "P12", ("P12", "yes", False)),
    # Spanish
    ("es", "sí", "P12", ("P12", "yes", False)),
    ("es", "SI", "P12", ("P12", "yes", False)),
    ("es", "no gracias", "P12", ("P12", "no", False)),
    ("es", "si, pero solo los fines de semana", "P12", ("P12", "yes", True)),
    ("es", "me abstengo", "P12", ("P12", "abstain", False)),
    # French
    ("fr", "oui", "P12", ("P12", "yes", False)),
    ("fr", "Non merci", "P12", ("P12", "no", False)),
    ("fr", "je m’abstiens", "P12", ("P12", "abstain", False)),
    ("fr", "oui mais seulement le weekend", "P12", ("P12", "yes", True)),
    ("fr", "P12 oui", "P14", ("P12", "yes", False)),
    ("fr", "P12 uoi", "P14", ("P12", "yes", False)),
    # Portuguese
    ("pt", "sim", "P12", ("P12", "yes", False)),
    ("pt", "nao", "P12", ("P12", "no", False)),
    ("pt", "não porque é caro", "P12", ("P12", "no", True)),
    # Polish
    ("pl", "tak", "P12", ("P12", "yes", False)),
    ("pl", "NIE", "P12", ("P12", "no", False)),
    ("pl", "wstrzymuje sie", "P12", ("P12", "abstain", False)),
    ("pl", "tak, ale tylko w weekendy", "P12", ("P12", "yes", True)),
    ("pl", "tka", "P12", ("P12", "yes", False)),
    ("pl", "nei, bo za drogo", "P12", ("P12", "no", True)),
    # Romanian
    ("ro", "da", "P12", ("P12", "yes", False)),
    ("ro", "nu mersi", "P12", ("P12", "no", False)),
    ("ro", "ma abtin", "P12", ("P12", "abstain", False)),
    ("ro", "abitn", "P12", ("P12", "abstain", False)),
    # Arabic: bidi marks, Arabic-Indic digits, a code in Arabic digits
    ("ar", RLM + "نعم" + RLM, "P12", ("P12", "yes", False)),
    ("ar", "لاااا", "P12", ("P12", "no", False)),
    ("ar", "نعم، لكن فقط في عطلة نهاية الأسبوع", "P12", ("P12", "yes", True)),
    ("ar", "٢", "P14", ("P14", "2", False)),
    ("ar", "P١٢ نعم", "P14", ("P12", "yes", False)),
    ("ar", "الطريق مغلق منذ أسبوع", "P12", ("P12", None, True)),
    ("ar", "امتانع", "P12", ("P12", "abstain", False)),
    # Urdu: Extended Arabic-Indic digits
    ("ur", "ہاں", "P12", ("P12", "yes", False)),
    ("ur", "نہیں، یہ مہنگا ہے", "P12", ("P12", "no", True)),
    ("ur", "۳", "P14", ("P14", "3", False)),
    ("ur", "haan", "P12", ("P12", "yes", False)),
    # Bengali: Bengali digits
    ("bn", "হ্যাঁ", "P12", ("P12", "yes", False)),
    ("bn", "না", "P12", ("P12", "no", False)),
    ("bn", "২", "P14", ("P14", "2", False)),
    ("bn", "হ্যাঁ, কিন্তু শুধু সপ্তাহান্তে", "P12", ("P12", "yes", True)),
]


def test_every_language_is_in_the_table():
    assert {row[0] for row in ROWS} == {"en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn"}


@pytest.fixture
def world(app, api, signed_post):
    """P12 (yes/no) and P14 (three options, labelled in two languages), both open."""
    world = World(app, api, signed_post)
    world.consultation("P12")
    world.consultation(
        "P14",
        "choice",
        options=[
            {"en": "Library", "ar": "المكتبة"},
            {"en": "Community centre", "cy": "Canolfan gymunedol"},
            {"en": "Online"},
        ],
    )
    return world


def _expected_reply(world: World, phone: str, language: str, code: str, choice, comment, body):
    with world.app.app_context():
        if choice is None:
            return render("comment_recorded", language, code=code)
        consultation = db.session.execute(
            select(Consultation).where(Consultation.code == code)
        ).scalar_one()
        vote = db.session.execute(
            select(Vote).join(Member).where(Member.phone == phone)
        ).scalar_one()
        label = choice_label(consultation, choice, language)
        typo = parse(body).typo
        if typo:  # a slip of a vote word: the reply says what was read
            kind = "vote_typo_comment" if comment else "vote_typo"
            typed = echo(typo, language)
            return render(kind, language, code=code, typed=typed, vote=label, receipt=vote.receipt)
        kind = "vote_comment" if comment else "vote_recorded"
        return render(kind, language, code=code, choice=label, receipt=vote.receipt)


def test_replies_in_ten_languages(world):
    """All rows in one app (fast); every failing row is reported, not just the first."""
    failures = []
    for language, body, texted, (code, choice, comment) in ROWS:
        phone = world.member(language=language)
        world.sent(texted, phone)
        before = world.results(code)
        reply = world.text(phone, body)
        after = world.results(code)
        expected = dict(before["votes"])
        if choice is not None:
            expected[choice] += 1
        problems = []
        if after["votes"] != expected:
            problems.append(f"votes {before['votes']} -> {after['votes']}")
        if after["comments"] != before["comments"] + (1 if comment else 0):
            problems.append(f"comments {before['comments']} -> {after['comments']}")
        want = _expected_reply(world, phone, language, code, choice, comment, body)
        if reply != want:
            problems.append(f"reply {reply!r}, wanted {want!r}")
        if problems:
            failures.append(f"{language} {body!r}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def test_option_labels_follow_the_member_language(world):
    phone = world.member(language="ar")
    world.sent("P14", phone)
    assert "1 المكتبة" in world.text(phone, "١")
    phone = world.member(language="cy")
    world.sent("P14", phone)
    assert "2 Canolfan gymunedol" in world.text(phone, "2")


@pytest.mark.parametrize("language", ["en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn"])
def test_choice_words_in_replies_are_words_the_grammar_reads(app, language):
    """A confirmation's YES/NO/ABSTAIN, as translated, parses back to the same vote."""
    from app.models import Consultation

    yes_no = Consultation(code="P12", kind="yes_no")
    with app.app_context():
        for choice in ("yes", "no", "abstain"):
            word = choice_label(yes_no, choice, language)
            intent = parse(word)
            assert (intent.kind, intent.choice) == ("vote", choice), f"{language}: {word!r}"
