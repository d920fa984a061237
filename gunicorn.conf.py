"""gunicorn settings for Chorus's web process: `gunicorn wsgi:app` reads this file.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import logging
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Sync workers: each request is short (a webhook answers in milliseconds) and the
# database round trips are the wait. Two per core, plus one, is gunicorn's advice.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
timeout = 30  # a request stuck this long is killed and its worker replaced
graceful_timeout = 30  # on HUP/TERM, requests in flight get this long to finish
keepalive = 5
# Access logs are off unless asked for (GUNICORN_ACCESS_LOG=- for stdout): the proxy in
# front usually keeps them, and one line per webhook costs the web process.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# The proxy in front sets X-Forwarded-*; Chorus builds public URLs from PUBLIC_BASE_URL.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus in multiprocess mode: every worker writes its samples into one folder and
# /metrics, in whichever worker answers, adds them up. It must be set before any worker
# imports prometheus_client, so it is set here, in the master, at start.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="chorus-metrics-"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

# Only now: prometheus_client picks its storage when first imported, and workers fork
# from this process.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    """Start with an empty metrics folder: samples from a previous run would add up."""
    for entry in os.listdir(_metrics_dir):
        path = os.path.join(_metrics_dir, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def child_exit(server, worker):
    """Let the metrics of a worker that exited stop counting as live gauges."""
    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Mask phone numbers in the access log too (API paths hold them, URL-encoded)."""
    from app.logs import MaskingFormatter  # the app is loaded in the worker by now

    for name in ("gunicorn.access", "gunicorn.error"):
        for handler in logging.getLogger(name).handlers:
            fmt = handler.formatter._fmt if handler.formatter else None
            datefmt = handler.formatter.datefmt if handler.formatter else None
            handler.setFormatter(MaskingFormatter(fmt, datefmt))
