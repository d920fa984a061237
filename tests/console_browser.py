"""Driving the console in Debian's chromium with Playwright, without a server: the
browser's requests to http://chorus.test/ are answered by a signed-in Flask test
client. No browser can be downloaded here, so the tests use /usr/bin/chromium; they are
skipped when it is missing, unless CI is set, where that is a failure."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
BASE = "http://chorus.test"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def in_ci() -> bool:
    """True when the CI variable says so (CI=true on every CI service)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def chromium():
    """Debian's chromium, for a fixture to `yield from` (once per test module)."""
    try:
        from playwright.sync_api import sync_playwright  # only the browser tests need it
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        why = f"Playwright and Debian's chromium ({CHROMIUM}) are needed: apt-get install chromium"
        if in_ci():
            pytest.fail(why + "; CI is set, so this may not be skipped")
        pytest.skip(why + "; set CI=true to make their absence a failure")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def proxy(client):
    """A Playwright route handler answering http://chorus.test/ from `client` (signed
    in, with its own cookies). Playwright routes only the first request of a redirect,
    so a redirect is answered with a page that goes there itself."""

    def handle(route):
        request = route.request
        url = urlsplit(request.url)
        if url.netloc != "chorus.test":
            route.abort()
            return
        body = request.post_data_buffer
        answer = client.open(
            url.path + (f"?{url.query}" if url.query else ""),
            method=request.method,
            data=body or None,
            headers={"Content-Type": request.headers.get("content-type", "")} if body else {},
        )
        content = answer.get_data()
        answer.close()
        location = answer.headers.get("Location")
        if 300 <= answer.status_code < 400 and location:
            page = f'<!doctype html><meta http-equiv="refresh" content="0;url={location}">'
            route.fulfill(status=200, content_type="text/html", body=page)
            return
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "set-cookie"}
        route.fulfill(status=answer.status_code, headers=headers, body=content)

    return handle


def axe_violations(page) -> list[str]:
    """WCAG 2.2 AA violations axe-core finds on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe  # only the browser tests need it

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x: {v['nodes'][0]['target']})"
        for v in results.response["violations"]
    ]
