"""The per-sender rate limiter (segments per second), in process and shared through Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.sms.ratelimit import BULK_HORIZON, LocalRateLimiter, RedisRateLimiter
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent


def limiters():
    """The in-process limiter, and the Redis one when a real Redis is there."""
    made = [("local", lambda rate: LocalRateLimiter(rate))]
    if REDIS_URL:
        from redis import Redis

        def redis_limiter(rate):
            connection = Redis.from_url(REDIS_URL)
            connection.flushdb()
            return RedisRateLimiter(connection, rate, prefix="test:rate:")

        made.append(("redis", redis_limiter))
    return made


@pytest.fixture(params=limiters(), ids=lambda p: p[0])
def make_limiter(request):
    """A factory for a limiter of either kind."""
    return request.param[1]


def test_slots_are_spaced_by_cost(make_limiter):
    limiter = make_limiter(10)  # 0.1 s per segment
    waits = [limiter.reserve("+447700100200", cost, None).wait for cost in (1, 1, 3, 1)]
    assert waits[0] == pytest.approx(0, abs=0.01)
    assert waits[1] == pytest.approx(0.1, abs=0.02)
    assert waits[2] == pytest.approx(0.2, abs=0.02)
    assert waits[3] == pytest.approx(0.5, abs=0.02)  # the 3-segment text took 0.3 s


def test_senders_have_their_own_schedule(make_limiter):
    limiter = make_limiter(1)
    assert limiter.reserve("A", 1, None).wait == pytest.approx(0, abs=0.01)
    assert limiter.reserve("B", 1, None).wait == pytest.approx(0, abs=0.01)
    assert limiter.reserve("A", 1, None).wait == pytest.approx(1, abs=0.02)


def test_bulk_may_not_book_beyond_the_horizon_but_replies_may(make_limiter):
    limiter = make_limiter(10)
    granted = 0
    while limiter.reserve("S", 1, BULK_HORIZON).granted:
        granted += 1
    assert granted == pytest.approx(BULK_HORIZON * 10 + 1, abs=1)
    refused = limiter.reserve("S", 1, BULK_HORIZON)
    assert not refused.granted and refused.wait > 0
    reply = limiter.reserve("S", 1, None)
    assert reply.granted and reply.wait <= BULK_HORIZON + 0.15


def test_acquire_keeps_to_the_rate_across_threads(make_limiter):
    limiter = make_limiter(40)
    stamps: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + 1.0

    def run():
        while time.monotonic() < stop:
            limiter.acquire("S", 1, BULK_HORIZON)
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 30 <= rate <= 44


def test_acquire_gives_up_when_stopping():
    limiter = LocalRateLimiter(0.5)
    stop = threading.Event()
    assert limiter.acquire("S", 1, BULK_HORIZON, stop)
    stop.set()
    began = time.monotonic()
    assert limiter.acquire("S", 1, BULK_HORIZON, stop) is False
    assert time.monotonic() - began < 0.5


CHILD = """
import json, sys, time
from redis import Redis
from app.sms.ratelimit import RedisRateLimiter, BULK_HORIZON
limiter = RedisRateLimiter(Redis.from_url(sys.argv[1]), float(sys.argv[2]), prefix="test:rate:")
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
stamps = []
while time.time() < start + 2.0:
    limiter.acquire("+447700100200", 1, BULK_HORIZON)
    stamps.append(time.time())
print(json.dumps(stamps))
"""


@pytest.mark.skipif(REDIS_URL is None, reason="needs a real Redis (fakeredis runs no Lua)")
def test_two_processes_share_the_cap():
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    rate = 50
    start = time.time() + 3.0  # room for both children to import, even on a busy machine
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, REDIS_URL, str(rate), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [json.loads(child.communicate(timeout=30)[0]) for child in children]
    assert all(results), "each process got slots"
    stamps = sorted(t for result in results for t in result if t <= start + 2.0)
    # 2 s at 50/s is 100 slots; allow a generous margin (the real numbers are in bench/).
    assert 80 <= len(stamps) <= 105
    rate_seen = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate_seen <= rate * 1.05
