"""The staff page /staff/translations: every SMS kind in every language as members
receive it, with segments, encoding and characters, and each language's review."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest

from app.config import LANGUAGES
from app.domain import translation_review
from app.domain.system_texts import Catalog, worst_case
from app.sms.render import kinds
from app.staff import translations as page
from tests.staff_helpers import staff_client
from tests.test_public import check_page

PAGE_BUDGET = 400_000  # every kind in ten languages: a staff page, not a member's


def get(client, query=""):
    return client.get("/staff/translations" + query)


def test_a_viewer_sees_every_kind_in_every_language(app):
    client = staff_client(app, "viewer")
    html = check_page(get(client), budget=PAGE_BUDGET)
    for language in LANGUAGES:
        assert f'id="lang-{language}"' in html
    cells = re.findall(r'<td class="sms" lang="([a-z]+)" dir="auto">', html)
    assert len(cells) == len(kinds()) * len(LANGUAGES)
    assert "Over budget</span>" not in html  # the budget test means none is over


def test_the_page_shows_each_text_as_the_worst_case_renders_it(app):
    client = staff_client(app, "viewer")
    html = unescape(check_page(get(client, "?language=fr"), budget=PAGE_BUDGET))
    with app.app_context():
        case = worst_case("vote_changed", Catalog("fr"))
    row = re.search(r"<code>vote_changed</code>.*?</tr>", html, re.S).group()
    assert case.text in row
    info = case.fitted.info
    assert f">{len(case.text)}<" in row
    assert f">{info.segments} / 2" in row and info.encoding in row
    assert 'id="lang-cy"' not in html  # only French asked for


def test_the_review_table_is_the_one_in_translations_readme(app):
    client = staff_client(app, "viewer")
    html = check_page(get(client), budget=PAGE_BUDGET)
    table = html.split('id="reviews"')[1].split("</table>")[0]
    for language, review in translation_review.statuses().items():
        row = re.search(rf"\({language}\)</a></th>(.*?)</tr>", table, re.S).group(1)
        assert f"<td>{review.status}</td>" in row, language
        assert (review.reviewer or "—") in row


def test_a_reviewed_language_shows_its_reviewer(app, monkeypatch, tmp_path):
    readme = (translation_review.TRANSLATIONS / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme)
    monkeypatch.setattr(translation_review, "TRANSLATIONS", tmp_path)
    translation_review.record_review(
        translation_review.Review("ur", "reviewed", "Farah A.", "2027-02-01", "all read")
    )
    html = get(staff_client(app, "viewer")).get_data(as_text=True)
    row = re.search(r"\(ur\)</a></th>(.*?)</tr>", html, re.S).group(1)
    assert "<td>reviewed</td>" in row and "<bdi>Farah A.</bdi>" in row and "2027-02-01" in row


def test_a_text_over_budget_is_flagged(app, monkeypatch):
    """Should a text ever be over (none is), its row and its language say so."""
    with app.app_context():
        rows = page.language_rows("cy")
    over = dataclasses.replace(rows[0], segments=3, within=False)
    real = page.language_rows
    monkeypatch.setattr(
        page, "language_rows", lambda lang: (over, *rows[1:]) if lang == "cy" else real(lang)
    )
    html = get(staff_client(app, "viewer"), "?language=cy").get_data(as_text=True)
    assert '<tr class="over">' in html
    assert '3 / 2 <span class="over-note">Over budget</span>' in html
    summary = re.search(r"\(cy\)</a></th>(.*?)</tr>", html, re.S).group(1)
    assert '<span class="over-note">1</span>' in summary


def test_right_to_left_texts_are_laid_out_by_their_first_letter(app):
    html = get(staff_client(app, "viewer"), "?language=ar").get_data(as_text=True)
    assert re.search(r'<td class="sms" lang="ar" dir="auto">', html)
    assert '<bdi lang="ar">العربية</bdi>' in html


def test_tables_have_captions_and_header_scopes(app):
    html = get(staff_client(app, "viewer"), "?language=pl").get_data(as_text=True)
    assert html.count("<table>") == html.count("<caption>") == 2
    assert "<th>" not in html  # every header cell says what it heads
    headings = re.findall(r"<h([1-6])", html)
    assert headings[0] == "1" and set(headings[1:]) == {"2"}


def test_rendering_is_kept_per_language(app, monkeypatch):
    client = staff_client(app, "viewer")
    get(client)  # fills the cache
    calls = []
    monkeypatch.setattr(page, "worst_case", lambda *a: calls.append(a))
    assert get(client).status_code == 200
    assert calls == []


def test_signed_out_visitors_are_sent_to_sign_in(app):
    response = app.test_client().get("/staff/translations")
    assert response.status_code == 303 and "/staff/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["organiser", "admin"])
def test_roles_above_viewer_see_it_too(app, role):
    assert get(staff_client(app, role)).status_code == 200


def test_the_navigation_links_to_it(app):
    html = get(staff_client(app, "viewer")).get_data(as_text=True)
    assert 'href="/staff/translations" aria-current="page"' in html
