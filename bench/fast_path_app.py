"""Chorus as `wsgi:app`, with the fast inbound path's PostgreSQL read chosen by the
environment: `FAST_PATH_SQL=text` (PG_READ, as shipped) or `core` (the Core READ).

Only the inbound benchmark's text/Core pair uses it (`gunicorn bench.fast_path_app:app`),
so the choice stays out of the product's settings until the pair has been measured.
"""

from __future__ import annotations

import gc
import os

from app import create_app

app = create_app(FAST_PATH_SQL=os.environ.get("FAST_PATH_SQL", "text"))
gc.freeze()  # as wsgi.py: what start-up made lives as long as the process
