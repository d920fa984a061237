"""The send rate per sender, counted in segments, shared by every worker on every machine.

The limiter is a GCRA ("next free slot") reservation: the sender's key holds the
theoretical arrival time (TAT), the moment the next segment may go. Reserving `cost`
segments moves the TAT on by `cost / rate` seconds and tells the caller how long to
wait for its slot. With Redis the arithmetic runs in one Lua script against Redis's
own clock, so every process on every machine shares one schedule and clock skew
between machines does not matter; without Redis an in-process lock does the same.

The clock and the sleep are parameters (the real ones by default) so that tests drive
the schedule with a fake clock instead of waiting for it.

Bulk sends may only reserve a slot that starts within `horizon` seconds; further
ahead they are refused (and told when to ask again). Replies reserve with no
horizon, so at most `horizon` seconds of bulk traffic can ever be ahead of a reply.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Seconds on a monotonic scale (`time.monotonic` unless a test gives another).
Clock = Callable[[], float]
#: Sleep `seconds`, or less when `stop` is set meanwhile; returns True if `stop` was set.
Sleep = Callable[[float, threading.Event | None], bool]

#: How far ahead bulk sends may book slots; replies are never further back than this.
BULK_HORIZON = 0.5

# KEYS[1]: the sender's key. ARGV: microseconds per segment, cost in segments,
# horizon in microseconds (-1: none), now in microseconds (-1: Redis's own clock).
# Returns {1, wait_us} when reserved, or {0, retry_after_us} when the slot would start
# beyond the horizon.
_GCRA = """
local now = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if horizon >= 0 and wait > horizon then
  return {0, wait - horizon}
end
local new_tat = tat + interval * cost
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.ceil((new_tat - now) / 1000) + 1000)
return {1, wait}
"""


def real_sleep(seconds: float, stop: threading.Event | None) -> bool:
    """Sleep for real: `stop.wait` when there is a stop event, else `time.sleep`."""
    if stop is not None:
        return stop.wait(seconds)
    time.sleep(seconds)
    return False


@dataclass(frozen=True)
class Reservation:
    """The answer to a reservation: `granted`, and seconds to wait (for the slot, or to retry)."""

    granted: bool
    wait: float


class RateLimiter:
    """Shared interface: `reserve` a slot, or `acquire` (reserve and sleep until it)."""

    def __init__(self, per_second: float, *, sleep: Sleep = real_sleep):
        if per_second <= 0:
            raise ValueError("the send rate must be above zero")
        self.per_second = per_second
        self.sleep = sleep

    def reserve(self, sender: str, cost: int, horizon: float | None) -> Reservation:
        """Book `cost` segments for `sender`; None horizon books however far ahead it must."""
        raise NotImplementedError

    def book(
        self,
        sender: str,
        cost: int,
        horizon: float | None = None,
        stop: threading.Event | None = None,
    ) -> float | None:
        """Reserve a slot (retrying while refused) and return seconds until it starts,
        without sleeping for it; None if `stop` was set meanwhile."""
        cost = max(1, int(cost))
        while True:
            answer = self.reserve(sender, cost, horizon)
            if answer.granted:
                return answer.wait
            if self.sleep(min(answer.wait, 0.25), stop):
                return None

    def acquire(
        self,
        sender: str,
        cost: int,
        horizon: float | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Wait for and take a slot of `cost` segments; False if `stop` was set meanwhile."""
        cost = max(1, int(cost))
        while True:
            answer = self.reserve(sender, cost, horizon)
            # Sleep in small steps so a stopping worker does not hang on a long wait.
            delay = answer.wait if answer.granted else min(answer.wait, 0.25)
            if delay > 0 and self.sleep(delay, stop) and not answer.granted:
                return False
            if answer.granted:
                return True
            if stop is not None and stop.is_set():
                return False


class RedisRateLimiter(RateLimiter):
    """GCRA in Redis: one schedule per sender for every process sharing the Redis.

    `clock` None (the default) means Redis's own clock, the one every machine shares;
    a test passes a fake one (seconds), sent with each reservation.
    """

    def __init__(
        self,
        redis: Any,
        per_second: float,
        prefix: str = "chorus:rate:",
        *,
        clock: Clock | None = None,
        sleep: Sleep = real_sleep,
    ):
        super().__init__(per_second, sleep=sleep)
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self._script = redis.register_script(_GCRA)

    def reserve(self, sender: str, cost: int, horizon: float | None) -> Reservation:
        """Book the slot in Redis (one round trip)."""
        interval_us = 1_000_000 / self.per_second
        horizon_us = -1 if horizon is None else int(horizon * 1_000_000)
        now_us = -1 if self.clock is None else int(self.clock() * 1_000_000)
        granted, wait_us = self._script(
            keys=[self.prefix + sender],
            args=[f"{interval_us:.3f}", int(cost), horizon_us, now_us],
        )
        return Reservation(bool(granted), int(wait_us) / 1_000_000)


class LocalRateLimiter(RateLimiter):
    """The same schedule in this process only (no Redis: one process sends)."""

    def __init__(
        self, per_second: float, *, clock: Clock = time.monotonic, sleep: Sleep = real_sleep
    ):
        super().__init__(per_second, sleep=sleep)
        self.clock = clock
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def reserve(self, sender: str, cost: int, horizon: float | None) -> Reservation:
        """Book the slot under a lock, on `clock` (the monotonic clock by default)."""
        with self._lock:
            now = self.clock()
            tat = max(self._tat.get(sender, now), now)
            wait = tat - now
            if horizon is not None and wait > horizon:
                return Reservation(False, wait - horizon)
            self._tat[sender] = tat + cost / self.per_second
            return Reservation(True, wait)
