"""Browser tests: the app served on a real port, Debian's chromium driven by Playwright.

No browser can be downloaded here, so Playwright launches the system chromium through
`executable_path` (CHROMIUM, default /usr/bin/chromium; `.ci/run` installs Debian's
package when it is missing). Without it the tests skip, except under CI, where they
fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"no chromium at {CHROMIUM}: .ci/run installs Debian's package")
    pytest.skip("no chromium here (apt-get install chromium); CI runs these tests")


class LiveServer:
    """`app` served by werkzeug in a thread on a free port."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    """The test app on a real port."""
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the session."""
    path = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page (JavaScript on)."""
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def page_without_js(browser):
    """A fresh context with JavaScript off, as on a feature phone or a locked-down PC."""
    context = browser.new_context(java_script_enabled=False)
    opened = context.new_page()
    yield opened
    context.close()
