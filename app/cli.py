"""Commands: `flask --app wsgi api-token create NAME`, `audit verify`, `seed-demo`, `worker`."""

from __future__ import annotations

import click
from flask import Flask

from . import audit, worker
from .api.auth import create_token
from .extensions import db
from .seed import seed


def register(app: Flask) -> None:
    """Attach the Chorus commands to the app's CLI."""

    @app.cli.group("api-token")
    def api_token() -> None:
        """Staff API tokens."""

    @api_token.command("create")
    @click.argument("name")
    def api_token_create(name: str) -> None:
        """Make a token; it is printed once, alone on the last line."""
        name = name.strip()
        if not name or len(name) > 200:
            raise click.BadParameter("NAME must be 1-200 characters", param_hint="NAME")
        row, token = create_token(name)
        db.session.flush()
        audit.record("cli", "api_token.created", "api_token", row.id, {"name": name})
        db.session.commit()
        click.echo(f"Created API token {name!r}. Store it now; only its hash is kept.")
        click.echo(token)

    @app.cli.group("audit")
    def audit_group() -> None:
        """The tamper-evident audit log."""

    @audit_group.command("verify")
    def audit_verify() -> None:
        """Check every event's hash chain; exit 1 if anything was edited or deleted."""
        result = audit.verify()
        if result.ok:
            click.echo(f"audit log OK: {result.checked} events, chain intact")
        else:
            click.echo(f"audit log BROKEN: {result.problem}", err=True)
            raise SystemExit(1)

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Add the demo community (idempotent: running it twice changes nothing)."""
        click.echo(seed())

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
    def worker_command(burst: bool) -> None:
        """Send texts and run scheduled work: an RQ worker (chorus-high, then chorus-bulk)
        with its scheduler and the sweeper. Without REDIS_URL, jobs run in this process."""
        worker.run(app, burst=burst)
