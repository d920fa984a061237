"""What the browser tests share: signing in through the form, and axe."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

from tests.staff_helpers import PASSWORD

# WCAG 2.2 level AA and everything below it.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
_axe = Axe()


def browser_sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form, as a person would."""
    page.goto(f"{base_url}/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/staff/login" not in page.url, page.content()[:2000]


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.2 AA violations on the current page, one line each."""
    results = _axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    found = []
    for violation in results.response["violations"]:
        targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
        found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found
