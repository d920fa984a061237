"""axe-core (WCAG 2.2 AA and best practice) on the results, assisted-vote and outcome
pages, in English and Arabic, rendered by the app and loaded into Debian's chromium.

The browser is the suite's shared chromium (tests/browser/conftest.py).
"""

from __future__ import annotations

from tests.results_helpers import add_comment, text
from tests.staff_helpers import post, staff_client

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


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


def test_no_axe_violations(app, world, browser):
    """The pages as rendered, error states included, loaded into the shared chromium."""
    from axe_playwright_python.sync_playwright import Axe

    rendered = pages(app, world)
    axe = Axe()
    problems = {}
    page = browser.new_page()
    try:
        for name, html in rendered.items():
            page.set_content(html)
            result = axe.run(page, options={"runOnly": {"type": "tag", "values": TAGS}})
            violations = result.response["violations"]
            if violations:
                problems[name] = [
                    (v["id"], [node["html"][:120] for node in v["nodes"][:3]]) for v in violations
                ]
    finally:
        page.close()
    assert not problems
