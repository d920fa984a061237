"""Background jobs: RQ when REDIS_URL is set, otherwise a thread in this process.

Jobs take ids, never objects, and are safe to run twice. Two queues: `high` for
replies and one-to-one texts, `bulk` for broadcast batches; workers drain `high` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

QUEUE_NAMES = {"high": "chorus-high", "bulk": "chorus-bulk"}


class Jobs:
    """Where `enqueue` sends work for one app."""

    def __init__(self, app: Flask):
        self.app = app
        self.redis = app.config.get("REDIS_CONNECTION")
        url = app.config["CHORUS"].redis_url
        if self.redis is None and url:
            from redis import Redis

            self.redis = Redis.from_url(url)
        self.queues: dict[str, Any] = {}
        self.executor: ThreadPoolExecutor | None = None
        if self.redis is not None:
            from rq import Queue

            self.queues = {
                name: Queue(qname, connection=self.redis) for name, qname in QUEUE_NAMES.items()
            }

    @property
    def uses_redis(self) -> bool:
        """True when jobs go to RQ."""
        return self.redis is not None

    def enqueue(
        self,
        func: Callable[..., Any],
        *args: Any,
        priority: str = "bulk",
        job_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Run `func(*args)` in the background (inline when JOBS_EAGER is set)."""
        if self.app.config.get("JOBS_EAGER"):
            with self.app.app_context():
                func(*args)
            return
        if self.redis is not None:
            queue = self.queues[priority]
            kwargs: dict[str, Any] = {"job_id": job_id, "result_ttl": 0, "failure_ttl": 86400}
            if at is not None:
                queue.enqueue_at(at, func, *args, **kwargs)
            else:
                queue.enqueue(func, *args, **kwargs)
            return
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="chorus-job")
        self.executor.submit(self._run_inline, func, args)

    def _run_inline(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            with self.app.app_context():
                func(*args)
        except Exception:  # a background thread has nobody else to tell
            log.exception("job %s%r failed", getattr(func, "__name__", func), args)


def init_app(app: Flask) -> None:
    """Attach a Jobs to the app."""
    app.extensions["chorus_jobs"] = Jobs(app)


def jobs() -> Jobs:
    """The current app's Jobs."""
    return current_app.extensions["chorus_jobs"]


def enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Shortcut for jobs().enqueue."""
    jobs().enqueue(func, *args, **kwargs)
