"""axe-core (WCAG 2.2 AA and best practice) on the results, assisted-vote and outcome
pages, in English and Arabic, rendered by the app and loaded into Debian's chromium.

Skipped where there is no chromium at CHROMIUM (default /usr/bin/chromium).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.results_helpers import add_comment, text
from tests.staff_helpers import post, staff_client

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")


def pages(app, world) -> dict[str, str]:
    """Every page of the three screens, in English and Arabic, with errors showing."""
    english, arabic = world.member(), world.member("ar")
    world.consultation("P12", title={"en": "Garden", "ar": "الحديقة"})
    world.text(english, "P12 YES lovely")
    comment = add_comment(app, "P12", arabic, "تعليق", language="ar")
    client = staff_client(app, "organiser")
    base = "/staff/consultations/P12"
    done = post(client, f"{base}/assisted", {"phone": arabic, "choice": "no", "method": "phone"})
    texts = {"en": "Done", "ar": "تم", "notify": "y"}
    found = {}
    for lang in ("en", "ar"):
        q = f"?lang={lang}"
        found[f"results {lang}"] = text(client.get(f"{base}/results{q}"))
        found[f"hide error {lang}"] = text(
            post(client, f"{base}/comments/{comment}/hide{q}", {"reason": ""})
        )
        found[f"assisted {lang}"] = text(client.get(f"{base}/assisted{q}"))
        found[f"assisted error {lang}"] = text(post(client, f"{base}/assisted{q}", {"phone": "x"}))
        found[f"receipt {lang}"] = text(client.get(done.headers["Location"] + q))
        found[f"outcome {lang}"] = text(client.get(f"{base}/outcome{q}"))
        found[f"check {lang}"] = text(
            post(client, f"{base}/outcome{q}", {**texts, "action": "check"})
        )
        found[f"confirm {lang}"] = text(
            post(client, f"{base}/outcome{q}", {**texts, "action": "continue"})
        )
    post(client, f"{base}/outcome/publish", {"en": "Done"})
    found["published"] = text(client.get(f"{base}/outcome"))
    found["notify confirm"] = text(client.get(f"{base}/outcome/notify"))
    return found


def test_no_axe_violations(app, world):
    # Only this test needs a browser; the rest of the suite never imports playwright.
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    rendered = pages(app, world)
    axe = Axe()
    problems = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            for name, html in rendered.items():
                page.set_content(html)
                result = axe.run(page, options={"runOnly": {"type": "tag", "values": TAGS}})
                violations = result.response["violations"]
                if violations:
                    problems[name] = [
                        (v["id"], [node["html"][:120] for node in v["nodes"][:3]])
                        for v in violations
                    ]
        finally:
            browser.close()
    assert not problems
