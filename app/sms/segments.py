"""SMS segment counting and splitting (GSM 03.38 / UCS-2), as carriers and Twilio count them.

GSM-7 text costs one septet per basic-table character and two septets per extension-table
character (an ESC + char pair).  A single message holds 160 septets; a concatenated message
holds 153 septets per part (the user-data header takes the rest), and an escape pair is never
split across parts, so a part may hold only 152.

Any character outside the GSM-7 tables forces UCS-2 for the whole message.  UCS-2 is counted in
UTF-16 code units: 70 for a single message, 67 per part when concatenated.  Characters outside
the BMP (most emoji) are surrogate pairs costing two units and are never split, so a part may
hold only 66.

Segmentation is simulated greedily, so ``len(split(t)) == count(t).segments`` always holds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate, repeat

__all__ = ["SegmentInfo", "count", "fits", "is_gsm7", "split"]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

# GSM 03.38 basic character set (ESC, 0x1B, is deliberately omitted: it is not a character).
_GSM7_BASIC_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs two septets (ESC + char).
_GSM7_EXTENSION_CHARS = "^{}\\[~]|€\f"

GSM7_BASIC: frozenset[str] = frozenset(_GSM7_BASIC_CHARS)
GSM7_EXTENSION: frozenset[str] = frozenset(_GSM7_EXTENSION_CHARS)
GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION
# ASCII characters that cost exactly one septet: the fast path for typical messages.
_GSM7_ASCII_BASIC: frozenset[str] = frozenset(c for c in GSM7_BASIC if c.isascii())
# Per-character septet cost for the slow path (characters not listed cost 1).
_GSM7_WEIGHT: dict[str, int] = dict.fromkeys(GSM7_EXTENSION, 2)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text will be sent as SMS.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
        segments: number of SMS segments (0 for empty text).
        units: septets for GSM-7 (extension chars count 2), UTF-16 code units for UCS-2.
        per_segment: capacity of a segment at this length: 160/153 for GSM-7, 70/67 for UCS-2.
        remaining: units left in the last segment.
    """

    encoding: str
    segments: int
    units: int
    per_segment: int
    remaining: int


def is_gsm7(text: str) -> bool:
    """Return True if every character of ``text`` is in the GSM-7 basic or extension table.

    The empty string is GSM-7.
    """
    return GSM7_ALL.issuperset(text)


def _ucs2_units(text: str) -> int:
    """Number of UTF-16 code units in ``text`` (lone surrogates count as one)."""
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def _part_ends(text: str, gsm: bool, limit: int) -> tuple[list[int], int]:
    """Greedily pack ``text`` into parts of at most ``limit`` units.

    Only called for multipart text containing two-unit characters.  Each Python character is
    atomic (an escape pair or a surrogate pair), so no pair is ever split.  Returns the end
    index (exclusive) of each part and the units used by the last part.
    """
    weights: Iterable[int]
    if gsm:
        weights = map(_GSM7_WEIGHT.get, text, repeat(1))
    else:
        weights = (2 if c > "\uffff" else 1 for c in text)
    cum = list(accumulate(weights))  # cum[k] = units in text[: k + 1]
    n = len(cum)
    ends: list[int] = []
    start, base = 0, 0
    while start < n:
        end = bisect_right(cum, base + limit, start)
        ends.append(end)
        start, prev_base = end, base
        base = cum[end - 1]
    return ends, base - prev_base


def _analyse(text: str) -> tuple[SegmentInfo, list[int] | None]:
    """Compute the SegmentInfo and, where needed, the part end indices of ``text``.

    The end indices are ``None`` when parts are fixed-width (every character costs one unit)
    or the text fits a single segment.
    """
    if not text:
        return SegmentInfo(GSM7, 0, 0, GSM7_SINGLE, GSM7_SINGLE), None

    n = len(text)
    if text.isascii() and _GSM7_ASCII_BASIC.issuperset(text):
        encoding, units, wide = GSM7, n, False
    elif GSM7_ALL.issuperset(text):
        encoding = GSM7
        units = n + sum(map(text.count, _GSM7_EXTENSION_CHARS))
        wide = units != n
    else:
        encoding = UCS2
        units = _ucs2_units(text)
        wide = units != n

    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == GSM7 else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        return SegmentInfo(encoding, 1, units, single, single - units), None
    if not wide:
        segments = -(-units // multi)
        return SegmentInfo(encoding, segments, units, multi, segments * multi - units), None
    ends, last_used = _part_ends(text, encoding == GSM7, multi)
    return SegmentInfo(encoding, len(ends), units, multi, multi - last_used), ends


def count(text: str) -> SegmentInfo:
    """Count the SMS segments needed to send ``text``.

    The encoding is GSM-7 if every character is in the GSM 03.38 basic or extension table,
    otherwise UCS-2.  Multipart counts are exact: escape pairs (GSM-7) and surrogate pairs
    (UCS-2) are never split across segments, so ``count(t).segments == len(split(t))``.
    Empty text is 0 segments of GSM-7 with the full 160 septets remaining.
    """
    return _analyse(text)[0]


def split(text: str) -> list[str]:
    """Split ``text`` into the parts a phone would receive.

    ``"".join(split(text)) == text``; an escape pair or a surrogate pair is never split
    across parts.  Returns ``[]`` for empty text and ``[text]`` when it fits one segment.
    """
    info, ends = _analyse(text)
    if info.segments <= 1:
        return [text] if text else []
    if ends is None:
        step = info.per_segment
        return [text[i : i + step] for i in range(0, len(text), step)]
    parts: list[str] = []
    start = 0
    for end in ends:
        parts.append(text[start:end])
        start = end
    return parts


def fits(text: str, max_segments: int) -> bool:
    """Return True if ``text`` can be sent in at most ``max_segments`` segments.

    Empty text needs 0 segments, so it fits any non-negative limit.
    """
    return count(text).segments <= max_segments
