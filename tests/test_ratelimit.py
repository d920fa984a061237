"""The per-sender rate limiter (segments per second), in process and shared through Redis.

Every test drives the limiter's clock by hand (FakeClock): the schedule is exact, so the
assertions are equalities, and nothing waits for real time to pass.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from redis import Redis

from app.sms.ratelimit import (
    BULK_HORIZON,
    LocalRateLimiter,
    RedisRateLimiter,
    Reservation,
    real_sleep,
)
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
RATE = 8  # segments per second: 0.125 s apart, exact in binary, so waits compare exactly
SLOT = 1 / RATE
START = 1000.0
needs_redis = pytest.mark.skipif(
    REDIS_URL is None, reason="needs a real Redis (fakeredis runs no Lua)"
)


class FakeClock:
    """A monotonic clock that moves only when a test (or a limiter's sleep) moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float, stop: threading.Event | None) -> bool:
        """As real_sleep: ends at once when `stop` is set, else lets `seconds` pass."""
        assert len(self.slept) < 1000, "the limiter never stops sleeping"
        if stop is not None and stop.is_set():
            self.slept.append(0.0)
            return True
        self.slept.append(seconds)
        self.now += seconds
        return False


def redis_limiter(rate: float, clock: FakeClock) -> RedisRateLimiter:
    """A Redis limiter on its own connection (as another process would have) on `clock`."""
    assert REDIS_URL is not None
    return RedisRateLimiter(
        Redis.from_url(REDIS_URL), rate, prefix="test:rate:", clock=clock, sleep=clock.sleep
    )


def limiters():
    """The in-process limiter, and the Redis one when a real Redis is there."""
    made = [
        pytest.param(
            lambda rate, clock: LocalRateLimiter(rate, clock=clock, sleep=clock.sleep), id="local"
        )
    ]
    if REDIS_URL:
        made.append(pytest.param(redis_limiter, id="redis"))
    return made


@pytest.fixture(autouse=True)
def _empty_redis():
    """Each test starts with no schedule in Redis."""
    if REDIS_URL:
        Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(params=limiters())
def make_limiter(request):
    """A factory for a limiter of either kind: make_limiter(rate, clock)."""
    return request.param


def test_slots_are_spaced_by_cost_in_segments(make_limiter):
    limiter = make_limiter(RATE, FakeClock())
    waits = [limiter.reserve("+447700100200", cost, None).wait for cost in (1, 1, 3, 1)]
    assert waits == [0, SLOT, 2 * SLOT, 5 * SLOT]  # the 3-segment text took three slots


def test_time_passing_frees_the_schedule(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(RATE, clock)
    for _ in range(4):
        limiter.reserve("S", 1, None)
    clock.now += SLOT
    assert limiter.reserve("S", 1, None).wait == 3 * SLOT
    clock.now += 10
    assert limiter.reserve("S", 1, None).wait == 0  # an idle sender saves up no burst
    assert limiter.reserve("S", 1, None).wait == SLOT


def test_senders_have_their_own_schedule(make_limiter):
    limiter = make_limiter(RATE, FakeClock())
    assert limiter.reserve("A", 1, None).wait == 0
    assert limiter.reserve("B", 1, None).wait == 0
    assert limiter.reserve("A", 1, None).wait == SLOT


def test_bulk_may_not_book_beyond_the_horizon_but_replies_may(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(RATE, clock)
    granted = []
    for _ in range(100):  # a limiter that never refuses fails, not hangs
        answer = limiter.reserve("S", 1, BULK_HORIZON)
        if not answer.granted:
            break
        granted.append(answer.wait)
    within = int(BULK_HORIZON * RATE) + 1  # slots starting 0 .. BULK_HORIZON from now
    assert granted == [n * SLOT for n in range(within)]
    assert answer.wait == within * SLOT - BULK_HORIZON  # told when to ask again
    reply = limiter.reserve("S", 1, None)
    assert (reply.granted, reply.wait) == (True, within * SLOT)
    # The reply pushed bulk one slot further back; once that time passes it books again.
    refused = limiter.reserve("S", 1, BULK_HORIZON)
    assert (refused.granted, refused.wait) == (False, (within + 1) * SLOT - BULK_HORIZON)
    clock.now += refused.wait
    assert limiter.reserve("S", 1, BULK_HORIZON) == Reservation(True, BULK_HORIZON)


def test_concurrent_reservations_each_get_a_slot_of_their_own(make_limiter):
    """Eight threads booking at the same instant share one schedule: every slot is
    taken once, none twice, none skipped."""
    limiter = make_limiter(RATE, FakeClock())
    threads, each = 8, 5
    start = threading.Barrier(threads)
    waits: list[float] = []
    lock = threading.Lock()

    def run():
        start.wait()
        for _ in range(each):
            wait = limiter.reserve("S", 1, None).wait
            with lock:
                waits.append(wait)

    running = [threading.Thread(target=run) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert sorted(waits) == [n * SLOT for n in range(threads * each)]


def test_acquire_sleeps_until_its_slot(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(RATE, clock)
    for _ in range(3):
        assert limiter.acquire("S", 1)
    assert clock.slept == [SLOT, SLOT]
    assert limiter.acquire("S", 2)
    assert limiter.acquire("S", 1)
    assert clock.slept == [SLOT, SLOT, SLOT, 2 * SLOT]  # the 2-segment text held two slots


def test_bulk_acquire_waits_in_short_steps_then_for_its_slot(make_limiter):
    """Refused bulk asks again every quarter second at most (so a stopping worker is not
    stuck in a long sleep), then sleeps to the slot it got."""
    clock = FakeClock()
    limiter = make_limiter(2, clock)  # 0.5 s a segment
    limiter.reserve("S", 3, None)  # replies hold the next 1.5 s
    assert limiter.acquire("S", 1, BULK_HORIZON)
    assert clock.slept == [0.25, 0.25, 0.25, 0.25, 0.5]
    assert clock.now == START + 1.5  # exactly when the replies' slots end


def test_book_returns_the_wait_without_sleeping(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(RATE, clock)
    assert [limiter.book("S", 1) for _ in range(3)] == [0, SLOT, 2 * SLOT]
    assert clock.slept == []
    assert limiter.book("S", 0) == 3 * SLOT  # a cost below one segment counts as one
    assert limiter.book("S", 1) == 4 * SLOT


def test_acquire_and_book_give_up_when_stopping(make_limiter):
    clock = FakeClock()
    limiter = make_limiter(0.5, clock)  # 2 s a segment: the second text is refused
    stop = threading.Event()
    assert limiter.acquire("S", 1, BULK_HORIZON, stop)
    stop.set()
    assert limiter.acquire("S", 1, BULK_HORIZON, stop) is False
    assert limiter.book("S", 1, BULK_HORIZON, stop) is None
    assert clock.now == START  # neither waited: the stop cut their sleep short


def test_the_real_sleep_is_cut_short_by_a_stop():
    stop = threading.Event()
    assert real_sleep(0, None) is False
    assert real_sleep(0, stop) is False
    stop.set()
    answers: list[bool] = []
    sleeper = threading.Thread(target=lambda: answers.append(real_sleep(3600, stop)), daemon=True)
    sleeper.start()
    sleeper.join(60)  # not a speed claim: an hour's sleep that was not cut short fails here
    assert answers == [True]


def real_clock_limiters():
    """The limiters as the app makes them, on their real clocks."""
    made = [pytest.param(lambda: LocalRateLimiter(RATE), id="local")]
    if REDIS_URL:
        made.append(
            pytest.param(
                lambda: RedisRateLimiter(Redis.from_url(REDIS_URL), RATE, prefix="test:rate:"),
                id="redis",
            )
        )
    return made


@pytest.mark.parametrize("make", real_clock_limiters())
def test_the_default_clock_is_the_real_one(make):
    """Without a clock, the local limiter uses the monotonic clock and the Redis one
    Redis's own: a fresh schedule starts now, and the next slot is at most one away."""
    limiter = make()
    assert limiter.reserve("S", 1, None) == Reservation(True, 0)
    second = limiter.reserve("S", 1, None)
    assert second.granted and 0 <= second.wait <= SLOT


@needs_redis
def test_two_limiters_on_one_redis_share_the_schedule():
    clock = FakeClock()
    first, second = redis_limiter(RATE, clock), redis_limiter(RATE, clock)
    assert first.reserve("S", 2, None).wait == 0
    assert second.reserve("S", 1, None).wait == 2 * SLOT
    assert first.reserve("S", 1, None).wait == 3 * SLOT


CHILD = """
import sys
from redis import Redis
from app.sms.ratelimit import RedisRateLimiter
limiter = RedisRateLimiter(Redis.from_url(sys.argv[1]), float(sys.argv[2]), prefix="test:rate:")
print("ready", flush=True)
now = float(sys.stdin.readline())  # the parent's go, with the moment to book at
limiter.clock = lambda: now
print(limiter.reserve("+447700100200", 1, None).wait, flush=True)
"""


@needs_redis
def test_another_process_books_after_this_ones_slots():
    """A worker process on the same Redis sees the slots this process booked."""
    clock = FakeClock()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, REDIS_URL, str(RATE)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    # Book only once the child is up: the schedule's key lives a second or so (real time).
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    here = redis_limiter(RATE, clock)
    assert here.reserve("+447700100200", 3, None).wait == 0
    assert here.reserve("+447700100200", 1, None).wait == 3 * SLOT
    out, _ = child.communicate(f"{clock.now!r}\n", timeout=60)
    assert float(out) == 4 * SLOT
    assert here.reserve("+447700100200", 1, None).wait == 5 * SLOT
