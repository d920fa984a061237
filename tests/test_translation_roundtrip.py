"""A community member reviews a language: CSV export, corrections, checked import.

`flask translations export LANG FILE` writes every text; `flask translations import LANG
FILE [--reviewer NAME]` checks every row first (placeholders, keywords, the segment
budget with worst-case values, right-to-left first letters) and writes nothing on any
problem; on success it updates the .po (and .mo) and the review table of
translations/README.md. Each test works on a copy of translations/.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date

import pytest
from babel.messages.pofile import write_po
from babel.support import Translations

from app import create_app
from app.config import LANGUAGES, ROOT
from app.domain import translation_review as review
from app.domain.system_texts import msgids_by_kind
from tests.conftest import make_settings

TODAY = date.today().isoformat()


@pytest.fixture(scope="module")
def cli_app():
    """One app for the commands (they touch no database)."""
    return create_app(make_settings())


@pytest.fixture
def copy(tmp_path, monkeypatch):
    """A copy of translations/ that the commands read and write instead."""
    target = tmp_path / "translations"
    shutil.copytree(ROOT / "translations", target, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(review, "TRANSLATIONS", target)
    return target


def run(cli_app, *args):
    return cli_app.test_cli_runner().invoke(args=["translations", *args])


def export(cli_app, copy, language, tmp_path):
    path = tmp_path / f"{language}.csv"
    result = run(cli_app, "export", language, str(path))
    assert result.exit_code == 0, result.output
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write(rows, path):
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def row_of(rows, kind=None, msgid=None, form=""):
    """The index of the row of `kind` (its first msgid) or `msgid`, and plural `form`."""
    wanted = msgid or msgids_by_kind()[kind][0]
    return next(i for i, r in enumerate(rows) if r["msgid"] == wanted and r["form"] == form)


def snapshot(copy, language):
    return (
        (copy / language / "LC_MESSAGES" / "messages.po").read_bytes(),
        (copy / "README.md").read_bytes(),
    )


# ---------------------------------------------------------------------- the review table


def test_the_review_table_names_every_language():
    """translations/README.md's table is the record the page and the import use."""
    table = review.statuses()
    assert list(table) == list(LANGUAGES)
    assert table["en"].status == "source"
    for language, row in table.items():
        assert row.status in review.STATUSES, language
        if row.status == "reviewed":
            assert row.reviewer and row.date, f"{language}: reviewed by whom, when?"


def test_recording_a_review_changes_that_row_only(copy):
    before = (copy / "README.md").read_text().splitlines()
    row = review.Review("pl", "reviewed", "Ola K.", "2027-01-05", "all texts read")
    review.record_review(row, copy)
    after = (copy / "README.md").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [(changed[0][0], "| pl | reviewed | Ola K. | 2027-01-05 | all texts read |")]
    assert review.statuses(copy)["pl"] == row


# ---------------------------------------------------------------------- export


def test_export_lists_every_text_sms_first(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "cy", tmp_path)
    assert list(rows[0]) == list(review.COLUMNS)
    catalog = review.read_catalog("cy", copy)
    entries = [m for m in catalog if m.id]
    forms = sum(6 if m.pluralizable else 1 for m in entries)  # Welsh has six plural forms
    assert len(rows) == forms
    sms = [r for r in rows if r["kind"]]
    assert rows[: len(sms)] == sms, "SMS texts come first"
    assert {r["msgid"] for r in sms} >= {i for ids in msgids_by_kind().values() for i in ids}
    opted_out = rows[row_of(rows, "opted_out")]
    assert opted_out["segments"] == "1" and opted_out["budget"] == "2"
    assert "START" in opted_out["context"] and "START" in opted_out["as_received"]
    plural = [r for r in rows if r["msgid"] == msgids_by_kind()["results_yes_no"][0]]
    assert [r["form"] for r in plural] == ["0", "1", "2", "3", "4", "5"]
    assert "n = 2" in plural[2]["context"]


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_catalog_passes_the_import_checks_as_it_is(language):
    """An unchanged export imports cleanly: the catalogs meet every rule they enforce."""
    assert review.check_catalog(language) == []


# ---------------------------------------------------------------------- a good import


def test_a_good_import_updates_the_catalog_and_records_the_reviewer(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "cy", tmp_path)
    i = row_of(rows, "comment_to_staff")
    rows[i]["msgstr"] = "Diolch, mae'ch neges wedi mynd at ein staff."
    j = row_of(rows, "results_yes_no", form="2")
    rows[j]["msgstr"] = rows[j]["msgstr"].replace("berson ran", "berson yn rhan")
    po_before = (copy / "cy" / "LC_MESSAGES" / "messages.po").read_text()

    result = run(cli_app, "import", "cy", str(write(rows, tmp_path / "in.csv")),
                 "--reviewer", "Nia Jones")  # fmt: skip

    assert result.exit_code == 0, result.output + result.stderr
    assert "2 text(s) changed" in result.output
    po_after = (copy / "cy" / "LC_MESSAGES" / "messages.po").read_text()
    assert "Diolch, mae'ch neges wedi mynd at ein staff." in po_after
    # Only the two entries changed: the rest of the file is byte for byte the same.
    changed = [line for line in po_after.splitlines() if line not in po_before.splitlines()]
    assert len(changed) <= 4, changed
    row = review.statuses(copy)["cy"]
    assert (row.status, row.reviewer, row.date) == ("reviewed", "Nia Jones", TODAY)
    assert "2 text(s) corrected" in row.note
    # The compiled catalog is fresh: a restart sends the new text.
    with (copy / "cy" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = Translations(fp=fh)
    assert compiled.gettext(rows[i]["msgid"]) == rows[i]["msgstr"]


def test_an_import_without_a_reviewer_is_a_draft(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "fr", tmp_path)
    i = row_of(rows, "comment_to_staff")
    rows[i]["msgstr"] = "Merci, votre message a été transmis à notre équipe."
    result = run(cli_app, "import", "fr", str(write(rows, tmp_path / "in.csv")))
    assert result.exit_code == 0, result.output + result.stderr
    row = review.statuses(copy)["fr"]
    assert (row.status, row.reviewer, row.date) == ("draft", None, TODAY)
    assert "not reviewed" in row.note


def test_a_review_with_no_change_is_recorded_and_the_catalog_untouched(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "bn", tmp_path)
    po = (copy / "bn" / "LC_MESSAGES" / "messages.po").read_bytes()
    result = run(cli_app, "import", "bn", str(write(rows, tmp_path / "in.csv")),
                 "--reviewer", "Rahim U.")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert (copy / "bn" / "LC_MESSAGES" / "messages.po").read_bytes() == po
    assert review.statuses(copy)["bn"].reviewer == "Rahim U."


def test_a_partial_file_keeps_the_texts_it_leaves_out(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "es", tmp_path)
    i = row_of(rows, "comment_to_staff")
    rows[i]["msgstr"] = "Gracias, hemos enviado tu mensaje a nuestro equipo."
    result = run(cli_app, "import", "es", str(write([rows[i]], tmp_path / "in.csv")))
    assert result.exit_code == 0, result.output + result.stderr
    catalog = review.read_catalog("es", copy)
    assert catalog.get(rows[i]["msgid"]).string == rows[i]["msgstr"]
    assert all(m.string for m in catalog if m.id)


# ---------------------------------------------------------------------- bad rows

LONG = " Dyma frawddeg hir iawn sy'n gwneud y neges yn llawer rhy hir i'r gyllideb." * 4

BAD_ROWS = [
    # (language, kind, form, new msgstr (None: keep), what the error says)
    ("cy", "vote_recorded", "", "%(code)s: cyfrifwyd %(choice)s.", "placeholders missing: receipt"),
    ("cy", "comment_to_staff", "", "Diolch %(name)s.", "placeholders not in the English: name"),
    ("cy", "comment_to_staff", "", "Diolch, 100% wedi'i anfon.", "will not format"),
    ("cy", "opted_out", "", "Dim mwy o negeseuon. Anfonwch YMUNO i ailymuno.", "START must stay"),
    ("cy", "empty", "", "Roedd eich neges yn wag. Anfonwch IE neu NA. Cefnogaeth: ffoniwch ni.",
     "no word Chorus reads as HELP"),
    ("cy", "empty", "", "Roedd eich neges yn wag. Anfonwch CYMORTH.",
     "no word Chorus reads as YES"),
    ("cy", "vote_recorded", "",
     "%(code)s: mae'ch pleidlais %(choice)s wedi'i chyfrif. Derbynneb %(receipt)s." + LONG,
     "vote_recorded would be 3 segments"),
    ("cy", "results_yes_no", "2",
     "Pleidleisiau %(code)s: IE %(yes)s, NA %(no)s, YMATAL %(abstain)s." + LONG,
     "results_yes_no would be"),
    ("ar", "opted_out", "", "START: أرسلها لتصلك رسائلنا من جديد.", "left-to-right"),
    ("cy", "comment_to_staff", "", "   ", "the text is empty"),
    ("cy", "comment_to_staff", "", "Diolch\x0b.", "control character"),
    ("cy", "results_yes_no", "9", "Pleidleisiau", "form must be a plural form number"),
    ("cy", "comment_to_staff", "1", "Diolch.", "form must be empty"),
]  # fmt: skip


@pytest.mark.parametrize(("language", "kind", "form", "text", "error"), BAD_ROWS)
def test_a_bad_row_is_reported_with_its_row_and_nothing_is_written(
    cli_app, copy, tmp_path, language, kind, form, text, error
):
    rows = export(cli_app, copy, language, tmp_path)
    i = row_of(rows, kind, form="2" if kind == "results_yes_no" else "")
    rows[i]["msgstr"] = text
    rows[i]["form"] = form
    before = snapshot(copy, language)

    result = run(cli_app, "import", language, str(write(rows, tmp_path / "in.csv")),
                 "--reviewer", "Someone")  # fmt: skip

    assert result.exit_code == 1, result.output
    assert f"row {i + 2}: " in result.stderr and error in result.stderr, result.stderr
    assert "Nothing was written" in result.stderr
    assert snapshot(copy, language) == before


def test_every_problem_is_reported_at_once(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "pl", tmp_path)
    i, j = row_of(rows, "opted_out"), row_of(rows, "vote_recorded")
    rows[i]["msgstr"] = "Nie wyślemy więcej SMS-ów."
    rows[j]["msgstr"] = rows[j]["msgstr"].replace("%(receipt)s", "")
    rows.append(dict(rows[i]))  # the same text twice
    rows.append({**rows[0], "msgid": "A text that is not in the catalog"})
    before = snapshot(copy, "pl")
    result = run(cli_app, "import", "pl", str(write(rows, tmp_path / "in.csv")))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"row {i + 2}: START") for line in lines), lines
    assert any(line.startswith(f"row {j + 2}: placeholders missing") for line in lines), lines
    assert any(f"the same text as row {i + 2}" in line for line in lines), lines
    assert any(f"row {len(rows) + 1}: no such text" in line for line in lines), lines
    assert snapshot(copy, "pl") == before


def test_a_file_without_the_columns_is_refused(cli_app, copy, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,translation\nHello,Helo\n", encoding="utf-8")
    before = snapshot(copy, "cy")
    result = run(cli_app, "import", "cy", str(path))
    assert result.exit_code == 1
    assert "row 1: the header row lacks the column(s) msgid, msgstr" in result.stderr
    assert snapshot(copy, "cy") == before


def test_a_file_that_is_not_utf8_is_refused(cli_app, copy, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("msgid,msgstr\nYES,Ö\n".encode("utf-16"))
    result = run(cli_app, "import", "cy", str(path))
    assert result.exit_code == 1 and "not UTF-8" in result.output + result.stderr


def test_english_is_the_source_and_is_not_imported(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "en", tmp_path)
    result = run(cli_app, "import", "en", str(write(rows, tmp_path / "in.csv")))
    assert result.exit_code == 1 and "English is the source" in result.output + result.stderr


def test_a_reviewer_name_that_would_break_the_table_writes_nothing(cli_app, copy, tmp_path):
    rows = export(cli_app, copy, "ro", tmp_path)
    i = row_of(rows, "comment_to_staff")
    rows[i]["msgstr"] = "Mulțumim, am trimis mesajul dvs. echipei noastre."
    before = snapshot(copy, "ro")
    result = run(cli_app, "import", "ro", str(write(rows, tmp_path / "in.csv")),
                 "--reviewer", "A | B")  # fmt: skip
    assert result.exit_code == 1 and "cannot hold" in result.output + result.stderr
    assert snapshot(copy, "ro") == before


def test_a_vote_word_that_is_not_a_vote_is_refused(cli_app, copy, tmp_path):
    """YES/NO/ABSTAIN rows are SMS words: members text them back, so they must parse."""
    rows = export(cli_app, copy, "pt", tmp_path)
    i = row_of(rows, msgid="ABSTAIN")
    rows[i]["msgstr"] = "NEUTRALIDADE"
    result = run(cli_app, "import", "pt", str(write(rows, tmp_path / "in.csv")))
    assert result.exit_code == 1
    assert f"row {i + 2}: the English names ABSTAIN" in result.stderr


def test_check_command_passes_on_the_catalogs(cli_app, copy):
    result = run(cli_app, "check", "cy", "ar")
    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.splitlines() == ["cy: OK", "ar: OK"]


def test_check_command_fails_on_a_broken_catalog(cli_app, copy):
    path = copy / "ur" / "LC_MESSAGES" / "messages.po"
    catalog = review.read_catalog("ur", copy)
    catalog.get(msgids_by_kind()["opted_out"][0]).string = "START بھیجیں"
    out = io.BytesIO()
    write_po(out, catalog, width=76)
    path.write_bytes(out.getvalue())
    result = run(cli_app, "check", "ur")
    assert result.exit_code == 1
    assert "left-to-right" in result.stderr


def test_texts_not_translated_yet_do_not_stop_an_import(cli_app, copy, tmp_path):
    """After `make translations-update` new page texts are empty until translated: an
    export still imports, and leaves them empty."""
    path = copy / "es" / "LC_MESSAGES" / "messages.po"
    catalog = review.read_catalog("es", copy)
    page_text = next(m for m in catalog if m.id and m.id == "on the web page")
    page_text.string = ""
    out = io.BytesIO()
    write_po(out, catalog, width=76)
    path.write_bytes(out.getvalue())
    rows = export(cli_app, copy, "es", tmp_path)
    assert rows[row_of(rows, msgid="on the web page")]["msgstr"] == ""
    result = run(cli_app, "import", "es", str(write(rows, tmp_path / "in.csv")),
                 "--reviewer", "Lucía")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert review.read_catalog("es", copy).get("on the web page").string == ""
