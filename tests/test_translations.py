"""Every string a person reads exists in all ten languages, with its placeholders intact."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.config import LANGUAGES, ROOT

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]  # English is the source


def catalog(language: str):
    """The .po catalog of `language`."""
    with (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Every msgid in the code, templates and SMS copy, extracted afresh."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as fh:
        return {m.id for m in read_po(fh) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_has_every_source_string(sources, language):
    """`make translations-update` has been run: no string is missing from a catalog."""
    have = {m.id for m in catalog(language) if m.id}
    missing = sources - have
    assert not missing, f"{language} lacks {len(missing)}: {sorted(map(str, missing))[:3]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated_and_keeps_placeholders(language):
    """No empty or fuzzy entry; each translation uses the placeholders of its source."""
    problems = []
    for message in catalog(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            got = set(PLACEHOLDER.findall(text))
            # A plural form may leave the number out ("one person"), nothing else.
            if got - wanted or wanted - got - {"count", "num", "n"}:
                problems.append(f"placeholders {sorted(got)} != {sorted(wanted)} in {text!r}")
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_is_laid_out_as_the_review_import_writes_it(language):
    """A catalog edited by hand keeps babel's layout (lines wrapped at 76), the one
    `translations import` writes: otherwise a reviewer's import of two corrections
    would rewrite unrelated entries and the diff to review would hide them."""
    import io

    from babel.messages.pofile import write_po

    path = ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"
    raw = path.read_bytes()
    buffer = io.BytesIO()
    write_po(buffer, read_po(io.BytesIO(raw)), width=76)
    assert buffer.getvalue() == raw, (
        f"rewrap {path} with babel's write_po(width=76), as translations import does"
    )
