"""One consultation run from a browser, end to end, as staff would: sign in, import
members from CSV, write a consultation in two languages, broadcast it, text a vote from
the phone simulator, see the chart change, hide a comment, record an assisted vote,
publish and text the outcome, find it on /decisions.

Run twice: with JavaScript on, and off (the console must work on a locked-down PC).
The app sends through FakeTwilio, so the broadcast and the outcome really go out.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.helpers import browser_sign_in
from tests.staff_helpers import make_account

CSV = (
    "phone,name,language,groups\n"
    "07400 810001,Nia,cy,community\n"
    "+44 7400 810002,Jo,en,community\n"
    "07400 810003,Sam,en,community\n"
    "not a number,Bad,en,community\n"
)


@pytest.fixture
def app(sending_app):
    """The live server's app sends through FakeTwilio."""
    return sending_app


def _wait(check, timeout: float = 30.0) -> None:
    """Wait until `check()` is true (texts go out from the worker's threads)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the texts"
        time.sleep(0.1)


def _submit(page, name) -> None:
    """Press the button called `name` and wait for the page it loads."""
    with page.expect_navigation():
        page.get_by_role("button", name=name).first.click()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_consultation_from_import_to_decision(app, live, browser, fake, javascript):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    make_account(app, "organiser")
    base = live.url
    browser_sign_in(page, base, "organiser@example.org")

    # Import members from CSV: a preview with the bad row named, nothing written yet.
    page.goto(f"{base}/staff/members/import")
    page.set_input_files(
        "input[type=file]",
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    _submit(page, "Check the file")
    assert "not a number" in page.content()
    preview = page.url
    page.goto(f"{base}/staff/members?q=Nia")
    assert "Nia" not in page.locator("main").inner_text().split("Name or phone number")[-1]
    page.goto(preview)
    _submit(page, re.compile(r"Import 3 members"))
    page.goto(f"{base}/staff/members")
    listed = page.locator("main").inner_text()
    assert all(name in listed for name in ("Nia", "Jo", "Sam"))

    # Write the consultation in English and Welsh, then open it.
    page.goto(f"{base}/staff/consultations/new")
    page.fill("#code", "E1")
    page.check("input[name=kind][value=yes_no]")
    page.check("input[name=decision_by][value=community]")
    page.fill("#title_en", "Open the garden on Sundays")
    page.fill("#summary_en", "Should the garden open on Sundays?")
    page.fill("#title_cy", "Agor yr ardd ar ddydd Sul")
    page.fill("#summary_cy", "A ddylai'r ardd agor ar ddydd Sul?")
    page.check("input[name=audience][value=community]")
    _submit(page, "Save draft")
    assert "E1" in page.content()
    page.goto(f"{base}/staff/consultations/E1/open")
    with page.expect_navigation():
        page.locator("main button[type=submit]").first.click()

    # Broadcast it: preview, confirm, sent.
    page.goto(f"{base}/staff/consultations/E1/broadcast")
    assert "A ddylai'r ardd agor ar ddydd Sul?" in page.content()
    _submit(page, "Continue")
    _submit(page, re.compile(r"Send to 3 members"))
    _wait(lambda: any("A ddylai'r ardd" in b for b in fake.bodies_to("+447400810001")))
    for number in ("+447400810002", "+447400810003"):
        _wait(lambda n=number: any("garden open on Sundays" in b for b in fake.bodies_to(n)))

    page.goto(f"{base}/staff/consultations/E1/results")
    chart_before = page.locator("svg[role=img]").text_content() or ""

    # A member texts a vote with a comment, from the phone simulator.
    page.goto(f"{base}/staff/simulator")
    page.fill("#phone", "07400 810002")
    page.fill("#body", "yes but keep it quiet")
    _submit(page, "Send")
    assert "YES" in page.locator("ol.chat").inner_text()

    # The chart and its table show the vote.
    page.goto(f"{base}/staff/consultations/E1/results")
    assert page.locator("svg[role=img]").count() == 1
    chart_after = page.locator("svg[role=img]").text_content() or ""
    assert chart_after != chart_before and "1" in chart_after

    # Hide the comment, with a reason; it leaves the public page's count.
    page.locator("input[name=reason]").first.fill("Names a neighbour")
    _submit(page, "Hide")
    assert "Names a neighbour" in page.content()

    # An assisted vote, given by phone; the receipt is shown to read back to them.
    page.goto(f"{base}/staff/consultations/E1/assisted")
    page.fill("#phone", "07400 810003")
    page.check("input[name=choice][value=no]")
    page.check("input[name=method][value=phone]")
    _submit(page, "Record the vote")
    assert re.search(r"[A-Z0-9]{8,}", page.locator("main").inner_text())

    page.goto(f"{base}/staff/consultations/E1/results")
    table = page.locator("main table").first.inner_text()
    assert re.search(r"1", table)

    # Publish the outcome and text it to everyone who took part.
    page.goto(f"{base}/staff/consultations/E1/outcome")
    page.fill("textarea[name=en]", "The garden opens on Sundays from May.")
    page.fill("textarea[name=cy]", "Bydd yr ardd ar agor ar ddydd Sul o fis Mai.")
    _submit(page, "Continue")
    _submit(page, "Publish and text it")
    _wait(lambda: any("from May" in b for b in fake.bodies_to("+447400810002")))
    _wait(lambda: any("from May" in b for b in fake.bodies_to("+447400810003")))

    # The public register has it.
    page.goto(f"{base}/decisions")
    assert "Open the garden on Sundays" in page.content()
    page.goto(f"{base}/c/E1")
    assert "The garden opens on Sundays from May." in page.content()
    context.close()
