"""Tests for app.sms.segments (GSM-7 / UCS-2 segment counting and splitting)."""

from __future__ import annotations

import random
import sys
from itertools import pairwise
from pathlib import Path

import pytest

try:
    import app.sms.segments  # noqa: F401
except ImportError:  # running without the project root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.sms.segments import SegmentInfo, count, fits, is_gsm7, split

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = "^{}\\[~]|€\f"
EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair
CYR = "ж"  # BMP, not GSM-7: one UCS-2 unit


def units_of(part: str, encoding: str) -> int:
    """Independent unit count for a part, used to check split() output."""
    if encoding == "GSM-7":
        return sum(2 if c in GSM_EXT else 1 for c in part)
    return len(part.encode("utf-16-le", "surrogatepass")) // 2


def check_invariants(text: str) -> None:
    info = count(text)
    parts = split(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    assert all(parts)
    assert sum(units_of(p, info.encoding) for p in parts) == info.units
    for part in parts:
        assert units_of(part, info.encoding) <= info.per_segment
    for part, following in pairwise(parts):  # greedy: no part could hold more
        assert units_of(part + following[0], info.encoding) > info.per_segment
    if parts:
        assert info.remaining == info.per_segment - units_of(parts[-1], info.encoding)
        assert 0 <= info.remaining < info.per_segment or info.segments == 1
    assert fits(text, info.segments)
    assert not fits(text, info.segments - 1) or info.segments == 0


# (id, text, encoding, segments, units, per_segment, remaining)
CASES = [
    ("empty", "", "GSM-7", 0, 0, 160, 160),
    ("one-char", "a", "GSM-7", 1, 1, 160, 159),
    ("gsm-160", "a" * 160, "GSM-7", 1, 160, 160, 0),
    ("gsm-161", "a" * 161, "GSM-7", 2, 161, 153, 145),
    ("gsm-306", "a" * 306, "GSM-7", 2, 306, 153, 0),
    ("gsm-307", "a" * 307, "GSM-7", 3, 307, 153, 152),
    ("gsm-non-ascii-160", "é" * 160, "GSM-7", 1, 160, 160, 0),
    ("gsm-non-ascii-161", "Δ" * 161, "GSM-7", 2, 161, 153, 145),
    ("ext-fills-160", "a" * 158 + "€", "GSM-7", 1, 160, 160, 0),
    ("ext-overflows-160", "a" * 159 + "€", "GSM-7", 2, 161, 153, 145),
    ("ext-ends-at-153", "a" * 151 + "{" + "b" * 10, "GSM-7", 2, 163, 153, 143),
    ("ext-at-153-moves", "a" * 152 + "{" + "b" * 10, "GSM-7", 2, 164, 153, 141),
    ("ext-only-80", "€" * 80, "GSM-7", 1, 160, 160, 0),
    ("ext-only-81", "€" * 81, "GSM-7", 2, 162, 153, 143),
    ("form-feed-ext", "\f", "GSM-7", 1, 2, 160, 158),
    ("ucs2-70", CYR * 70, "UCS-2", 1, 70, 70, 0),
    ("ucs2-71", CYR * 71, "UCS-2", 2, 71, 67, 63),
    ("ucs2-134", CYR * 134, "UCS-2", 2, 134, 67, 0),
    ("ucs2-135", CYR * 135, "UCS-2", 3, 135, 67, 66),
    ("emoji-fills-70", "a" * 68 + EMOJI, "UCS-2", 1, 70, 70, 0),
    ("emoji-35", EMOJI * 35, "UCS-2", 1, 70, 70, 0),
    ("emoji-36", EMOJI * 36, "UCS-2", 2, 72, 67, 61),
    ("emoji-ends-at-67", CYR * 65 + EMOJI + CYR * 10, "UCS-2", 2, 77, 67, 57),
    ("emoji-at-67-moves", CYR * 66 + EMOJI + CYR * 10, "UCS-2", 2, 78, 67, 55),
    ("gsm-1600", "a" * 1600, "GSM-7", 11, 1600, 153, 83),
    ("ext-1600-septets", "€" * 800, "GSM-7", 11, 1600, 153, 73),
    ("ucs2-1600", CYR * 1600, "UCS-2", 24, 1600, 67, 8),
    ("emoji-1600-units", EMOJI * 800, "UCS-2", 25, 1600, 67, 51),
    ("ascii-1599-then-emoji", "a" * 1599 + EMOJI, "UCS-2", 24, 1601, 67, 7),
    ("welsh-w", "Mae'r ŵyn yn y cae", "UCS-2", 1, 18, 70, 52),
    ("welsh-y", "tŷ bach", "UCS-2", 1, 7, 70, 63),
    ("arabic", "مرحبا بالعالم", "UCS-2", 1, 13, 70, 57),
    ("bengali", "আমি তোমাকে ভালোবাসি", "UCS-2", 1, 19, 70, 51),
    ("curly-quote", "It\u2019s here", "UCS-2", 1, 9, 70, 61),
    ("backtick", "`", "UCS-2", 1, 1, 70, 69),
    ("full-basic-table", GSM_BASIC, "GSM-7", 1, 127, 160, 33),
    ("full-ext-table", GSM_EXT, "GSM-7", 1, 20, 160, 140),
]


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units", "per_segment", "remaining"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_count(
    text: str, encoding: str, segments: int, units: int, per_segment: int, remaining: int
) -> None:
    assert count(text) == SegmentInfo(encoding, segments, units, per_segment, remaining)
    check_invariants(text)


@pytest.mark.parametrize(
    ("text", "part_lengths"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("a" * 160, [160], id="gsm-single"),
        pytest.param("a" * 307, [153, 153, 1], id="gsm-307"),
        pytest.param("a" * 152 + "€" + "b" * 10, [152, 11], id="escape-pair-not-split"),
        pytest.param("a" * 151 + "€" + "b" * 10, [152, 10], id="escape-pair-fits"),
        pytest.param("€" * 81, [76, 5], id="ext-only"),
        pytest.param(CYR * 135, [67, 67, 1], id="ucs2-135"),
        pytest.param(CYR * 66 + EMOJI + "z" * 5, [66, 6], id="surrogate-pair-not-split"),
        pytest.param(CYR * 65 + EMOJI + "z" * 5, [66, 5], id="surrogate-pair-fits"),
        pytest.param(EMOJI * 36, [33, 3], id="emoji-only"),
    ],
)
def test_split_lengths(text: str, part_lengths: list[int]) -> None:
    """Part lengths in Python characters (an emoji or an extension char is one character)."""
    parts = split(text)
    assert [len(p) for p in parts] == part_lengths
    assert "".join(parts) == text


def test_escape_pair_boundary_parts() -> None:
    parts = split("a" * 152 + "€" + "b" * 10)
    assert parts[0] == "a" * 152
    assert parts[1].startswith("€")


def test_surrogate_pair_boundary_parts() -> None:
    parts = split(CYR * 66 + EMOJI + "z" * 5)
    assert parts == [CYR * 66, EMOJI + "z" * 5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("Hello, world!", True, id="ascii"),
        pytest.param(GSM_BASIC, True, id="basic-table"),
        pytest.param(GSM_EXT, True, id="ext-table"),
        pytest.param("Price: 5€ [approx]", True, id="ext-mixed"),
        pytest.param("`", False, id="backtick"),
        pytest.param("\x1b", False, id="bare-escape"),
        pytest.param("It\u2019s", False, id="curly-quote"),
        pytest.param("ŵ", False, id="welsh-w"),
        pytest.param("ŷ", False, id="welsh-y"),
        pytest.param("مرحبا", False, id="arabic"),
        pytest.param("আমি", False, id="bengali"),
        pytest.param(EMOJI, False, id="emoji"),
        pytest.param("\t", False, id="tab"),
    ],
)
def test_is_gsm7(text: str, expected: bool) -> None:
    assert is_gsm7(text) is expected
    assert (count(text).encoding == "GSM-7") is expected


def test_tables_have_expected_sizes() -> None:
    assert len(set(GSM_BASIC)) == len(GSM_BASIC) == 127
    assert len(set(GSM_EXT)) == len(GSM_EXT) == 10


@pytest.mark.parametrize(
    ("text", "max_segments", "expected"),
    [
        pytest.param("", 0, True, id="empty-0"),
        pytest.param("a", 0, False, id="one-char-0"),
        pytest.param("a" * 160, 1, True, id="gsm-160-in-1"),
        pytest.param("a" * 161, 1, False, id="gsm-161-in-1"),
        pytest.param("a" * 306, 2, True, id="gsm-306-in-2"),
        pytest.param("a" * 307, 2, False, id="gsm-307-in-2"),
        pytest.param("a" * 151 + "€" * 2, 1, True, id="ext-155-in-1"),
        pytest.param("a" * 152 + "€" + "a" * 153, 2, False, id="escape-pushes-to-3"),
        pytest.param(CYR * 70, 1, True, id="ucs2-70-in-1"),
        pytest.param(CYR * 71, 1, False, id="ucs2-71-in-1"),
        pytest.param(CYR * 66 + EMOJI + CYR * 66, 2, False, id="emoji-pushes-to-3"),
        pytest.param(CYR * 65 + EMOJI + CYR * 67, 2, True, id="emoji-fits-in-2"),
    ],
)
def test_fits(text: str, max_segments: int, expected: bool) -> None:
    assert fits(text, max_segments) is expected


def test_segment_info_is_frozen() -> None:
    info = count("hi")
    with pytest.raises(AttributeError):
        info.segments = 5  # type: ignore[misc]


_ALPHABET = GSM_BASIC + GSM_EXT + "`’ŵŷжمআ\t\x1b" + EMOJI + "\U0001f44d\U0001f1ec\U0001f1e7"


@pytest.mark.parametrize("seed", range(50))
def test_random_invariants(seed: int) -> None:
    """Deterministic fuzz of the split/count invariants (runs without hypothesis)."""
    rng = random.Random(seed)
    for _ in range(20):
        # Half the time stay inside GSM-7, half the time mix in UCS-2 and emoji.
        alphabet = GSM_BASIC + GSM_EXT if rng.random() < 0.5 else _ALPHABET
        text = "".join(rng.choices(alphabet, k=rng.randrange(0, 700)))
        check_invariants(text)


if given is not None:

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(
            alphabet=st.sampled_from(_ALPHABET) | st.characters(codec="utf-8"),
            max_size=800,
        )
        | st.text(alphabet=st.sampled_from(GSM_BASIC + GSM_EXT), max_size=800)
    )
    def test_split_property(text: str) -> None:
        """ "".join(split(t)) == t, every part fits its segment, and count agrees with split."""
        check_invariants(text)

else:

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_split_property() -> None:
        """Placeholder: the hypothesis property test needs hypothesis."""
