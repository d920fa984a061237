"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import gc

from app import create_app

app = create_app()
# Everything made at start-up (the grammar's tables, catalogs, phone metadata, the ORM)
# lives as long as the process: keep it out of every later garbage collection.
gc.freeze()
