"""Typos forgiven in vote words, safely: `yse`, `tka`, `nei`, `abstian`.

Members type fast on small keypads. A word that is one slip away from a vote word is
read as that vote, when nothing else it could be is as close. The grammar
(`app.domain.grammar`) builds the table once at import with `build`, handing over
every keyword it knows, and looks words up in it; this module knows no keyword of its
own, so a keyword added to the grammar (in any language, of any kind) is checked
against here without anyone listing it.

The slips
    One of: two neighbouring letters swapped (`yse`, `tka`, `nei`, `abstian`), one
    letter doubled (`taak`, `absstain`), one letter dropped (`abstan`), and, in words
    of seven letters or more only, one letter replaced by a key next to it on a QWERTY
    or AZERTY keyboard (`abstsin`). A word with two slips is not read.

The words forgiven (`FORGIVEN`)
    Only the plain vote words of each language, written as the language writes them,
    of three letters or more in Latin script and six or more in Arabic script. Not:
    - words of one or two letters (`no`, `na`, `da`, `nu`, `ie`, `sí`, `لا`): one
      slip away from them is every other short word;
    - weak words (`si`, `do`, `dim`, `sure`...), slang and loose spellings (`yeah`,
      `nope`, `nah`, `yep`, `ouais`, `aye`), Roman Urdu and Bengali (`haan`, `nahi`,
      `hya`): they are already a loose spelling, and a slip of them is `hay`, `any`,
      `han`, `noon`;
    - short Arabic-script words (`نعم`, `أجل`, `كلا`, `ہاں`, `نہیں`, `ممتنع`): Arabic
      and Urdu words are built on three-letter roots, so a slip of a short word is
      usually another real word (`ننعم` "we enjoy", `ممتع` "enjoyable", `نہی`
      "prohibition");
    - Bengali: its vowel signs and conjuncts are combining marks, so a slip of a
      letter garbles or changes the word; `হ্যা` for `হ্যাঁ` is a keyword already.

When a slip is not read (`build` records why, in `Table.refused`)
    - it is a keyword itself, of any kind and language (exact words win anyway);
    - it is one edit (any letter inserted, dropped, replaced, or two swapped) from a
      keyword that means something else: another vote (`ine` is one from Welsh `ie`,
      yes, and from Polish `nie`, no), STOP, HELP, LANG... (so no typo can steal
      another keyword's slips);
    - it is a slip of two vote words that mean different things;
    - it is a word the grammar knows as something else (polite words, greetings,
      fillers, words inside keyword phrases, language names);
    - it is a common word in one of the ten languages (`COMMON`): `noon`, `age`,
      `ange`, `ano` (pt "year"), `nado` (es "I swim"), Welsh `dyw` ("is not"), `dyn`
      ("man"), `addo` ("promise"), `eos` ("nightingale"), Polish `wstrzymane`
      ("suspended"), Arabic `امتاع` ("delight")...; the list was made by checking
      every slip against the wordfreq lists of en, es, fr, pt, pl, ro, ar and ur (and
      Welsh by hand) and reading each one that appears there;
    - it has fewer than three letters, or a digit.

A vote read from a slip is weak (it takes a comment only after punctuation or a
conjunction: `yse but only if...`, `tka, ale...`), and the confirmation says what was
read (`P12: we read "yse" as YES...`), so the member can put it right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "COMMON",
    "FORGIVEN",
    "Keyword",
    "Reading",
    "Table",
    "build",
    "slips",
    "within_one_edit",
]

# The vote words a slip is forgiven in, per language (see the module docstring).
FORGIVEN: dict[str, str] = {
    "en": "yes abstain abstaining abstention",
    "cy": "oes ydw ydy ydyn ydyw nage naddo ymatal ymataliaf",
    "es": "abstención abstengo abstenerme",
    "fr": "oui non abstention abstiens m'abstiens",
    "pt": "sim não abstenção abstenho abstenho-me",
    "pl": "tak nie wstrzymuję wstrzymanie",
    "ro": "abțin abținere",
    "ar": "امتناع الامتناع",
    "ur": "غیرجانبدار",
    "bn": "",
}

# Words a member may mean as themselves, which are one slip from a vote word. Never
# read as votes. By language, as a reader would look them up.
COMMON: dict[str, str] = {
    "en": "age nag noon ism",
    "cy": "dyw dyn addo eos",
    "es": "nado noa año",
    "fr": "ose ange",
    "pt": "ano nado",
    "pl": "wstrzymane wstrzymuj wstrzykuje",
    "ro": "nae",
    "ar": "امتاع أمتنا لامتناع الامتاع امتنعا",
    "ur": "",
    "bn": "",
}

MIN_LATIN = 3  # letters in a forgiven Latin word, and in any slip read
MIN_ARABIC = 6  # letters in a forgiven Arabic-script word
MIN_REPLACED = 7  # letters in a word where a neighbouring key is forgiven
MAX_SLIP = 12  # no longer slip is read (the confirmation quotes it): "abstenho--me"

VOTES = ("yes", "no", "abstain")

_LATIN = re.compile(r"[a-z][a-z'-]*")
_ARABIC = re.compile(r"[\u0600-\u06ff]+")
_KEYBOARDS = ("qwertyuiop asdfghjkl zxcvbnm", "azertyuiop qsdfghjklm wxcvbn")


class Keyword(Protocol):
    """What `build` reads of each of the grammar's keywords."""

    @property
    def kind(self) -> str: ...

    @property
    def value(self) -> str | None: ...

    @property
    def weak(self) -> bool: ...

    @property
    def langs(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """A slip read as a vote: the choice, the vote word it is a slip of, its languages."""

    choice: str
    word: str
    langs: frozenset[str]


@dataclass(frozen=True)
class Table:
    """Slips read as votes, and the slips not read with the reason why."""

    readings: Mapping[str, Reading]
    refused: Mapping[str, str]

    def read(self, word: str) -> Reading | None:
        """The vote a (folded) word is a forgiven slip of, or None."""
        return self.readings.get(word)


def _neighbours() -> dict[str, frozenset[str]]:
    near: dict[str, set[str]] = {}
    for layout in _KEYBOARDS:
        rows = layout.split()
        for r, row in enumerate(rows):
            for c, key in enumerate(row):
                around = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1)]
                around += [(r + 1, c - 1), (r + 1, c)]
                for rr, cc in around:
                    if 0 <= rr < len(rows) and 0 <= cc < len(rows[rr]):
                        near.setdefault(key, set()).add(rows[rr][cc])
    return {k: frozenset(v) for k, v in near.items()}


NEIGHBOURS = _neighbours()


def slips(word: str) -> set[str]:
    """Every word one forgiven slip from `word` (see the module docstring)."""
    out: set[str] = set()
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])  # dropped
        out.add(word[: i + 1] + word[i:])  # doubled
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])  # swapped
        if len(word) >= MIN_REPLACED and _LATIN.fullmatch(word):
            for key in NEIGHBOURS.get(word[i], ()):
                out.add(word[:i] + key + word[i + 1 :])  # a neighbouring key
    out.discard(word)
    return out


def within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment distance of exactly one between different words: one
    letter inserted, dropped or replaced, or two neighbours swapped."""
    la, lb = len(a), len(b)
    if a == b or abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la > lb:
        return a[i + 1 :] == b[i:]
    return a[i:] == b[i + 1 :]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}


def _meaning(keyword: Keyword) -> tuple[str, str | None]:
    return keyword.kind, keyword.value


def build(
    keywords: Mapping[str, Keyword], ordinary: Iterable[str], fold: Callable[[str], str]
) -> Table:
    """The slips read as votes, given every single-word keyword the grammar knows (by
    folded word), the other words it knows, and its folding of a word.

    Raises ValueError when a word of `FORGIVEN` is not a strong vote keyword, so the
    list cannot drift from the grammar's.
    """
    sources: dict[str, set[str]] = {}  # slip -> the forgiven words it is a slip of
    for lang, spec in FORGIVEN.items():
        for written in spec.split():
            word = fold(written)
            entry = keywords.get(word)
            if entry is None or entry.kind != "vote" or entry.weak or lang not in entry.langs:
                raise ValueError(f"{written!r} ({lang}) is not a strong vote word of the grammar")
            if _LATIN.fullmatch(word):
                short = len(word) < MIN_LATIN
            elif _ARABIC.fullmatch(word):
                short = len(word) < MIN_ARABIC
            else:
                raise ValueError(f"{written!r} ({lang}) is in a script typos are not forgiven in")
            if short:
                raise ValueError(f"{written!r} ({lang}) is too short for typos")
            for slip in slips(word):
                sources.setdefault(slip, set()).add(word)

    known = frozenset(ordinary) | {fold(w) for spec in COMMON.values() for w in spec.split()}
    near: dict[str, set[str]] = {}  # symmetric-delete index over every keyword
    for word in keywords:
        for variant in _deletes(word):
            near.setdefault(variant, set()).add(word)

    readings: dict[str, Reading] = {}
    refused: dict[str, str] = {}
    for slip, words in sorted(sources.items()):
        choices = {keywords[w].value for w in words}
        reason = None
        if len(slip) < MIN_LATIN or len(slip) > MAX_SLIP or any(c.isdigit() for c in slip):
            reason = "length"
        elif slip in keywords:
            reason = f"keyword {slip}"
        elif len(choices) > 1:
            reason = "slip of " + " and ".join(sorted(words))
        elif slip in known:
            reason = "common word"
        else:
            choice = next(iter(choices))
            for variant in _deletes(slip):
                for other in near.get(variant, ()):
                    meaning = _meaning(keywords[other])
                    if meaning != ("vote", choice) and within_one_edit(slip, other):
                        reason = f"near {other}"
                        break
                if reason:
                    break
        if reason:
            refused[slip] = reason
            continue
        langs = frozenset().union(*(keywords[w].langs for w in words))
        choice = next(iter(choices))
        assert choice in VOTES  # from a vote keyword
        readings[slip] = Reading(choice, min(words, key=len), langs)
    return Table(readings, refused)
