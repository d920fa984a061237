"""Child processes in tests: wait until one answers over HTTP."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
import requests


def wait_until_up(
    url: str, proc: subprocess.Popen, describe: Callable[[], str], timeout: float = 60
) -> None:
    """Return once `url` answers below 500; fail with `describe()` (its log) if `proc`
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"{url} did not come up:\n{describe()}")
