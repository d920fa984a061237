"""Whatever arrives, the grammar reads it and the webhook answers: never an exception, never 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain import grammar

from .inbound_helpers import inbound_params, new_sid

TEXTS = st.one_of(
    st.text(max_size=1600),
    st.from_regex(r"\A[0-9]{1,6000}\Z", fullmatch=True),
    st.lists(
        st.sampled_from(["P12", "yes", "no", "2", "STOP", "LINK", "٣", "০৭", " ", "👍", "\u200b"]),
        max_size=40,
    ).map(" ".join),
)


@pytest.mark.parametrize("digits", [4301, 5000, 1600 * 4])
def test_a_very_long_number_is_a_word_not_a_crash(digits):
    assert grammar.parse("1" * digits).kind == "text"
    assert grammar.parse("P12 " + "9" * digits).kind == "text"


def test_leading_zeros_still_name_a_choice():
    assert grammar.parse("0" * 4400 + "2").choice == "2"
    assert grammar.parse("002").choice == "2"


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_the_grammar_reads_anything(text):
    intent = grammar.parse(text)
    assert intent.kind


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=TEXTS)
def test_the_webhook_answers_anything_without_a_server_error(signed_post, body):
    response = signed_post("/twilio/inbound", inbound_params("+447400123456", body, new_sid()))
    assert response.status_code == 200, body
