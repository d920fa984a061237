"""Console screen for admins: staff accounts and API tokens.

Accounts: list, add (a password typed, or generated and shown once), change role,
disable/enable, a new password, sign out everywhere. The last enabled admin can be
neither disabled nor demoted. Tokens: list, make (shown once), revoke. Every change
is audited (app/accounts.py for accounts, app/api/auth.py for tokens).

A password or token is shown on the page that answers the POST that made it, never
after a redirect: PRG would have to carry it in the session cookie. That page is not
stored (Cache-Control: no-store); posting it again is refused (the email or the
token's name is taken by then), so nothing is made twice.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .. import accounts as staff_accounts
from ..api.auth import all_tokens, issue_token, live_token_named, revoke_token
from ..extensions import db
from ..models import ApiToken, StaffAccount, StaffRole
from .access import ROLE_NAMES, actor, current_account, requires
from .blueprint import bp


def _role_choices() -> list[tuple[str, str]]:
    return [(role.value, str(ROLE_NAMES[role])) for role in StaffRole]


def _email_shape(_form: FlaskForm, field: StringField) -> None:
    try:
        field.data = staff_accounts.normal_email(field.data or "")
    except staff_accounts.AccountError:
        raise ValidationError(gettext("Enter an email address like name@example.org.")) from None


def _password_rules(_form: FlaskForm, field: PasswordField) -> None:
    if field.data and len(field.data) < staff_accounts.MIN_PASSWORD:
        raise ValidationError(
            gettext(
                "A password needs at least %(num)d characters.", num=staff_accounts.MIN_PASSWORD
            )
        )


PASSWORD_HINT = _l("At least 12 characters. Leave it empty and Chorus makes one up.")


class AccountForm(FlaskForm):
    """A new staff account."""

    email = StringField(
        _l("Email"),
        validators=[DataRequired(_l("Enter an email address.")), Length(max=254), _email_shape],
        render_kw={"type": "email", "autocomplete": "off", "spellcheck": "false"},
    )
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=_role_choices, default=StaffRole.VIEWER.value)
    password = PasswordField(
        _l("Password"),
        validators=[Optional(), Length(max=staff_accounts.MAX_PASSWORD), _password_rules],
        render_kw={"autocomplete": "new-password"},
    )

    def validate_email(self, field: StringField) -> None:
        if field.data and staff_accounts.find(field.data) is not None:
            raise ValidationError(gettext("There is already an account with that email."))


class RoleForm(FlaskForm):
    """A new role for an account."""

    role = SelectField(_l("Role"), choices=_role_choices)


class PasswordForm(FlaskForm):
    """A new password for an account (typed, or generated)."""

    password = PasswordField(
        _l("New password"),
        validators=[Optional(), Length(max=staff_accounts.MAX_PASSWORD), _password_rules],
        render_kw={"autocomplete": "new-password"},
    )


class TokenForm(FlaskForm):
    """A new API token."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Give the token a name.")), Length(max=200)],
        render_kw={"autocomplete": "off"},
    )
    role = SelectField(_l("Role"), choices=_role_choices, default=StaffRole.ORGANISER.value)
    owner = StringField(
        _l("For whom"),
        validators=[Optional(), Length(max=254)],
        render_kw={"autocomplete": "off"},
    )

    def validate_name(self, field: StringField) -> None:
        field.data = (field.data or "").strip()
        if field.data and live_token_named(field.data) is not None:
            raise ValidationError(gettext("A live token already has that name."))


def _shown_once(title: str, secret: str, note: str):
    """The page that shows a new password or token, once, and is never stored."""
    response = make_response(
        render_template("staff/shown_once.html", title=title, secret=secret, note=note)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the list ---------------------------------------------------------------------------


@bp.get("/accounts")
@requires(StaffRole.ADMIN)
def accounts():
    """Staff accounts and API tokens."""
    return render_template(
        "staff/accounts.html",
        accounts=staff_accounts.all_accounts(),
        tokens=all_tokens(),
    )


# --- accounts ----------------------------------------------------------------------------


@bp.route("/accounts/new", methods=["GET", "POST"])
@requires(StaffRole.ADMIN)
def account_new():
    """Add a staff account; a generated password is shown once on the next page."""
    form = AccountForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("staff/account_new.html", form=form), status
    typed = form.password.data or ""
    password = typed or staff_accounts.generate_password()
    try:
        account = staff_accounts.create(
            form.email.data or "",
            StaffRole(form.role.data),
            password,
            actor=actor(),
            name=form.name.data,
        )
    except staff_accounts.AccountError:
        # The form checked everything; only an account made meanwhile gets here.
        db.session.rollback()
        form.email.errors = [gettext("There is already an account with that email.")]
        return render_template("staff/account_new.html", form=form), 422
    email = account.email
    db.session.commit()
    if typed:
        flash(gettext("Account %(email)s added with the password you typed.", email=email))
        return redirect(url_for("staff.accounts"), code=303)
    return _shown_once(
        gettext("Account %(email)s added", email=email),
        password,
        gettext("This is the account's password. Give it to them safely: it is not shown again."),
    )


def _account(account_id: int) -> StaffAccount:
    account = db.session.get(StaffAccount, account_id)
    if account is None:
        abort(404)
    return account


def _account_page(
    account: StaffAccount,
    *,
    role_form: RoleForm | None = None,
    password_form: PasswordForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    role_form = role_form or RoleForm(formdata=None, role=account.role.value)
    return (
        render_template(
            "staff/account.html",
            account=account,
            role_form=role_form,
            password_form=password_form or PasswordForm(formdata=None),
            is_me=account.id == getattr(current_account(), "id", None),
            error=error,
        ),
        status,
    )


def _back_to(account_id: int) -> str:
    """The account's page, or the dashboard after a change to one's own account (which
    may have ended this very session, or taken away the admin role)."""
    me = current_account()
    if me is None or me.id == account_id:
        return url_for("staff.dashboard")
    return url_for("staff.account_detail", account_id=account_id)


LAST_ADMIN = _l(
    "This is the only active admin: make another account admin first, "
    "or nobody could manage staff accounts."
)


@bp.get("/accounts/<int:account_id>")
@requires(StaffRole.ADMIN)
def account_detail(account_id: int):
    """One account: its role, state, a new password, sign out everywhere."""
    return _account_page(_account(account_id))


@bp.post("/accounts/<int:account_id>/role")
@requires(StaffRole.ADMIN)
def account_role(account_id: int):
    """A new role (the account's sessions end so it applies at once)."""
    account = _account(account_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _account_page(account, role_form=form, status=422)
    role = StaffRole(form.role.data)
    if role != StaffRole.ADMIN and staff_accounts.is_last_active_admin(account):
        db.session.rollback()
        form.role.errors = [str(LAST_ADMIN)]
        return _account_page(account, role_form=form, status=409)
    changed = role != account.role
    staff_accounts.set_role(account, role, actor=actor())
    email = account.email
    db.session.commit()
    if changed:
        flash(gettext("%(email)s is now %(role)s.", email=email, role=ROLE_NAMES[role]))
    return redirect(_back_to(account_id), code=303)


@bp.post("/accounts/<int:account_id>/disable")
@requires(StaffRole.ADMIN)
def account_disable(account_id: int):
    """No more sign-ins for the account; its sessions end now."""
    account = _account(account_id)
    if staff_accounts.is_last_active_admin(account):
        db.session.rollback()
        return _account_page(account, error=str(LAST_ADMIN), status=409)
    staff_accounts.disable(account, actor=actor())
    email = account.email
    db.session.commit()
    flash(gettext("%(email)s is disabled; its sessions have ended.", email=email))
    return redirect(_back_to(account_id), code=303)


@bp.post("/accounts/<int:account_id>/enable")
@requires(StaffRole.ADMIN)
def account_enable(account_id: int):
    """Sign-ins allowed again, with the same password."""
    account = _account(account_id)
    staff_accounts.enable(account, actor=actor())
    email = account.email
    db.session.commit()
    flash(gettext("%(email)s can sign in again.", email=email))
    return redirect(_back_to(account_id), code=303)


@bp.post("/accounts/<int:account_id>/sign-out")
@requires(StaffRole.ADMIN)
def account_sign_out(account_id: int):
    """End every session of the account (its next request asks it to sign in)."""
    account = _account(account_id)
    staff_accounts.end_sessions(account, actor=actor())
    email = account.email
    db.session.commit()
    flash(gettext("Every session of %(email)s has ended.", email=email))
    return redirect(_back_to(account_id), code=303)


@bp.post("/accounts/<int:account_id>/password")
@requires(StaffRole.ADMIN)
def account_password(account_id: int):
    """A new password, typed or generated (shown once); the account's sessions end."""
    account = _account(account_id)
    form = PasswordForm()
    if not form.validate_on_submit():
        return _account_page(account, password_form=form, status=422)
    typed = form.password.data or ""
    password = typed or staff_accounts.generate_password()
    staff_accounts.set_password(account, password, actor=actor())
    email = account.email
    db.session.commit()
    if typed:
        flash(gettext("New password set for %(email)s; its sessions have ended.", email=email))
        return redirect(_back_to(account_id), code=303)
    return _shown_once(
        gettext("New password for %(email)s", email=email),
        password,
        gettext(
            "Its sessions have ended. Give the new password to them safely: it is not shown again."
        ),
    )


# --- API tokens --------------------------------------------------------------------------


@bp.route("/tokens/new", methods=["GET", "POST"])
@requires(StaffRole.ADMIN)
def token_new():
    """Make an API token; it is shown once on the next page."""
    form = TokenForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("staff/token_new.html", form=form), status
    me = current_account()
    owner = (form.owner.data or "").strip() or (me.email if me else None)
    row, token = issue_token(
        form.name.data or "", StaffRole(form.role.data), owner=owner, actor=actor()
    )
    name = row.name
    db.session.commit()
    return _shown_once(
        gettext("API token %(name)s made", name=name),
        token,
        gettext(
            "Use it as 'Authorization: Bearer TOKEN'. Store it now: Chorus keeps only a hash "
            "and cannot show it again."
        ),
    )


@bp.post("/tokens/<int:token_id>/revoke")
@requires(StaffRole.ADMIN)
def token_revoke(token_id: int):
    """Revoke a token: calls with it get 401 at once."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        abort(404)
    if revoke_token(row, actor=actor()):
        name = row.name
        db.session.commit()
        flash(gettext("Token %(name)s revoked.", name=name))
    return redirect(url_for("staff.accounts"), code=303)
