"""Every staff page, in English and Arabic, has no axe violations (WCAG 2.2 AA), and the
console can be used by keyboard alone.

The pages are found from the app's url_map (every GET route of the staff blueprint), so
a new screen is checked without anyone remembering to add it; its URL parameters come
from tests/console_world.py, which seeds one of everything.
"""

from __future__ import annotations

import pytest

from tests.browser.helpers import axe_violations, browser_sign_in
from tests.console_world import console_pages, seed_console
from tests.staff_helpers import make_account


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_staff_page_has_no_axe_violations(app, world, live, page, lang):
    values = seed_console(app, world)
    make_account(app, "admin")
    browser_sign_in(page, live.url, "admin@example.org")
    problems = {}
    pages = console_pages(app, values)
    assert len(pages) >= 3
    for path in pages:
        page.goto(f"{live.url}{path}{'&' if '?' in path else '?'}lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang, path
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
        found = axe_violations(page)
        if found:
            problems[path] = found
    # The sign-in page, signed out.
    page.context.clear_cookies()
    page.goto(f"{live.url}/staff/login?lang={lang}")
    if found := axe_violations(page):
        problems["/staff/login"] = found
    assert not problems, "\n".join(f"{path}: {lines}" for path, lines in problems.items())


def test_sign_in_and_move_around_by_keyboard_alone(app, live, page):
    make_account(app, "organiser")
    page.goto(f"{live.url}/staff/login")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    # Tab until the email field has the focus, as a keyboard user would.
    for _ in range(20):
        if page.evaluate("document.activeElement.name") == "email":
            break
        page.keyboard.press("Tab")
    page.keyboard.type("organiser@example.org")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "password"
    page.keyboard.type("correct horse battery staple")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/staff/")
    # Every link and button can be reached with Tab, and the focus is visible on each.
    seen = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement;"
            " const s = getComputedStyle(e);"
            " return [e.tagName, e.textContent.trim(), s.outlineStyle, s.outlineWidth]; })()"
        )
        tag, text, style, width = focused
        if tag == "BODY":
            break
        assert style != "none" and width != "0px", f"no visible focus on {tag} {text!r}"
        seen.add(text)
    assert "Sign out" in seen


def test_axe_does_find_violations(page):
    """The check above can fail: a page with an unlabelled field and an image without
    alt text shows both."""
    page.set_content('<html lang="en"><body><main><img src="x.png"><input></main></body></html>')
    found = " ".join(axe_violations(page))
    assert "image-alt" in found and "label" in found
