"""What the December 2026 translation review found, held in place by tests.

Plural texts pick the CLDR form at the numbers that tell the forms apart; right-to-left
texts begin right-to-left; every way back after STOP names the English START, the only
word that lifts Twilio's own block. See translations/README.md for the findings.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select

from app.config import LANGUAGES, ROOT
from app.domain import links
from app.domain.replies import vote_reply_kind
from app.extensions import db
from app.models import Consultation, Member
from app.sms import segments
from app.sms.render import budget, kinds, render
from tests.conftest import PUBLIC_BASE_URL
from tests.test_message_budget import PLURAL_CASES, worst_values
from tests.test_public import check_page

RTL = ("ar", "ur")
START = re.compile(r"(?<![A-Za-z])START(?![A-Za-z])")


def catalog(language: str):
    """The .po catalog of `language`."""
    with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


# --- plural forms -----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_plural_entry_has_one_string_per_form(language):
    """Each ngettext entry has exactly the header's number of forms (cy 6, ar 6, pl 3...)."""
    cat = catalog(language)
    assert cat.num_plurals == PLURAL_CASES[language][0]
    for message in cat:
        if message.pluralizable and language != "en":
            assert len(message.string) == cat.num_plurals, message.id[0]


# n -> a phrase the results_yes_no text must contain for that n: the form CLDR asks for.
PEOPLE_FORMS: dict[str, dict[int, str]] = {
    # one, few (2-4, 22-24...), many (0, 5-21, 25-31, 101, 112...)
    "pl": {
        1: "wzięła 1 osoba.",
        2: "wzięły 2 osoby.",
        3: "wzięły 3 osoby.",
        22: "wzięły 22 osoby.",
        0: "wzięło 0 osób.",
        5: "wzięło 5 osób.",
        12: "wzięło 12 osób.",
        25: "wzięło 25 osób.",
        101: "wzięło 101 osób.",
        112: "wzięło 112 osób.",
    },
    # zero, one, two, few (3), many (6), other; soft mutation after 2, aspirate after 3 and 6
    "cy": {
        0: "Ni chymerodd neb ran.",
        1: "Cymerodd 1 person ran.",
        2: "Cymerodd 2 berson ran.",
        3: "Cymerodd 3 pherson ran.",
        6: "Cymerodd 6 pherson ran.",
        4: "Cymerodd 4 o bobl ran.",
        5: "Cymerodd 5 o bobl ran.",
        11: "Cymerodd 11 o bobl ran.",
        100: "Cymerodd 100 o bobl ran.",
    },
    # European Portuguese: only 1 is singular; 0 is plural (Brazil would say "0 pessoa")
    "pt": {
        0: "0 pessoas participaram.",
        1: "1 pessoa participou.",
        2: "2 pessoas participaram.",
        101: "101 pessoas participaram.",
    },
    # zero, one, two, few (3-10), many (11-99), other (100-102)
    "ar": {
        0: "لم يشارك أحد.",
        1: "شارك شخص واحد.",
        2: "شارك شخصان.",
        3: "شارك 3 أشخاص.",
        10: "شارك 10 أشخاص.",
        11: "شارك 11 شخصًا.",
        99: "شارك 99 شخصًا.",
        100: "شارك 100 شخص.",
        101: "شارك 101 شخص.",
        102: "شارك 102 شخص.",
        103: "شارك 103 أشخاص.",
        111: "شارك 111 شخصًا.",
    },
    # one, few (0, 2-19, 101-119...), other takes "de" (20+, 100, 120...)
    "ro": {
        1: "A participat 1 persoană.",
        0: "Au participat 0 persoane.",
        2: "Au participat 2 persoane.",
        19: "Au participat 19 persoane.",
        101: "Au participat 101 persoane.",
        20: "Au participat 20 de persoane.",
        100: "Au participat 100 de persoane.",
        120: "Au participat 120 de persoane.",
    },
}


@pytest.mark.parametrize("language", sorted(PEOPLE_FORMS))
def test_results_text_agrees_with_the_number_of_people(app, language):
    """results_yes_no and results_choice end with the CLDR form for n, word for word."""
    for n, phrase in PEOPLE_FORMS[language].items():
        with app.app_context():
            yes_no = render(
                "results_yes_no", language, code="P12", yes=1, no=2, abstain=3, people=n
            )
            choice = render("results_choice", language, code="P12", tally="1:2", people=n)
        assert yes_no.endswith(phrase), f"{language} n={n}: {yes_no!r}"
        assert choice.endswith(phrase), f"{language} n={n}: {choice!r}"


@pytest.mark.parametrize("language", sorted(PEOPLE_FORMS))
def test_page_plurals_agree_with_the_number(app, language):
    """The pages' ngettext ("%(num)s people took part.") picks the same forms."""
    for n, phrase in PEOPLE_FORMS[language].items():
        with app.test_request_context(), force_locale(language):
            text = ngettext("%(num)s person took part.", "%(num)s people took part.", n)
        assert text.endswith(phrase), f"{language} n={n}: {text!r}"


def test_polish_abstain_count_is_a_label_that_agrees_with_any_number(app):
    """pl: the abstain count follows the keyword label, not a verb that agrees with 0/5+ only."""
    with app.app_context(), force_locale("pl"):
        label = gettext("ABSTAIN")
    for abstain in (0, 1, 2, 5, 22):
        with app.app_context():
            text = render(
                "results_yes_no", "pl", code="P12", yes=1, no=1, abstain=abstain, people=7
            )
        assert f"{label} {abstain}." in text, text
        assert "wstrzymało" not in text


# --- right-to-left ----------------------------------------------------------------


def first_strong_direction(text: str) -> str | None:
    """'rtl' or 'ltr' for the first strongly directional character, as phones lay it out."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def test_first_strong_direction_sees_a_leading_latin_word():
    """The check below can fail: a Latin code or name before the Arabic turns it LTR."""
    assert first_strong_direction("ABC1234: شكرًا") == "ltr"
    assert first_strong_direction("12: شكرًا ABC") == "rtl"
    assert first_strong_direction("\u200fABC1234: شكرًا") == "rtl"


@pytest.mark.parametrize("language", RTL)
@pytest.mark.parametrize("kind", kinds())
def test_right_to_left_texts_begin_right_to_left(app, kind, language):
    """With worst-case values (Latin org name, code, labels), the first strong letter is RTL."""
    with app.app_context():
        text = render(kind, language, **worst_values(kind, language))
    assert first_strong_direction(text) == "rtl", f"{kind}/{language}: {text!r}"


# --- START after STOP -------------------------------------------------------------

# Page texts that tell a member how to get texts again (or to join).
START_PAGE_TEXTS = [
    "To get texts again, text START to %(number)s.",
    "To get texts again, text START to our number.",
    "You can vote once you have joined. Text START to our number to join.",
    "Send INFO %(code)s for the full text, RESULTS %(code)s for the votes so far, "
    "STOP to stop all texts. After STOP, send START to get texts again.",
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_stop_confirmation_names_start(world, language):
    """A member who texts STOP is told, in their language, to text START to come back."""
    phone = world.member(language)
    reply = world.text(phone, "STOP")
    with world.app.app_context():
        assert reply == render("opted_out", language)
    assert START.search(reply), f"{language}: {reply!r}"
    assert segments.count(reply).segments <= budget(language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_page_texts_about_stopping_name_start(app, language):
    """Each page text about coming back after STOP (or joining) names START."""
    for msgid in START_PAGE_TEXTS:
        with app.test_request_context(), force_locale(language):
            text = gettext(msgid, number="+447700100200", code="P12")
        assert text != msgid or language == "en", f"{language} lacks {msgid!r}"
        assert START.search(text), f"{language}: {text!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_stopped_members_page_names_start(client, world, app, language):
    """The personal page of a member who sent STOP says how to get texts again: START."""
    world.consultation("P12")
    phone = world.member(language)
    with app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        member.status = "opted_out"
        db.session.commit()
        url = links.personal_url(app.config["CHORUS"], member, consultation_row("P12"))
        db.session.commit()
    html = check_page(client.get(url.removeprefix(PUBLIC_BASE_URL)), language)
    note = re.search(r'<p class="note">(.*?)</p>', html, re.S)
    assert note and START.search(note.group(1)), f"{language}: {note and note.group(1)!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_consultation_page_names_start_beside_stop(client, world, language):
    """The public page that says how to STOP also says START brings texts back."""
    world.consultation("P12")
    html = check_page(client.get(f"/c/P12?lang={language}"), language)
    assert START.search(html), language


def consultation_row(code: str):
    """The Consultation row for `code` (inside an app context)."""
    return db.session.execute(select(Consultation).where(Consultation.code == code)).scalar_one()


# --- confirmations with the language's own vote words -----------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_yes_no_confirmations_fit_with_the_languages_vote_words(app, language):
    """YES/NO/ABSTAIN in the language (NÃO, ABSTENÇÃO, WSTRZYMUJĘ SIĘ) never falls back to a
    number, so the confirmations must fit with them; the budget test uses ASCII labels."""
    with app.app_context(), force_locale(language):
        words = [gettext("ABSTAIN"), gettext("YES"), gettext("NO")]
    longest = max(words, key=len)
    for with_comment, other, changed in [(False, None, False), (False, None, True),
                                         (True, None, False), (True, "ABD1234", False),
                                         (False, "ABD1234", False)]:  # fmt: skip
        kind = vote_reply_kind(with_comment, other, changed)
        values = worst_values(kind, language)
        values["choice"] = longest
        if "previous" in values:
            values["previous"] = longest
        with app.app_context():
            text = render(kind, language, **values)
        assert segments.count(text).segments <= budget(language), f"{kind}/{language}: {text!r}"
