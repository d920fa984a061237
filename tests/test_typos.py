"""Typos forgiven in vote words, safely (app/domain/typos.py), and said back to the member.

Tables first: slips that are read as votes, and words that must never be. Then the
properties of the whole table (every slip is one slip from exactly one vote word, no
keyword of any kind or language is a slip of a vote word that means something else),
a fuzz property through `parse`, and the confirmation through the real webhook, the
fast path, every language and the segment budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import LANGUAGES
from app.domain import grammar, inbound_fast, typos
from app.domain.grammar import Intent, parse
from app.domain.replies import TYPED_CHARS, choice_label, confirm_vote, echo
from app.models import Consultation, Vote
from app.sms import segments
from app.sms.render import budget, render, within_budget

TABLE = grammar._TYPOS
KEYWORDS = grammar._FOLDED1  # every single-word keyword, folded, whatever its kind


def fold(word: str) -> str:
    """A word as the grammar compares it."""
    return " ".join(t.fold for t in grammar._scan(word))


def meaning(word: str) -> tuple[str, str | None]:
    entry = KEYWORDS[word]
    return entry.kind, entry.value


# --------------------------------------------------------------------------- read as votes

# (text, choice, typo as echoed, code, comment)
ACCEPTED = [
    # English: swapped, doubled, dropped, a neighbouring key in a long word
    ("yse", "yes", "yse", None, None),
    ("YSE", "yes", "yse", None, None),
    ("Yse!", "yes", "yse", None, None),
    ("eys", "yes", "eys", None, None),
    ("yees", "yes", "yees", None, None),
    ("yyes", "yes", "yyes", None, None),
    ("abstian", "abstain", "abstian", None, None),
    ("abstan", "abstain", "abstan", None, None),
    ("absstain", "abstain", "absstain", None, None),
    ("absatin", "abstain", "absatin", None, None),
    ("abstsin", "abstain", "abstsin", None, None),  # s is next to a
    ("abstaning", "abstain", "abstaning", None, None),
    ("abstenton", "abstain", "abstenton", None, None),
    # Welsh
    ("ywd", "yes", "ywd", None, None),
    ("yydy", "yes", "yydy", None, None),
    ("ngae", "no", "ngae", None, None),
    ("nadod", "no", "nadod", None, None),
    ("ymtaal", "abstain", "ymtaal", None, None),
    ("ymatl", "abstain", "ymatl", None, None),
    # Spanish
    ("abstencoin", "abstain", "abstencoin", None, None),
    ("abstenicón", "abstain", "abstenicón", None, None),
    ("asbtengo", "abstain", "asbtengo", None, None),
    # French
    ("uoi", "yes", "uoi", None, None),
    ("oiu", "yes", "oiu", None, None),
    ("ouui", "yes", "ouui", None, None),
    ("nno", "no", "nno", None, None),
    ("nnon", "no", "nnon", None, None),
    ("abstiesn", "abstain", "abstiesn", None, None),
    ("je m'abstins", "abstain", "m'abstins", None, None),
    # Portuguese
    ("smi", "yes", "smi", None, None),
    ("siim", "yes", "siim", None, None),
    ("nnao", "no", "nnao", None, None),
    ("nãao", "no", "nãao", None, None),
    ("abstneho", "abstain", "abstneho", None, None),
    # Polish
    ("tka", "yes", "tka", None, None),
    ("TKA", "yes", "tka", None, None),
    ("atk", "yes", "atk", None, None),
    ("taak", "yes", "taak", None, None),
    ("nei", "no", "nei", None, None),
    ("nnie", "no", "nnie", None, None),
    ("wstrzymjuę", "abstain", "wstrzymjuę", None, None),
    ("wstrzymanei", "abstain", "wstrzymanei", None, None),
    # Romanian
    ("abitn", "abstain", "abitn", None, None),
    ("abțn", "abstain", "abțn", None, None),
    ("abtinree", "abstain", "abtinree", None, None),
    # Arabic and Urdu: long words only
    ("امتانع", "abstain", "امتانع", None, None),
    ("الامتنناع", "abstain", "الامتنناع", None, None),
    ("غیرجانبدرا", "abstain", "غیرجانبدرا", None, None),
    # with a code, filler, a comment
    ("P12 yse", "yes", "yse", "P12", None),
    ("yse p12", "yes", "yse", "P12", None),
    ("P12: tka", "yes", "tka", "P12", None),
    ("P12yse", "yes", "yse", "P12", None),
    ("yse please", "yes", "yse", None, None),
    ("Yse 👍", "yes", "yse", None, None),
    ("I vote yse", "yes", "yse", None, None),
    ("yse yes", "yes", "yse", None, None),
    ("yse but only if it's weekends", "yes", "yse", None, "but only if it's weekends"),
    ("yse, but only on Sundays", "yes", "yse", None, "but only on Sundays"),
    ("P12 yse - the road is too narrow", "yes", "yse", "P12", "the road is too narrow"),
    ("nei bo za drogo", "no", "nei", None, "bo za drogo"),
    ("tka, ale tylko w weekendy", "yes", "tka", None, "ale tylko w weekendy"),
    ("abstian: I don't live there", "abstain", "abstian", None, "I don't live there"),
]


@pytest.mark.parametrize(("text", "choice", "typo", "code", "comment"), ACCEPTED)
def test_slip_is_read_as_a_vote(text, choice, typo, code, comment):
    intent = parse(text)
    assert (intent.kind, intent.choice, intent.typo, intent.code, intent.comment) == (
        "vote",
        choice,
        typo,
        code,
        comment,
    )


def test_a_slip_hints_at_the_language_of_its_word():
    assert parse("tka").hint == "pl"
    assert parse("ywd").hint == "cy"
    assert parse("yse").hint == "en"


# Exact words, and repeats the grammar already collapsed, are not typos: nothing to say.
EXACT = ["yes", "YES", "tak", "nie", "yesss", "yess", "ouii", "nonn", "noooo", "nope", "ydy"]


@pytest.mark.parametrize("text", EXACT)
def test_exact_words_are_not_typos(text):
    intent = parse(text)
    assert intent.kind == "vote" and intent.typo is None


# --------------------------------------------------------------------------- never votes

# (text, kind): words one slip from a vote word that must not be read as one.
REFUSED = [
    # one or two letters: no tolerance at all
    ("on", "text"),  # "no" swapped, and English "on"
    ("ei", "text"),  # "ie" swapped
    ("ye", "text"),
    ("ys", "text"),
    ("es", "text"),
    ("au", "text"),
    ("ad", "text"),
    ("ua", "text"),
    ("is", "text"),
    # common words in one of the ten languages
    ("noon", "text"),
    ("age", "text"),
    ("nag", "text"),
    ("ism", "text"),
    ("ange", "text"),
    ("ose", "text"),
    ("ano", "text"),  # pt "year"
    ("año", "text"),  # es "year"
    ("nado", "text"),  # es "I swim"
    ("noa", "text"),  # a name
    ("nae", "text"),
    ("dyw", "text"),  # cy "is not": the opposite of ydw
    ("dyn", "text"),  # cy "man"
    ("addo", "text"),  # cy "promise"
    ("eos", "text"),  # cy "nightingale"
    ("wstrzymane", "text"),  # pl "suspended"
    ("wstrzymuj", "text"),  # pl "hold back!"
    ("wstrzykuje", "text"),  # pl "injects"
    ("امتاع", "text"),  # ar "delight"
    ("لامتناع", "text"),  # ar "no abstention"
    # one edit from a vote word that means the opposite
    ("ine", "text"),  # nie (no) swapped, one letter from Welsh ie (yes)
    # slips of words that are not forgiven
    ("hay", "text"),  # hya (Bengali yes, romanised)
    ("any", "text"),  # nay
    ("yaeh", "text"),  # yeah (slang)
    ("ouias", "text"),  # ouais (slang)
    ("ننعم", "text"),  # نعم doubled: "we enjoy"
    ("عنم", "text"),  # نعم swapped
    ("نہی", "text"),  # نہیں without its last letter: "prohibition"
    ("ممتع", "text"),  # ممتنع without a letter: "enjoyable"
    ("বিতর", "text"),  # বিরত swapped: Bengali is not forgiven
    # slips the tolerance does not cover
    ("naddi", "text"),  # a replaced letter in a word shorter than seven
    ("abstxain", "text"),  # a letter that is not a neighbouring key
    ("ysee", "text"),  # two slips
    ("yet", "text"),
    ("yea", "vote"),  # a keyword of its own, exact
    # not votes at all
    ("ok", "text"),
    ("okay", "text"),
    ("yse no", "text"),  # conflicting
    ("tka nie", "text"),
    ("yse the blue one", "text"),  # weak: a comment only after punctuation or "but"
    ("tka people came", "text"),
    # other keywords keep their own slips
    ("stpo", "stop"),
    ("yse stop", "stop"),
    ("hepl", "help"),
]


@pytest.mark.parametrize(("text", "kind"), REFUSED)
def test_word_is_not_read_as_a_vote_from_a_typo(text, kind):
    intent = parse(text)
    assert intent.kind == kind
    assert intent.typo is None
    if kind == "text":
        assert intent == Intent("text", comment=text.strip())


# --------------------------------------------------------------------------- the table


def test_every_slip_is_one_slip_from_exactly_one_vote():
    """Each slip read comes from a forgiven word, every keyword one edit from it (any
    edit) means that same vote, and it is no keyword, number or known word itself."""
    assert len(TABLE.readings) > 500
    known = grammar._known_words()
    for slip, reading in TABLE.readings.items():
        assert slip in typos.slips(reading.word), slip
        assert typos.MIN_LATIN <= len(slip) <= typos.MAX_SLIP, slip
        assert not any(c.isdigit() for c in slip), slip
        assert slip not in KEYWORDS and slip not in grammar._EXACT1, slip
        assert slip not in known, slip
        near = {w for w in KEYWORDS if typos.within_one_edit(slip, w)}
        assert near, slip
        assert {meaning(w) for w in near} == {("vote", reading.choice)}, (slip, near)


def test_no_keyword_is_a_slip_of_a_vote_word_that_means_something_else():
    """No keyword or vote word of any language lies within the tolerance of a
    forgiven word with another meaning."""
    for lang, spec in typos.FORGIVEN.items():
        for written in spec.split():
            word = fold(written)
            choice = KEYWORDS[word].value
            for slip in typos.slips(word):
                if slip in KEYWORDS and meaning(slip) != ("vote", choice):
                    # Only two-letter words ("ie" in "nie"), which no slip can be.
                    assert len(slip) < typos.MIN_LATIN, (lang, word, slip)
                    assert TABLE.read(slip) is None and parse(slip).typo is None


def test_forgiven_words_are_strong_vote_words_long_enough():
    for lang in LANGUAGES:
        for written in typos.FORGIVEN[lang].split():
            entry = KEYWORDS[fold(written)]
            assert entry.kind == "vote" and not entry.weak and lang in entry.langs, written
            assert len(fold(written)) >= typos.MIN_LATIN, written
    assert set(typos.FORGIVEN) == set(LANGUAGES) == set(typos.COMMON)


def test_short_vote_words_get_no_tolerance():
    """No slip of a one- or two-letter vote word is read as it."""
    short = [w for w, e in KEYWORDS.items() if e.kind == "vote" and len(w) <= 2]
    assert {"no", "na", "da", "nu", "ie", "si", "لا"} <= set(short)
    for reading in TABLE.readings.values():
        assert len(reading.word) >= 3


def test_common_words_are_refused():
    for spec in typos.COMMON.values():
        for written in spec.split():
            word = fold(written)
            assert TABLE.read(word) is None, word
            if word in TABLE.refused:
                assert TABLE.refused[word] == "common word", word


@dataclass(frozen=True)
class _Keyword:
    kind: str
    value: str | None = None
    weak: bool = False
    langs: frozenset[str] = frozenset({"en"})


def test_a_keyword_added_to_the_grammar_is_checked_automatically():
    """A new keyword of any kind (LINK, say) takes its own spelling and its neighbours
    away from the vote slips: the check reads the grammar's table, not a copy."""
    known = grammar._known_words()
    assert TABLE.read("yse") and TABLE.read("tka")
    keywords = dict(KEYWORDS, yse=_Keyword("link"), tkb=_Keyword("link"))
    table = typos.build(keywords, known, fold)
    assert table.read("yse") is None and table.refused["yse"] == "keyword yse"
    assert table.read("tka") is None and table.refused["tka"] == "near tkb"
    assert table.read("atk") is not None


def test_a_word_that_is_not_a_strong_vote_word_cannot_be_forgiven(monkeypatch):
    known = grammar._known_words()
    for lang, word in [("en", "sure"), ("en", "stop"), ("cy", "yes"), ("en", "qwerty")]:
        monkeypatch.setitem(typos.FORGIVEN, lang, word)
        with pytest.raises(ValueError, match="not a strong vote word"):
            typos.build(KEYWORDS, known, fold)
        monkeypatch.undo()
    monkeypatch.setitem(typos.FORGIVEN, "bn", "হ্যাঁ")
    with pytest.raises(ValueError, match="script"):
        typos.build(KEYWORDS, known, fold)
    monkeypatch.setitem(typos.FORGIVEN, "bn", "")
    monkeypatch.setitem(typos.FORGIVEN, "ar", "نعم")
    with pytest.raises(ValueError, match="too short"):
        typos.build(KEYWORDS, known, fold)


WITHIN_ONE = [
    ("yes", "yse", True),
    ("yes", "yees", True),
    ("yes", "ye", True),
    ("yes", "yet", True),
    ("yes", "yes", False),
    ("yes", "sey", False),
    ("yes", "yeast", False),
    ("abstain", "abstian", True),
    ("", "a", True),
]


@pytest.mark.parametrize(("a", "b", "near"), WITHIN_ONE)
def test_within_one_edit(a, b, near):
    assert typos.within_one_edit(a, b) is near
    assert typos.within_one_edit(b, a) is near


def test_slips_are_the_forgiven_kinds_only():
    assert typos.slips("tak") == {"atk", "tka", "ta", "tk", "ak", "ttak", "taak", "takk"}
    assert "abstsin" in typos.slips("abstain")  # a neighbouring key, seven letters
    assert "abstxin" not in typos.slips("abstain")
    assert not any(len(s) == 5 for s in typos.slips("naddo") if s[:4] == "nadd" and s != "naddo")


# --------------------------------------------------------------------------- fuzz

_VOTE_WORDS = sorted(w for w, e in KEYWORDS.items() if e.kind == "vote")
_LETTERS = "abcdeilmnorstuwyzą'ęعمن"


@st.composite
def _mistyped(draw) -> str:
    word = draw(st.sampled_from(_VOTE_WORDS))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(word)))
        op = draw(st.sampled_from(["drop", "double", "swap", "replace", "insert"]))
        letter = draw(st.sampled_from(_LETTERS))
        if op == "drop" and i < len(word):
            word = word[:i] + word[i + 1 :]
        elif op == "double" and i < len(word):
            word = word[: i + 1] + word[i:]
        elif op == "swap" and i + 1 < len(word):
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == "replace" and i < len(word):
            word = word[:i] + letter + word[i + 1 :]
        elif op == "insert":
            word = word[:i] + letter + word[i:]
    if draw(st.booleans()):
        word = word.upper()
    before = draw(st.sampled_from(["", "P12 ", "I vote ", "hi "]))
    after = draw(st.sampled_from(["", "!", " p12", " please", " but only if", ", later", " no"]))
    return before + word + after


_FORGIVEN = sorted(fold(w) for spec in typos.FORGIVEN.values() for w in spec.split())


@st.composite
def _one_slip(draw) -> str:
    """One edit of any kind (forgiven or not) in a forgiven word, maybe with a comment."""
    word = draw(st.sampled_from(_FORGIVEN))
    i = draw(st.integers(0, len(word) - 1))
    letter = draw(st.sampled_from(_LETTERS))
    word = draw(
        st.sampled_from(
            [
                word[:i] + word[i + 1 :],
                word[: i + 1] + word[i:],
                word[:i] + word[i + 1 : i + 2] + word[i] + word[i + 2 :],
                word[:i] + letter + word[i + 1 :],
                word[:i] + letter + word[i:],
            ]
        )
    )
    return word + draw(st.sampled_from(["", " p12", " but only if", ", later", " yes"]))


@settings(max_examples=500, deadline=None)
@given(_one_slip() | _mistyped() | st.text(max_size=30))
def test_a_vote_read_from_a_typo_is_one_edit_from_exactly_one_vote_word(text):
    intent = parse(text)
    if intent.typo is None:
        return
    assert intent.kind == "vote"
    slip = fold(intent.typo)
    near = {w for w in KEYWORDS if typos.within_one_edit(slip, w)}
    assert {meaning(w) for w in near} == {("vote", intent.choice)}, (text, near)
    assert intent.typo in grammar.normalise(text).split()


# --------------------------------------------------------------------------- the reply


def test_the_confirmation_says_what_was_read(world):
    world.consultation("P12")
    phone = world.member()
    reply = world.text(phone, "yse")
    [vote] = world.rows(Vote, Vote.member_id == world.get_member(phone).id)
    assert vote.choice == "yes"
    with world.app.app_context():
        want = render("vote_typo", "en", code="P12", typed="yse", vote="YES", receipt=vote.receipt)
    assert reply == want
    assert reply.startswith('P12: we read "yse" as YES and counted it.')
    assert segments.count(reply).segments == 1


def test_a_typo_with_a_code_and_a_comment(world):
    world.consultation("P12")
    world.consultation("P13")
    phone = world.member()
    reply = world.text(phone, "P12 yse but only if it's weekends")
    assert reply.startswith('P12: we read "yse" as YES and counted it with your comment.')
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.results("P12")["comments"] == 1


def test_a_typo_changes_a_vote(world):
    world.consultation("P12")
    phone = world.member("pl")
    world.text(phone, "nie")
    reply = world.text(phone, "tka")
    assert reply.startswith('P12: "tka" uznaliśmy za TAK')
    assert world.results("P12")["votes"] == {"yes": 1, "no": 0, "abstain": 0}


def test_a_typo_names_the_other_open_consultation(world):
    world.consultation("P12")
    world.consultation("P13")
    phone = world.member()
    world.sent("P12", phone)
    world.sent("P13", phone)
    reply = world.text(phone, "yse")
    assert reply.startswith('P13: we read "yse" as YES and counted it, receipt ')
    assert reply.endswith("Meant P12? Text P12 and your choice.")


# A slip of the language's own vote word, for a member of each language.
OWN = {
    "en": "yse",
    "cy": "ywd",
    "es": "abstencoin",
    "fr": "uoi",
    "pt": "smi",
    "pl": "tka",
    "ro": "abitn",
    "ar": "امتانع",
    "ur": "غیرجانبدرا",
    "bn": "yse",  # no Bengali word is forgiven; a Bengali member may type in English
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_confirmation_in_every_language_quotes_the_word(world, language):
    world.consultation("P12")
    phone = world.member(language)
    typed = OWN[language]
    reply = world.text(phone, typed)
    assert typed in reply
    assert segments.count(reply).segments <= budget(language)
    intent = parse(typed)
    with world.app.app_context():
        label = choice_label(Consultation(code="P12", kind="yes_no"), intent.choice, language)
        receipt = world.rows(Vote)[-1].receipt
        want = render(
            "vote_typo", language, code="P12", typed=echo(typed, language), vote=label,
            receipt=receipt,
        )  # fmt: skip
    assert reply == want


def test_a_typo_is_not_consent_after_stop(world):
    world.consultation("P12")
    phone = world.member()
    world.text(phone, "STOP")
    assert world.text(phone, "yse") is None
    assert world.get_member(phone).status == "opted_out"
    assert world.text(phone, "yes") is not None
    assert world.get_member(phone).status == "active"


def test_the_fast_path_answers_typos_as_the_full_path(world, monkeypatch):
    """The fast path takes typo votes (the differential test compares every column)."""
    calls = []
    real = inbound_fast._attempts

    def spy(*args):
        done = real(*args)
        calls.append(done is not None)
        return done

    monkeypatch.setattr(inbound_fast, "_attempts", spy)
    world.consultation("P12")
    phone = world.member()
    reply = world.text(phone, "yse, but only on Sundays")
    assert calls == [True]
    assert reply.startswith('P12: we read "yse" as YES and counted it with your comment.')


# --------------------------------------------------------------------------- the budget


def _worst_typos() -> list[str]:
    """The longest slip of each script, and a few with letters outside GSM-7."""
    latin = max((s for s in TABLE.readings if s.isascii()), key=len)
    arabic = max((s for s in TABLE.readings if not s.isascii()), key=len)
    return [latin, arabic, "wstrzymjuę", "abțn", "nãao", "abstenicón"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_typo_confirmation_fits_the_budget(app, language):
    """With the longest codes and each of the language's vote words, a typo confirmation
    fits; a word in another script may turn it into the usual confirmation instead, but
    the language's own slips are always quoted."""
    consultation = Consultation(code="ABC1234", kind="yes_no")
    own = {s for s, r in TABLE.readings.items() if language in r.langs}
    with app.app_context():
        for typed in sorted(own | set(_worst_typos())):
            for choice in ("yes", "no", "abstain"):
                for with_comment, other in [(False, None), (True, None), (True, "ABD1234")]:
                    kind, text = confirm_vote(
                        consultation, language, choice=choice, previous="no",
                        receipt="X" * 9, other=other, with_comment=with_comment,
                        changed=True, typed=typed,
                    )  # fmt: skip
                    assert within_budget(text, language), (kind, text)
                    if typed in own and (language != "en" or segments.is_gsm7(typed)):
                        assert kind.startswith("vote_typo"), (typed, text)


def test_a_word_in_another_script_falls_back_to_the_usual_confirmation(app):
    consultation = Consultation(code="ABC1234", kind="yes_no")
    with app.app_context():
        kind, text = confirm_vote(
            consultation, "en", choice="abstain", previous=None, receipt="X" * 9,
            other=None, with_comment=False, changed=False, typed="غیرجانبدرا",
        )  # fmt: skip
    assert kind == "vote_recorded"
    assert text.startswith("ABC1234: your vote ABSTAIN is counted.")


def test_the_echo_is_bounded_and_isolated_in_right_to_left_texts():
    assert echo("x" * 50, "en") == "x" * TYPED_CHARS
    assert TYPED_CHARS >= typos.MAX_SLIP
    assert echo("yse", "ar") == "\u2068yse\u2069"
    assert echo("yse", "ur") == "\u2068yse\u2069"
    assert echo("yse", "bn") == "yse"
