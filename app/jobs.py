"""Background jobs: RQ when REDIS_URL is set, otherwise a thread in this process.

Jobs take ids, never objects, and are safe to run twice. Two queues: `high` for
replies and one-to-one texts, `bulk` for broadcast batches; workers drain `high` first.

Besides queues, `Jobs` offers the small coordination the outbox needs, in Redis when
there is one and in this process otherwise: leases (a key held for a while by one
owner, e.g. "this batch is being sent"), "is this job still waiting?", and ticks
(at most one caller per interval, e.g. the sweeper).

With JOBS_EAGER (tests) a job runs inline; a job enqueued from inside a running job
waits until that one returns, so chains of jobs run one after another, not nested.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue

log = logging.getLogger(__name__)
#: Redis could not be reached (down, restarting, a network cut).
RedisUnavailable = (RedisConnectionError, RedisTimeoutError)

QUEUE_NAMES = {"high": "chorus-high", "bulk": "chorus-bulk"}
KEY_PREFIX = "chorus:"
JOB_TIMEOUT = 600
# A named job's "queued" marker outlives any normal wait in the queue; if it lapses
# first, the same job may be queued twice, which jobs are written to bear.
MARKER_TTL = 600

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Jobs:
    """Where `enqueue` sends work for one app, and the leases jobs coordinate with."""

    def __init__(self, app: Flask):
        self.app = app
        self.redis = app.config.get("REDIS_CONNECTION")
        url = app.config["CHORUS"].redis_url
        if self.redis is None and url:
            self.redis = Redis.from_url(url)
        self.queues: dict[str, Any] = {}
        self.executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}
        self._marks: dict[str, float] = {}
        self._published: dict[str, str] = {}
        self._waiting: set[str] = set()
        self._eager = threading.local()
        self._scripts: dict[str, Any] = {}
        self._running = 0  # in-process jobs submitted and not yet finished
        self._finished = threading.Condition(self._lock)
        if self.redis is not None:
            self.queues = {
                name: Queue(qname, connection=self.redis) for name, qname in QUEUE_NAMES.items()
            }

    @property
    def uses_redis(self) -> bool:
        """True when jobs go to RQ."""
        return self.redis is not None

    @property
    def scripting(self) -> bool:
        """True when Redis runs Lua (fakeredis, used by some tests, does not)."""
        return self.redis is not None and not type(self.redis).__module__.startswith("fakeredis")

    # ------------------------------------------------------------------ queues

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        priority: str = "bulk",
        job_id: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Run `func(*args)` in the background (inline when JOBS_EAGER is set).

        `job_id` names the job: while a job of that name is waiting to run (queued,
        not yet started), nothing is added and the answer is False. When Redis cannot
        be reached the answer is False too: every job's work is also recorded in the
        database, and the sweeper queues it again once Redis is back.
        """
        try:
            return self._enqueue(func, args, priority, job_id, at)
        except RedisUnavailable as error:
            log.warning(
                "Redis unavailable (%s): %s not queued; the sweeper will queue it again",
                type(error).__name__,
                job_id or getattr(func, "__name__", func),
            )
            return False

    def _enqueue(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        priority: str,
        job_id: str | None,
        at: datetime | None,
    ) -> bool:
        if job_id is not None and self.waiting(job_id):
            return False
        if self.app.config.get("JOBS_EAGER"):
            self._run_eager(func, args, job_id)
            return True
        if self.redis is not None:
            queue = self.queues[priority]
            kwargs: dict[str, Any] = {
                "result_ttl": 0,
                "failure_ttl": 86400,
                "job_timeout": JOB_TIMEOUT,
            }
            target, call_args = func, args
            if job_id is not None:
                # RQ gets a fresh id each time (reusing ids clashes with its registries);
                # the name lives in a marker that the job clears when it starts.
                marker = KEY_PREFIX + "queued:" + job_id
                if not self.redis.set(marker, 1, nx=True, ex=MARKER_TTL):
                    return False
                kwargs["description"] = job_id
                target, call_args = run_named, (job_id, func, *args)
            try:
                if at is not None:
                    queue.enqueue_at(at, target, *call_args, **kwargs)
                else:
                    queue.enqueue(target, *call_args, **kwargs)
            except Exception:
                if job_id is not None:
                    self.redis.delete(KEY_PREFIX + "queued:" + job_id)
                raise
            return True
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="chorus-job")
        with self._lock:
            self._running += 1
            if job_id is not None:
                self._waiting.add(job_id)
        self.executor.submit(self._run_inline, func, args, job_id)
        return True

    def enqueue_many(
        self,
        func: Callable[..., Any],
        calls: Sequence[tuple[str, tuple[Any, ...]]],
        priority: str = "bulk",
    ) -> int:
        """`enqueue(func, *args, job_id=job_id)` for each (job_id, args) of `calls`; how
        many were queued. With Redis, two round trips in all (the "queued" markers,
        then the jobs) rather than a few per job: for thousands at once (an import's
        welcome texts). Inline and in-process jobs go one by one, as `enqueue`."""
        if not calls:
            return 0
        if self.app.config.get("JOBS_EAGER") or self.redis is None:
            return sum(
                self.enqueue(func, *args, priority=priority, job_id=job_id)
                for job_id, args in calls
            )
        try:
            return self._enqueue_many(func, calls, priority)
        except RedisUnavailable as error:
            log.warning(
                "Redis unavailable (%s): %d %s jobs not queued; the sweeper will queue them",
                type(error).__name__,
                len(calls),
                getattr(func, "__name__", func),
            )
            return 0

    def _enqueue_many(
        self, func: Callable[..., Any], calls: Sequence[tuple[str, tuple[Any, ...]]], priority: str
    ) -> int:
        assert self.redis is not None
        markers = self.redis.pipeline(transaction=False)
        for job_id, _args in calls:
            markers.set(KEY_PREFIX + "queued:" + job_id, 1, nx=True, ex=MARKER_TTL)
        fresh = [call for call, marked in zip(calls, markers.execute(), strict=True) if marked]
        if not fresh:
            return 0
        datas = [
            Queue.prepare_data(
                run_named,
                (job_id, func, *args),
                description=job_id,
                result_ttl=0,
                failure_ttl=86400,
                timeout=JOB_TIMEOUT,
            )
            for job_id, args in fresh
        ]
        try:
            with self.redis.pipeline() as pipe:
                self.queues[priority].enqueue_many(datas, pipeline=pipe)
                pipe.execute()
        except Exception:
            self.redis.delete(*(KEY_PREFIX + "queued:" + job_id for job_id, _args in fresh))
            raise
        return len(fresh)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every in-process job (and the jobs they queued) has finished."""
        deadline = time.monotonic() + timeout
        with self._finished:
            while self._running > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._finished.wait(left)
        return True

    def waiting(self, job_id: str) -> bool:
        """True while a job with this id is queued or scheduled but not yet started."""
        if self.app.config.get("JOBS_EAGER"):
            pending: deque[tuple[Any, ...]] | None = getattr(self._eager, "pending", None)
            return pending is not None and any(item[2] == job_id for item in pending)
        if self.redis is not None:
            return bool(self.redis.exists(KEY_PREFIX + "queued:" + job_id))
        with self._lock:
            return job_id in self._waiting

    def started(self, job_id: str) -> None:
        """A named job has started: it no longer counts as waiting."""
        if self.redis is not None:
            self.redis.delete(KEY_PREFIX + "queued:" + job_id)

    def _run_eager(
        self, func: Callable[..., Any], args: tuple[Any, ...], job_id: str | None
    ) -> None:
        pending = getattr(self._eager, "pending", None)
        if pending is not None:  # inside a running eager job: run after it
            pending.append((func, args, job_id))
            return
        self._eager.pending = deque([(func, args, job_id)])
        try:
            while self._eager.pending:
                next_func, next_args, _ = self._eager.pending.popleft()
                with self.app.app_context():
                    next_func(*next_args)
        finally:
            self._eager.pending = None

    def _run_inline(
        self, func: Callable[..., Any], args: tuple[Any, ...], job_id: str | None
    ) -> None:
        if job_id is not None:
            with self._lock:
                self._waiting.discard(job_id)
        try:
            with self.app.app_context():
                func(*args)
        except Exception:  # a background thread has nobody else to tell
            log.exception("job %s%r failed", getattr(func, "__name__", func), args)
        finally:
            with self._finished:
                self._running -= 1
                self._finished.notify_all()

    # ------------------------------------------------------------------ leases

    def _script(self, name: str, source: str) -> Any:
        if name not in self._scripts:
            assert self.redis is not None, "Lua scripts run only where there is Redis"
            self._scripts[name] = self.redis.register_script(source)
        return self._scripts[name]

    def lease(self, key: str, ttl: float) -> str | None:
        """Take `key` for `ttl` seconds if nobody holds it; the token to renew/release, or None."""
        token = uuid.uuid4().hex
        if self.redis is not None:
            ok = self.redis.set(KEY_PREFIX + key, token, nx=True, px=max(1, int(ttl * 1000)))
            return token if ok else None
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[1] > time.monotonic():
                return None
            self._leases[key] = (token, time.monotonic() + ttl)
        return token

    def renew(self, key: str, token: str, ttl: float) -> bool:
        """Extend a lease we hold; False if it was lost (expired and taken, or flushed)."""
        if self.redis is not None:
            if not self.scripting:  # fakeredis: good enough for single-process tests
                if self.redis.get(KEY_PREFIX + key) == token.encode():
                    return bool(self.redis.pexpire(KEY_PREFIX + key, int(ttl * 1000)))
                return False
            script = self._script("renew", _RENEW)
            return bool(script(keys=[KEY_PREFIX + key], args=[token, int(ttl * 1000)]))
        with self._lock:
            held = self._leases.get(key)
            if held is None or held[0] != token:
                return False
            self._leases[key] = (token, time.monotonic() + ttl)
            return True

    def release(self, key: str, token: str) -> None:
        """Give a lease back (only if we still hold it)."""
        if self.redis is not None:
            if not self.scripting:
                if self.redis.get(KEY_PREFIX + key) == token.encode():
                    self.redis.delete(KEY_PREFIX + key)
                return
            self._script("release", _RELEASE)(keys=[KEY_PREFIX + key], args=[token])
            return
        with self._lock:
            held = self._leases.get(key)
            if held is not None and held[0] == token:
                del self._leases[key]

    def leased(self, key: str) -> bool:
        """True while someone holds `key`."""
        if self.redis is not None:
            return bool(self.redis.exists(KEY_PREFIX + key))
        with self._lock:
            held = self._leases.get(key)
            return held is not None and held[1] > time.monotonic()

    def beat(self, owner: str, ttl: float) -> None:
        """Say that the sending process `owner` is alive for the next `ttl` seconds."""
        if self.redis is not None:
            self.redis.set(KEY_PREFIX + "alive:" + owner, 1, px=int(ttl * 1000))

    def dead(self, owner: str, grace: float) -> bool:
        """True when `owner` has not beaten for at least `grace` seconds, as seen by
        two looks at least `grace` apart (so a flushed Redis, whose heartbeats come
        back within a beat, is not mistaken for dead workers). Without Redis,
        never: there is no shared view of other processes."""
        if self.redis is None:
            return False
        suspect = KEY_PREFIX + "suspect:" + owner
        if self.redis.exists(KEY_PREFIX + "alive:" + owner):
            self.redis.delete(suspect)
            return False
        now = time.time()
        self.redis.set(suspect, f"{now:.3f}", nx=True, ex=int(grace * 20) + 60)
        first = self.redis.get(suspect)
        return first is not None and now - float(first) >= grace

    def tick(self, name: str, interval: float) -> bool:
        """True for at most one caller per `interval` seconds, across every process."""
        return self.lease("tick:" + name, interval) is not None

    def mark(self, name: str) -> None:
        """Record that `name` (the sweep) ran now, for every process to see."""
        now = time.time()
        if self.redis is not None:
            self.redis.set(KEY_PREFIX + "done:" + name, f"{now:.3f}")
        else:
            self._marks[name] = now

    def marked(self, name: str) -> float | None:
        """When `name` last ran (seconds since the epoch), if known."""
        if self.redis is not None:
            raw = self.redis.get(KEY_PREFIX + "done:" + name)
            return float(raw) if raw is not None else None
        return self._marks.get(name)

    def publish(self, name: str, value: dict[str, Any]) -> None:
        """Keep `value` (JSON-able) under `name` for every process to read."""
        raw = json.dumps(value, separators=(",", ":"))
        if self.redis is not None:
            self.redis.set(KEY_PREFIX + "published:" + name, raw)
        else:
            self._published[name] = raw

    def published(self, name: str) -> dict[str, Any] | None:
        """The value last published under `name`, if any."""
        if self.redis is not None:
            raw = self.redis.get(KEY_PREFIX + "published:" + name)
        else:
            raw = self._published.get(name)
        if raw is None:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None


def run_named(job_id: str, func: Callable[..., Any], *args: Any) -> Any:
    """RQ entry point of a named job: clear its "queued" marker, then run it."""
    jobs().started(job_id)
    return func(*args)


def init_app(app: Flask) -> None:
    """Attach a Jobs to the app (the sweeper is app.worker's, see its init_app)."""
    app.extensions["chorus_jobs"] = Jobs(app)


def jobs() -> Jobs:
    """The current app's Jobs."""
    found: Jobs = current_app.extensions["chorus_jobs"]
    return found


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Shortcut for jobs().enqueue."""
    return jobs().enqueue(func, *args, **kwargs)
