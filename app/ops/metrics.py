"""Prometheus metrics at `/metrics`.

Two kinds. Webhook latency is measured in each web process: under gunicorn, set
`PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py does) and every worker writes its samples
there, so one scrape sees them all. Everything about texts and queues comes from the
database and Redis, the shared truth, so it is the same whichever web process (on
whichever machine) answers the scrape: the cheap figures (send rate over an index,
texts in doubt, queue depth) are read at scrape time; texts by direction and status,
a scan of the whole table, are counted by the sweeper every METRICS_COUNT_INTERVAL
and published (app/tasks/counts.py), with the time of the count beside them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ..extensions import db
from ..jobs import jobs
from ..models import Message, utcnow
from ..tasks.counts import published_text_counts

WEBHOOK_SECONDS = Histogram(
    "chorus_webhook_seconds",
    "Time to answer a Twilio webhook, by endpoint.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SEND_RATE_WINDOW = timedelta(seconds=60)


class DatabaseCollector(Collector):
    """Texts by direction and status, send rate, texts in doubt, queue depth."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        texts = GaugeMetricFamily(
            "chorus_texts",
            "Texts stored, by direction and status, as of the last count.",
            labels=["direction", "status"],
        )
        published = published_text_counts()
        counted_at, rows = published if published is not None else (0.0, [])
        for direction, status, count in rows:
            texts.add_metric([direction, status], count)
        yield texts
        yield GaugeMetricFamily(
            "chorus_texts_counted_timestamp_seconds",
            "When chorus_texts was counted (the sweeper counts every METRICS_COUNT_INTERVAL; "
            "0: not yet).",
            value=counted_at,
        )

        since = utcnow() - SEND_RATE_WINDOW
        segments = db.session.scalar(
            select(func.coalesce(func.sum(Message.segments), 0)).where(
                Message.direction == "out", Message.sent_at >= since
            )
        )
        yield GaugeMetricFamily(
            "chorus_send_rate_segments_per_second",
            "Segments handed to Twilio per second, over the last minute.",
            value=float(segments or 0) / SEND_RATE_WINDOW.total_seconds(),
        )
        in_doubt = db.session.scalar(
            select(func.count()).where(
                Message.direction == "out",
                Message.status == "sending",
                Message.failed_reason.is_not(None),
            )
        )
        yield GaugeMetricFamily(
            "chorus_texts_in_doubt",
            "Texts Twilio may or may not have accepted, waiting to be reconciled.",
            value=in_doubt or 0,
        )
        db.session.rollback()  # a read-only look: end the transaction it opened

        swept = jobs().marked("sweep")
        yield GaugeMetricFamily(
            "chorus_sweeper_last_run_timestamp_seconds",
            "When the sweeper last finished a sweep (0: not since Redis or this process began).",
            value=swept or 0.0,
        )
        depth = GaugeMetricFamily(
            "chorus_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        for name, queue in jobs().queues.items():
            depth.add_metric([name], len(queue))
        yield depth


def exposition() -> Response:
    """The metrics page: this process's (or every gunicorn worker's) plus the shared ones."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(WEBHOOK_SECONDS)
    registry.register(DatabaseCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every webhook request."""

    @app.before_request
    def _start_timer() -> None:
        if request.blueprint == "webhooks":
            g.webhook_started = time.perf_counter()

    @app.teardown_request
    def _observe(_error: BaseException | None) -> None:
        started = g.pop("webhook_started", None)
        if started is not None:
            WEBHOOK_SECONDS.labels(request.endpoint or "unknown").observe(
                time.perf_counter() - started
            )
