"""Commands: `api-token`, `staff`, `audit verify`, `seed-demo`, `worker`, `translations`
(flask --app wsgi ...)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from . import accounts, audit, worker
from .api.auth import issue_token, revoke_token
from .config import LANGUAGES
from .domain import translation_review
from .extensions import db
from .models import ApiToken, StaffRole
from .seed import demo_admin, seed

ROLES = click.Choice([role.value for role in StaffRole])
LANGUAGE = click.Choice(LANGUAGES)


def _password_from_stdin_or_new() -> tuple[str, bool]:
    """The password piped on stdin (its first line), or a generated one (True)."""
    if not sys.stdin.isatty():
        piped = sys.stdin.readline().rstrip("\r\n")
        if piped:
            return piped, False
    return accounts.generate_password(), True


def register(app: Flask) -> None:
    """Attach the Chorus commands to the app's CLI."""

    @app.cli.group("api-token")
    def api_token() -> None:
        """Staff API tokens."""

    @api_token.command("create")
    @click.argument("name")
    @click.option("--role", type=ROLES, default="organiser", show_default=True)
    @click.option("--owner", default=None, help="The staff email the token is for.")
    def api_token_create(name: str, role: str, owner: str | None) -> None:
        """Make a token; it is printed once, alone on the last line."""
        name = name.strip()
        if not name or len(name) > 200:
            raise click.BadParameter("NAME must be 1-200 characters", param_hint="NAME")
        _row, token = issue_token(name, StaffRole(role), owner=owner, actor="cli")
        db.session.commit()
        click.echo(f"Created API token {name!r} ({role}). Store it now; only its hash is kept.")
        click.echo(token)

    @api_token.command("list")
    def api_token_list() -> None:
        """Every token: name, role, owner, made, last used, revoked."""
        rows = db.session.execute(select(ApiToken).order_by(ApiToken.id)).scalars()
        for row in rows:
            used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "live"
            click.echo(
                f"{row.name}\t{row.role}\t{row.owner or '-'}\t"
                f"made {row.created_at:%Y-%m-%d}\tlast used {used}\t{state}"
            )

    @api_token.command("revoke")
    @click.argument("name")
    def api_token_revoke(name: str) -> None:
        """Revoke every live token called NAME; calls with it get 401 at once."""
        rows = db.session.execute(
            select(ApiToken).where(ApiToken.name == name.strip(), ApiToken.revoked_at.is_(None))
        ).scalars()
        found = list(rows)
        if not found:
            raise click.ClickException(f"no live token called {name!r}")
        for row in found:
            revoke_token(row, actor="cli")
        db.session.commit()
        click.echo(f"Revoked {len(found)} token(s) called {name!r}.")

    @app.cli.group("staff")
    def staff_group() -> None:
        """Staff accounts for the console."""

    @staff_group.command("create")
    @click.argument("email")
    @click.option("--role", type=ROLES, required=True)
    @click.option("--name", default=None, help="The name shown in the console.")
    def staff_create(email: str, role: str, name: str | None) -> None:
        """Make an account. The password is read from stdin when piped; otherwise a
        generated one is printed alone on the last line."""
        password, generated = _password_from_stdin_or_new()
        try:
            account = accounts.create(email, role, password, actor="cli", name=name)
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
        db.session.commit()
        click.echo(f"Created {role} account {account.email}.")
        if generated:
            click.echo("Password (shown once):")
            click.echo(password)

    @staff_group.command("list")
    def staff_list() -> None:
        """Every account: email, role, state, last sign-in."""
        for account in accounts.all_accounts():
            state = "disabled" if account.disabled_at else "active"
            last = (
                account.last_sign_in_at.isoformat(timespec="seconds")
                if account.last_sign_in_at
                else "never"
            )
            click.echo(f"{account.email}\t{account.role}\t{state}\tlast sign-in {last}")

    @staff_group.command("disable")
    @click.argument("email")
    def staff_disable(email: str) -> None:
        """No more sign-ins for EMAIL; its sessions end at once."""
        account = accounts.find(email)
        if account is None:
            raise click.ClickException(f"no account with email {email!r}")
        accounts.disable(account, actor="cli")
        db.session.commit()
        click.echo(f"Disabled {account.email}; its sessions have ended.")

    @staff_group.command("set-password")
    @click.argument("email")
    def staff_set_password(email: str) -> None:
        """A new password for EMAIL (from stdin when piped, else generated and printed);
        its sessions end at once."""
        account = accounts.find(email)
        if account is None:
            raise click.ClickException(f"no account with email {email!r}")
        password, generated = _password_from_stdin_or_new()
        try:
            accounts.set_password(account, password, actor="cli")
        except accounts.AccountError as error:
            raise click.ClickException(str(error)) from None
        db.session.commit()
        click.echo(f"New password set for {account.email}; its sessions have ended.")
        if generated:
            click.echo("Password (shown once):")
            click.echo(password)

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
    @click.option("--admin", is_flag=True, help="Also make the demo admin a new password.")
    def seed_demo(admin: bool) -> None:
        """Add the demo community (idempotent: running it twice changes nothing); with
        --admin, (re)make the demo admin account and print its email and password."""
        click.echo(seed())
        if admin:
            email, password = demo_admin()
            db.session.commit()
            click.echo(f"Staff console: sign in as {email} with password {password}")

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
    def worker_command(burst: bool) -> None:
        """Send texts and run scheduled work: an RQ worker (chorus-high, then chorus-bulk)
        with its scheduler and the sweeper. Without REDIS_URL, jobs run in this process."""
        worker.run(app, burst=burst)

    @app.cli.group("translations")
    def translations_group() -> None:
        """Community review of translations: CSV export and checked import."""

    @translations_group.command("export")
    @click.argument("language", type=LANGUAGE)
    @click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
    def translations_export(language: str, file: Path) -> None:
        """Every text of LANGUAGE as CSV (SMS first): msgid, context, msgstr, kind,
        segments... Correct the msgstr column, then import the file."""
        rows = translation_review.export_rows(language)
        translation_review.write_csv(rows, file)
        click.echo(f"Wrote {len(rows)} rows of {language} to {file}.")

    @translations_group.command("import")
    @click.argument("language", type=LANGUAGE)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--reviewer", default=None, help="Who reviewed it: recorded as reviewed.")
    def translations_import(language: str, file: Path, reviewer: str | None) -> None:
        """Check every row of FILE, then update the LANGUAGE catalog and the review
        record (translations/README.md). With any problem, nothing is written."""
        try:
            data = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise click.ClickException(f"{file} is not UTF-8: save it as CSV UTF-8") from None
        try:
            checked = translation_review.check_import(language, data)
            if checked.problems:
                for problem in checked.problems:
                    click.echo(str(problem), err=True)
                click.echo(
                    f"Nothing was written: {len(checked.problems)} problem(s) in {file}.",
                    err=True,
                )
                raise SystemExit(1)
            review = translation_review.apply_import(checked, reviewer=reviewer)
        except translation_review.TranslationError as error:
            raise click.ClickException(str(error)) from None
        if review is None:
            click.echo(f"{language}: no text changed and no reviewer given; nothing written.")
            return
        click.echo(f"{language}: {checked.changed} text(s) changed.")
        who = f" by {review.reviewer}" if review.reviewer else ""
        click.echo(f"Recorded in translations/README.md: {review.status}{who} on {review.date}.")
        click.echo("Restart the app (or its workers) to send the new texts.")

    @translations_group.command("check")
    @click.argument("languages", nargs=-1, type=LANGUAGE)
    def translations_check(languages: tuple[str, ...]) -> None:
        """The import's checks on the catalogs as they are (all but English by default),
        e.g. after a change made through Weblate. Exit 1 on any problem."""
        failed = 0
        for language in languages or LANGUAGES[1:]:
            problems = translation_review.check_catalog(language)
            for problem in problems:
                click.echo(f"{language} {problem}", err=True)
            failed += len(problems)
            click.echo(f"{language}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        if failed:
            raise SystemExit(1)
