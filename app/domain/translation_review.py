"""Community review of translations: the review record, and a CSV round trip that is
checked in full before anything is written.

The review record is the "Review status" table of `translations/README.md` (between
the `review-status` markers): one row per language with its status (`source`,
`draft` or `reviewed`), reviewer, date and a note. `statuses()` reads it (the staff
page shows it), `record_review()` rewrites one row and nothing else of the file.

`export_rows()` gives every entry of a language's catalog as CSV rows (SMS texts
first): msgid, context, msgstr, kind, segments... A community member corrects the
msgstr column in a spreadsheet; `check_import()` reads it back and checks every row
against the catalog before anything is written:

* the row names an entry of the catalog (msgid, and the plural form where it has
  several), once, with a non-empty text without control characters;
* placeholders are those of the msgid (a plural form may leave the number out), and
  the text formats (a lone "%" does not);
* every keyword the msgid names (YES, STOP, HELP, LANG...) is still a word the texting
  grammar reads as that keyword, in any language; START stays START, in Latin letters
  (Twilio lifts its own block only on START, translations/README.md);
* with the new texts, every SMS kind in every worst case (app.domain.system_texts),
  after the shortening rule, is within the segment budget, and a right-to-left
  language's texts begin with a right-to-left letter.

Errors are reported with their row numbers (the header is row 1, as a spreadsheet
shows it); with any error nothing is written. `apply_import()` then writes the `.po`
file (Babel's own format, so untouched entries are byte for byte the same), compiles
it and records the review.
"""

from __future__ import annotations

import csv
import gettext as gettext_module
import io
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.catalog import Message as PoMessage
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from ..config import LANGUAGES, ROOT, RTL_LANGUAGES
from ..sms.render import budget, render_fitted
from . import grammar
from .consultations import NOT_IN_XML
from .system_texts import (
    PLACEHOLDERS,
    WHEN,
    Catalog,
    kinds_by_msgid,
    msgids_by_kind,
    value_sets,
    worst_cases,
)

#: The repository's catalogs (tests point it at a copy).
TRANSLATIONS = ROOT / "translations"
SOURCE_LANGUAGE = "en"

STATUSES = ("source", "draft", "reviewed")
NONE = "—"  # an empty cell of the review table
BEGIN = "<!-- review-status: begin"
END = "<!-- review-status: end -->"

#: The columns of an export, in order. An import needs msgid and msgstr (and form for
#: the forms of a plural entry); the other columns are there to help, and are ignored.
COLUMNS = (
    "msgid",
    "context",
    "msgstr",
    "kind",
    "segments",
    "budget",
    "encoding",
    "as_received",
    "form",
    "msgid_plural",
)

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
#: Keywords in an English text are written in capitals (YES, STOP, RESULTS...).
KEYWORD = re.compile(r"(?<![\w%(])[A-Z]{2,}(?![\w)])")
START_WORD = re.compile(r"(?<![A-Za-z])START(?![A-Za-z])")
#: Words of a plural entry's forms that may go unsaid ("one person" has no number).
NUMBER_PLACEHOLDERS = frozenset({"count", "num", "n"})
#: The vote words confirmations show (app.domain.replies): SMS text, though no template.
VOTE_WORDS = ("YES", "NO", "ABSTAIN")
VOTE_KINDS = ("vote_recorded", "vote_changed", "vote_comment")


class TranslationError(ValueError):
    """A language, file or table Chorus cannot work with (the message says why)."""


# ---------------------------------------------------------------------- the review table


@dataclass(frozen=True)
class Review:
    """One language's row of the review table."""

    language: str
    status: str
    reviewer: str | None
    date: str | None
    note: str

    def cells(self) -> list[str]:
        return [
            self.language,
            self.status,
            self.reviewer or NONE,
            self.date or NONE,
            self.note or NONE,
        ]


def readme(root: Path | None = None) -> Path:
    return (root or TRANSLATIONS) / "README.md"


def _table_lines(text: str) -> tuple[int, int]:
    """(first, last + 1) line indexes of the table rows between the markers."""
    lines = text.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.startswith(BEGIN))
        end = next(i for i, line in enumerate(lines) if line.startswith(END) and i > begin)
    except StopIteration:
        raise TranslationError(
            "translations/README.md has no review-status table between its markers"
        ) from None
    return begin + 1, end


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def statuses(root: Path | None = None) -> dict[str, Review]:
    """The review table of translations/README.md, by language."""
    text = readme(root).read_text(encoding="utf-8")
    first, last = _table_lines(text)
    rows = [line for line in text.splitlines()[first:last] if line.strip().startswith("|")]
    if len(rows) < 2 or _cells(rows[0])[:4] != ["language", "status", "reviewer", "date"]:
        raise TranslationError("the review-status table must start: | language | status | ...")
    found: dict[str, Review] = {}
    for line in rows[2:]:
        cells = _cells(line) + [""] * 5
        language, status, reviewer, day, note = cells[:5]
        if language not in LANGUAGES or status not in STATUSES:
            raise TranslationError(f"review-status row not understood: {line!r}")
        found[language] = Review(
            language,
            status,
            None if reviewer in ("", NONE) else reviewer,
            None if day in ("", NONE) else day,
            "" if note == NONE else note,
        )
    return found


def _check_cells(review: Review) -> None:
    for cell in review.cells():
        if "|" in cell or "\n" in cell or "\r" in cell:
            raise TranslationError(f"{cell!r}: a review cell cannot hold '|' or a line break")


def record_review(review: Review, root: Path | None = None) -> None:
    """Rewrite the row of `review.language` in the review table (nothing else)."""
    _check_cells(review)
    path = readme(root)
    text = path.read_text(encoding="utf-8")
    first, last = _table_lines(text)
    lines = text.splitlines(keepends=True)
    for index in range(first, last):
        if _cells(lines[index])[0] == review.language:
            lines[index] = "| " + " | ".join(review.cells()) + " |\n"
            break
    else:
        raise TranslationError(f"the review-status table has no row for {review.language}")
    _write_atomically(path, "".join(lines).encode("utf-8"))


# ---------------------------------------------------------------------- catalogs


def po_path(language: str, root: Path | None = None) -> Path:
    return (root or TRANSLATIONS) / language / "LC_MESSAGES" / "messages.po"


def read_catalog(language: str, root: Path | None = None) -> PoCatalog:
    """The .po catalog of a supported language."""
    if language not in LANGUAGES:
        raise TranslationError(f"{language!r} is not one of {', '.join(LANGUAGES)}")
    with po_path(language, root).open("rb") as fh:
        return read_po(fh, locale=language)


def translations_of(catalog: PoCatalog) -> Translations:
    """A gettext catalog to render with, compiled in memory from `catalog`."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=True)
    buffer.seek(0)
    return Translations(fp=buffer)


def _entries(catalog: PoCatalog) -> list[PoMessage]:
    return [m for m in catalog if m.id]


def _singular(message: PoMessage) -> str:
    return str(message.id[0] if isinstance(message.id, list | tuple) else message.id)


def _strings(message: PoMessage, forms: int) -> list[str]:
    if message.pluralizable:
        strings = list(message.string) if isinstance(message.string, list | tuple) else []
        return (strings + [""] * forms)[:forms]
    return [str(message.string or "")]


def _kind_of(msgid: str, by_msgid: dict[str, list[str]]) -> list[str]:
    if msgid in VOTE_WORDS:
        return list(VOTE_KINDS)
    return by_msgid.get(msgid, [])


def _plural_examples(catalog: PoCatalog) -> dict[int, list[int]]:
    """Form -> a few numbers that use it, for the reviewer."""
    rule = gettext_module.c2py(catalog.plural_expr)
    out: dict[int, list[int]] = {}
    for n in [*range(0, 120), 1000, 1001, 1_000_000]:
        examples = out.setdefault(int(rule(n)), [])
        if len(examples) < 6:
            examples.append(n)
    return out


def _context(msgid: str, kinds: list[str], form: int | None, examples: dict[int, list[int]]) -> str:
    parts: list[str] = []
    if msgid in VOTE_WORDS:
        parts.append("A vote word: confirmations show it, and members text it back to vote.")
    elif kinds:
        parts.append("SMS: " + "; ".join(f"{WHEN.get(k, 'a text')} ({k})" for k in kinds) + ".")
    else:
        parts.append("Web page text.")
    for name in dict.fromkeys(PLACEHOLDER.findall(msgid)):
        if name in PLACEHOLDERS:
            parts.append(f"%({name})s: {PLACEHOLDERS[name]}.")
    if form is not None:
        numbers = ", ".join(map(str, examples.get(form, [])))
        parts.append(f"Plural form {form}, used for n = {numbers}...")
    keywords = [k for k in dict.fromkeys(KEYWORD.findall(msgid)) if _meaning(k)]
    if keywords:
        parts.append("Keep a keyword members can text for each of: " + ", ".join(keywords) + ".")
    if START_WORD.search(msgid):
        parts.append("Keep START in Latin letters: it is the word that lifts the carrier's block.")
    return " ".join(parts)


@dataclass(frozen=True)
class Rendered:
    """The costliest worst case of a kind in the current catalog."""

    text: str
    segments: int
    encoding: str


def _worst_by_kind(language: str, catalog: PoCatalog) -> dict[str, Rendered]:
    texts = Catalog(language, translations_of(catalog))
    out: dict[str, Rendered] = {}
    for kind in msgids_by_kind():
        case = max(worst_cases(kind, texts), key=lambda c: c.severity())
        out[kind] = Rendered(case.text, case.fitted.info.segments, case.fitted.info.encoding)
    return out


def export_rows(language: str, root: Path | None = None) -> list[dict[str, str]]:
    """Every entry of the language's catalog as CSV rows: SMS texts, vote words, pages."""
    catalog = read_catalog(language, root)
    by_msgid = kinds_by_msgid()
    worst = _worst_by_kind(language, catalog)
    examples = _plural_examples(catalog)
    order = {msgid: i for i, msgid in enumerate(by_msgid)}
    order.update({w: len(order) + i for i, w in enumerate(VOTE_WORDS)})
    entries = sorted(_entries(catalog), key=lambda m: order.get(_singular(m), len(order) + 1))
    rows: list[dict[str, str]] = []
    for message in entries:
        msgid = _singular(message)
        kinds = _kind_of(msgid, by_msgid)
        costliest = max((worst[k] for k in kinds if k in worst), key=_cost, default=None)
        forms = catalog.num_plurals if message.pluralizable else 1
        for form, string in enumerate(_strings(message, forms)):
            plural_form = form if message.pluralizable else None
            rows.append(
                {
                    "msgid": msgid,
                    "context": _context(msgid, kinds, plural_form, examples),
                    "msgstr": string,
                    "kind": ", ".join(kinds),
                    "segments": str(costliest.segments) if costliest else "",
                    "budget": str(budget(language)) if costliest else "",
                    "encoding": costliest.encoding if costliest else "",
                    "as_received": costliest.text if costliest else "",
                    "form": "" if plural_form is None else str(plural_form),
                    "msgid_plural": str(message.id[1]) if message.pluralizable else "",
                }
            )
    return rows


def _cost(rendered: Rendered) -> tuple[int, int]:
    return rendered.segments, len(rendered.text)


def write_csv(rows: Iterable[dict[str, str]], path: Path) -> None:
    """The rows as CSV in UTF-8 with a byte-order mark (spreadsheets then read it right)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Problem:
    """One reason an import is refused: the row (None: no row of the file) and why."""

    row: int | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "not in the file"
        return f"{where}: {self.message}"


@dataclass
class Checked:
    """The outcome of checking an import: problems, or the catalog to write."""

    language: str
    catalog: PoCatalog
    problems: list[Problem] = field(default_factory=list)
    changed: int = 0  # texts that differ from the catalog's


def _meaning(word: str) -> tuple[str, str | None] | None:
    """What the texting grammar makes of `word` alone, when it is a keyword."""
    intent = grammar.parse(word)
    if intent.kind in ("stop", "start", "help", "language", "info", "results"):
        return intent.kind, None
    if intent.kind == "vote" and intent.choice in ("yes", "no", "abstain") and not intent.comment:
        return "vote", intent.choice
    return None


def _meanings(word: str) -> set[tuple[str, str | None]]:
    """What `word` means alone and before a code (INFO alone is HELP; INFO P12 is the
    full text, as MORE P12 is)."""
    alone = _meaning(word)
    if alone is None:
        return set()
    with_code = _meaning(f"{word} P1")
    return {alone} if with_code is None else {alone, with_code}


def _spans(text: str, longest: int = 3) -> Iterator[str]:
    """Each run of 1..`longest` consecutive words of `text` (keywords can be phrases)."""
    words = text.split()
    for start in range(len(words)):
        for size in range(1, longest + 1):
            if start + size <= len(words):
                yield " ".join(words[start : start + size])


def keyword_problems(msgid: str, text: str) -> list[str]:
    """Keywords `msgid` names that `text` no longer offers (empty: none lost)."""
    problems: list[str] = []
    wanted = {k: m for k in dict.fromkeys(KEYWORD.findall(msgid)) if (m := _meanings(k))}
    if not wanted:
        return problems
    offered = {m for span in _spans(text) for m in _meanings(span)}
    for keyword, meanings in wanted.items():
        if not meanings & offered:
            problems.append(
                f"the English names {keyword}; the text has no word Chorus reads as {keyword}"
            )
    if START_WORD.search(msgid) and not START_WORD.search(text):
        problems.append("START must stay START, in Latin letters (the carrier's opt-in word)")
    return problems


def placeholder_problems(msgid: str, text: str, *, plural: bool, sms: bool) -> list[str]:
    """Placeholders that differ from the msgid's, or a text that will not format."""
    wanted = set(PLACEHOLDER.findall(msgid))
    got = set(PLACEHOLDER.findall(text))
    missing = wanted - got - (NUMBER_PLACEHOLDERS if plural else set())
    problems = []
    if got - wanted:
        problems.append(f"placeholders not in the English: {', '.join(sorted(got - wanted))}")
    if missing:
        problems.append(f"placeholders missing: {', '.join(sorted(missing))}")
    if not problems and (wanted or sms):
        try:
            _ = text % dict.fromkeys(wanted | got, 1)  # formatting is the check
        except (ValueError, TypeError, KeyError):
            problems.append('the text will not format: write a percent sign as "%%"')
    return problems


def first_strong_direction(text: str) -> str | None:
    """'rtl' or 'ltr' for the first strongly directional character, as phones lay it out."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


class _Recording:
    """A gettext catalog that notes which entries (msgid, form) a rendering used."""

    def __init__(self, translations: Translations) -> None:
        self.translations = translations
        self.used: list[tuple[str, int | None]] = []

    def gettext(self, message: str) -> str:
        self.used.append((message, None))
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.used.append((singular, int(self.translations.plural(n))))
        return str(self.translations.ngettext(singular, plural, n))

    @property
    def plural(self) -> Any:
        return self.translations.plural


def _read_rows(data: str) -> tuple[list[dict[str, str]], list[Problem]]:
    reader = csv.DictReader(io.StringIO(data))
    headers = reader.fieldnames or []
    missing = [c for c in ("msgid", "msgstr") if c not in headers]
    if missing:
        return [], [Problem(1, f"the header row lacks the column(s) {', '.join(missing)}")]
    return [dict(row) for row in reader], []


def check_import(language: str, data: str, root: Path | None = None) -> Checked:
    """Check CSV text (`data`) for `language`; nothing is written here."""
    if language == SOURCE_LANGUAGE:
        raise TranslationError(
            "English is the source: change messages/*.txt or the code, then "
            "make translations-update"
        )
    catalog = read_catalog(language, root)
    checked = Checked(language, catalog)
    rows, problems = _read_rows(data)
    checked.problems.extend(problems)
    entries = {_singular(m): m for m in _entries(catalog)}
    by_msgid = kinds_by_msgid()
    new: dict[tuple[str, int | None], str] = {}
    row_of: dict[tuple[str, int | None], int] = {}
    for index, row in enumerate(rows, start=2):
        for problem in _check_row(row, entries, catalog.num_plurals, by_msgid):
            checked.problems.append(Problem(index, problem))
        key = _key(row, entries)
        if key is None:
            continue
        if key in row_of:
            checked.problems.append(Problem(index, f"the same text as row {row_of[key]}"))
            continue
        row_of[key] = index
        text = (row.get("msgstr") or "").strip()
        if text:
            new[key] = text
    if checked.problems:
        return checked
    # Every row reads well alone: put them in the catalog and render every SMS with it.
    for (msgid, form), text in new.items():
        message = entries[msgid]
        if form is None:
            if message.string != text:
                checked.changed += 1
                message.string = text
        else:
            strings = _strings(message, catalog.num_plurals)
            if strings[form] != text:
                checked.changed += 1
                strings[form] = text
                message.string = tuple(strings)
        message.flags.discard("fuzzy")
    checked.problems.extend(_sms_problems(language, catalog, row_of))
    return checked


def check_catalog(language: str, root: Path | None = None) -> list[Problem]:
    """The import's checks on the catalog as it is (rows: its export's rows)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(export_rows(language, root))
    return check_import(language, buffer.getvalue(), root).problems


def _key(row: dict[str, str], entries: dict[str, PoMessage]) -> tuple[str, int | None] | None:
    msgid = row.get("msgid") or ""
    message = entries.get(msgid)
    if message is None:
        return None
    if not message.pluralizable:
        return msgid, None
    form = (row.get("form") or "").strip()
    return (msgid, int(form)) if form.isdigit() else None


def _check_row(
    row: dict[str, str],
    entries: dict[str, PoMessage],
    forms: int,
    by_msgid: dict[str, list[str]],
) -> list[str]:
    msgid = row.get("msgid") or ""
    message = entries.get(msgid)
    if message is None:
        return ["no such text in the catalog (exported from another version?)"]
    text = (row.get("msgstr") or "").strip()
    form_cell = (row.get("form") or "").strip()
    problems: list[str] = []
    english = msgid
    if message.pluralizable:
        if not form_cell.isdigit() or int(form_cell) >= forms:
            return [f"form must be a plural form number, 0 to {forms - 1}"]
        english = str(message.id[1]) if int(form_cell) else msgid
    elif form_cell:
        return ["form must be empty: this text has no plural forms"]
    if not text:
        if not any(_strings(message, forms)):
            return []  # not translated yet, and still not: nothing to check or write
        return ["the text is empty (leave the row out to keep the current text)"]
    if NOT_IN_XML.search(text):
        problems.append("the text holds a control character")
    sms = bool(_kind_of(msgid, by_msgid))
    problems += placeholder_problems(english, text, plural=message.pluralizable, sms=sms)
    problems += keyword_problems(msgid, text)
    return problems


def _sms_problems(
    language: str, catalog: PoCatalog, row_of: dict[tuple[str, int | None], int]
) -> list[Problem]:
    """Every SMS kind, every worst case, rendered with the new catalog: budget and RTL.
    Each problem is reported on the rows of the entries that rendering used."""
    recording = _Recording(translations_of(catalog))
    texts = Catalog(language, recording)
    found: dict[tuple[int | None, str, str], Problem] = {}
    for kind in msgids_by_kind():
        for scenario, values in value_sets(kind, texts):
            recording.used.clear()
            fitted = render_fitted(kind, language, values, texts.env)
            used = list(recording.used)
            if scenario == "vote words":
                used += [(word, None) for word in VOTE_WORDS]
            problems: list[tuple[str, str]] = []
            if not fitted.within:
                info = fitted.info
                problems.append((
                    "budget",
                    f"{kind} would be {info.segments} segments ({info.encoding}, "
                    f"{info.units} units) with the longest values; the budget is "
                    f"{budget(language)}: {fitted.text!r}",
                ))  # fmt: skip
            if language in RTL_LANGUAGES and first_strong_direction(fitted.text) != "rtl":
                problems.append((
                    "rtl",
                    f"{kind} would begin with a left-to-right word, so phones show it "
                    f"left-to-right: {fitted.text!r}",
                ))  # fmt: skip
            rows = sorted({row_of.get(key) for key in used}, key=lambda r: (r is None, r or 0))
            for what, message in problems:
                for row in rows or [None]:
                    # One problem of each sort per kind and row: the first, worst case.
                    found.setdefault((row, kind, what), Problem(row, message))
    return sorted(found.values(), key=lambda p: (p.row is None, p.row or 0, p.message))


# ---------------------------------------------------------------------- writing


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply_import(
    checked: Checked, *, reviewer: str | None, root: Path | None = None, today: date | None = None
) -> Review | None:
    """Write a checked import: the .po file, its .mo, and the review table's row.
    Returns the new review row (None: nothing changed and nobody reviewed)."""
    if checked.problems:
        raise TranslationError("an import with problems is never written")
    language = checked.language
    reviewer = (reviewer or "").strip() or None
    if not checked.changed and reviewer is None:
        return None
    day = (today or date.today()).isoformat()
    before = statuses(root).get(language)
    if reviewer is not None:
        corrected = f"{checked.changed} text(s) corrected" if checked.changed else "no changes"
        review = Review(language, "reviewed", reviewer, day, f"reviewed by CSV import; {corrected}")
    else:
        note = f"{checked.changed} text(s) changed by CSV import, not reviewed"
        if before is not None and before.status == "reviewed":
            note += f" (reviewed before by {before.reviewer} on {before.date})"
        review = Review(language, "draft", None, day, note)
    _check_cells(review)  # refused before the catalog is touched
    if checked.changed:
        buffer = io.BytesIO()
        write_po(buffer, checked.catalog, width=76)
        path = po_path(language, root)
        _write_atomically(path, buffer.getvalue())
        mo = io.BytesIO()
        write_mo(mo, checked.catalog, use_fuzzy=True)
        _write_atomically(path.with_suffix(".mo"), mo.getvalue())
    record_review(review, root)
    return review
