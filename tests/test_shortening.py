"""No system text is ever over budget, whatever staff write.

Staff words (option labels, titles) reach system texts only as `Option`/`StaffText`
values, which `app.sms.render` shortens by one ordered rule until the text fits. The
properties below give every kind, in every language, random words of any Unicode and
any length the API accepts, with the worst system values (longest codes, largest
numbers, longest ORG_NAME) beside them; then the same through a live consultation.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.config import LANGUAGES
from app.domain import system_texts
from app.domain.consultations import MAX_OPTIONS, NOT_IN_XML
from app.domain.replies import vote_confirmation, vote_reply_kind
from app.domain.system_texts import Catalog
from app.extensions import db
from app.models import Member, Message
from app.sms import segments
from app.sms.render import (
    STEPS,
    Option,
    StaffText,
    budget,
    cut,
    fit,
    kinds,
    render,
    render_fitted,
    shown,
    within_budget,
)

# Text the API accepts for a label (100) or a title (200): any Unicode but the
# characters XML cannot carry, not only spaces. Surrogates cannot be JSON-decoded.
_ANY = st.characters(codec="utf-8", exclude_categories=("Cs",))


def staff_text(limit: int) -> st.SearchStrategy[str]:
    return st.text(_ANY, min_size=1, max_size=limit).filter(
        lambda t: t.strip() and not NOT_IN_XML.search(t)
    )


# Scripts staff may mix in: weighted towards what breaks GSM-7 and costs two units.
_SCRIPTED = st.text(
    st.sampled_from([*"Ŵŷłșțéçãñ€[]{}~^|\\مكتبةاردوবাংলা🎉🌳👍🏽", "X", " "]),
    min_size=1,
    max_size=100,
).filter(str.strip)

LABELS = st.one_of(staff_text(100), _SCRIPTED)
TITLES = st.one_of(staff_text(200), _SCRIPTED)
OPTIONS = st.builds(Option, st.integers(1, MAX_OPTIONS), LABELS)

STAFF_KINDS = [
    k for k in kinds() if {"choice", "previous", "title"} & system_texts.template_variables(k)
]


# ---------------------------------------------------------------------- the rule itself


def test_steps_are_in_the_documented_order():
    assert [s.name for s in STEPS] == [
        "as written",
        "option labels replaced by their numbers",
        "titles cut to 20 characters",
        "titles left out",
    ]


def test_a_label_is_cut_to_twenty_characters_and_then_gives_way_to_its_number():
    option = Option(12, "Canolfan   gymunedol\nnewydd sbon")  # spaces and lines are one space
    assert shown(option, STEPS[0]) == "12 Canolfan gymunedol n"
    assert shown(option, STEPS[1]) == "12"
    assert shown("NO", STEPS[3]) == "NO"  # anything but staff words is never touched


def test_a_title_is_cut_at_a_space_with_three_dots_then_left_out():
    title = StaffText("Should the community garden open on Sundays in the summer?")
    assert shown(title, STEPS[0]) == "Should the community garden open on..."
    assert shown(title, STEPS[2]) == "Should the..."
    assert shown(title, STEPS[3]) == ""
    assert cut("Short", 40, ellipsis=True) == "Short"
    assert segments.is_gsm7(cut("x" * 60, 40, ellipsis=True))


def test_fit_stops_at_the_first_step_that_fits():
    def draw(values):
        title = f" ({values['title']})" if values["title"] else ""
        return f"P12{title}: your vote {values['choice']} is counted. Receipt ACDEFG."

    values = {"choice": Option(3, "Llyfrgell"), "title": StaffText("Garden " * 30)}
    assert fit(draw, "en", values).step == 0
    values["choice"] = Option(3, "Ŵyl")
    fitted = fit(draw, "en", values)
    assert fitted.step == 1 and "your vote 3 is" in fitted.text
    # With a UCS-2 title in English, only leaving it out gets back to GSM-7.
    values["title"] = StaffText("Gŵyl " * 30)
    fitted = fit(draw, "en", values)
    assert fitted.step == 3 and fitted.text.startswith("P12: your vote 3")
    assert fitted.within


def test_fit_says_when_even_the_last_step_is_over():
    fitted = fit(lambda v: "x" * 400 + str(v["choice"]), "cy", {"choice": Option(1, "A")})
    assert not fitted.within and fitted.step == 1  # later steps change nothing here


def test_english_is_one_gsm7_segment_elsewhere_two_of_either():
    assert within_budget("x" * 160, "en") and not within_budget("x" * 161, "en")
    assert not within_budget("Ŵ", "en")  # one UCS-2 segment is still not GSM-7
    assert within_budget("Ŵ" * 134, "cy") and not within_budget("Ŵ" * 135, "cy")
    assert within_budget("x" * 306, "fr") and not within_budget("x" * 307, "fr")


# ---------------------------------------------------------------------- every kind


def _values(kind, language, options, title):
    """Worst system values for `kind`, with random staff words in place of the worst."""
    _, values = next(system_texts.value_sets(kind, Catalog(language)))
    values = dict(values)
    if "choice" in values:
        values["choice"] = options[0]
    if "previous" in values:
        values["previous"] = options[1]
    if "title" in values:
        values["title"] = StaffText(title)
    return values


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(kinds()),
    language=st.sampled_from(LANGUAGES),
    options=st.tuples(OPTIONS, OPTIONS),
    title=TITLES,
)
def test_no_system_text_is_ever_over_budget(app, kind, language, options, title):
    """Any kind, any language, any staff words the API accepts: within budget."""
    with app.app_context():
        values = _values(kind, language, options, title)
        fitted = render_fitted(kind, language, values)
    assert fitted.within, (kind, language, fitted.text)
    assert fitted.info.segments <= budget(language)
    if language == "en":
        assert fitted.info.encoding == segments.GSM7


@pytest.mark.parametrize("kind", STAFF_KINDS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(language=st.sampled_from(LANGUAGES), options=st.tuples(OPTIONS, OPTIONS), title=TITLES)
def test_kinds_that_quote_staff_words_stay_within_budget(app, kind, language, options, title):
    """The kinds that take staff words, each given its own examples."""
    with app.app_context():
        fitted = render_fitted(kind, language, _values(kind, language, options, title))
    assert fitted.within, (kind, language, fitted.text)


class _Choice:
    """A choice consultation as a confirmation reads it (replies.Confirmable)."""

    kind = "choice"

    def __init__(self, code, labels):
        self.code, self.labels = code, labels

    def option_label(self, number, language, fallback="en"):
        return self.labels[number - 1]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    language=st.sampled_from(LANGUAGES),
    labels=st.lists(LABELS, min_size=2, max_size=MAX_OPTIONS),
    code=st.from_regex(r"\A[A-Z]{1,3}[0-9]{1,4}\Z"),
    data=st.data(),
)
def test_vote_confirmations_stay_within_budget(app, language, labels, code, data):
    """The function both inbound paths reply with, for every kind of confirmation."""
    numbers = st.integers(1, len(labels)).map(str)
    choice, previous = data.draw(numbers), data.draw(numbers)
    consultation = _Choice(code, labels)
    with app.app_context():
        for with_comment, other, changed in [(False, None, False), (False, None, True),
                                             (True, None, False), (True, "ABD1234", False),
                                             (False, "ABD1234", False)]:  # fmt: skip
            kind = vote_reply_kind(with_comment, other, changed)
            text = vote_confirmation(
                kind, consultation, language, choice=choice, previous=previous,
                receipt="ACDEFGHJK", other=other,
            )  # fmt: skip
            assert within_budget(text, language), (kind, language, text)
            assert re.search(rf"\b{choice}\b", text), text  # the number is always there


# ---------------------------------------------------------------------- a live consultation

WORST_LABELS = [
    {"en": "Ŵyl Haf yn y Parc Cymunedol", "cy": "Ŵyl Haf yn y Parc Cymunedol"},
    {"en": "Écoles et crèches du quartier", "fr": "Écoles et crèches du quartier"},
    {"en": "Łąka przy szkole", "pl": "Łąka przy szkole w Żółtej Dolinie"},
    {"en": "Școala și spațiul", "ro": "Școala și spațiul țării noastre"},
    {"en": "🎉🌳" * 30},
    {"en": "مكتبة الحي الجديدة في المركز"},
    {"en": "[Library] {new} €€€ ~|^"},
    {"en": "Plain label that is longer than twenty characters"},
]


def test_every_confirmation_on_a_live_consultation_is_within_budget(world):
    """Worst labels on a real consultation, texted in every language: each vote, change
    and vote-with-comment reply, as stored with its segments, is within budget."""
    world.consultation("P77", "choice", options=WORST_LABELS)
    texts = []
    for language in LANGUAGES:
        phone = world.member(language)
        world.sent("P77", phone)
        for number in range(1, len(WORST_LABELS) + 1):
            texts.append(world.text(phone, f"P77 {number}"))
        texts.append(world.text(phone, "P77 1, and a comment"))
    with world.app.app_context():
        rows = db.session.execute(
            select(Message.body, Message.segments, Member.language)
            .join(Member, Member.id == Message.member_id)
            .where(Message.direction == "out", Message.kind.like("vote%"))
        ).all()
    assert len(rows) == len(LANGUAGES) * (len(WORST_LABELS) + 1)
    for body, stored_segments, language in rows:
        assert stored_segments <= budget(language), (language, body)
        assert within_budget(body, language), (language, body)
    assert all(texts)


def test_an_english_reply_with_a_welsh_label_names_the_number(app):
    with app.app_context():
        text = render(
            "vote_recorded", "en", code="P12", choice=Option(2, "Ŵyl"), receipt="ACDEFGHJK"
        )
    assert "your vote 2 is counted" in text
