"""Staff console: importing members from a CSV file (organisers).

Upload -> the file as a whole is checked (it can be read, names its columns, has rows,
not too many) and kept; nothing else is written -> a job checks every row and keeps
them (app/tasks/member_import.py) while the import's page refreshes itself (a <meta>
refresh, no JavaScript) -> the preview (per-row errors, what will be added) -> confirm
-> a job adds them while the progress page refreshes itself -> the report. The web
requests only do what takes well under a second, whatever the file's size.

Uploads: the import accepts files up to IMPORT_MAX_BYTES, whatever MAX_CONTENT_LENGTH
says for the rest of the app; the limit is set for this one route before anything
(Flask-WTF's CSRF check included) reads the body.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from ..domain import Conflict, Invalid
from ..domain import member_import as imports
from ..extensions import db
from ..models import ImportStatus, MemberImport, StaffRole
from ..tasks.member_import import enqueue_check, enqueue_import
from .access import actor, requires
from .blueprint import bp
from .forms import ConfirmForm
from .member_forms import ImportForm

IMPORT_MAX_BYTES = 10 * 1024 * 1024  # the file
IMPORT_MAX_REQUEST = IMPORT_MAX_BYTES + 64 * 1024  # the file and the form around it
ERRORS_PER_PAGE = 100
REFRESH_SECONDS = 5

ERROR_WORDS = {
    imports.MISSING_PHONE: _l("No phone number."),
    imports.INVALID_PHONE: _l("Not a phone number we can use."),
    imports.DUPLICATE_IN_FILE: _l("The same number is on line %(line)s."),
    imports.ALREADY_MEMBER: _l("Already a member."),
    imports.UNKNOWN_LANGUAGE: _l("Unknown language: use one of en cy es fr pt pl ro ar ur bn."),
    imports.BAD_GROUPS: _l(
        "Group names are lower-case letters, digits, - and _, separated by ; or |."
    ),
    imports.NAME_TOO_LONG: _l("The name is longer than 200 characters."),
}
FILE_PROBLEMS = {
    "empty": _l("The file is empty."),
    "no_header": _l(
        "The first line must name the columns: phone,name,language,groups (only phone is required)."
    ),
    "no_rows": _l("The file has a header line but no members."),
    "too_many_rows": _l("A file can have at most %(limit)s rows: split it in parts."),
}
STATUS_WORDS = {
    ImportStatus.CHECKING: _l("Checking the file"),
    ImportStatus.PREVIEW: _l("Checked, not imported yet"),
    ImportStatus.QUEUED: _l("Waiting to start"),
    ImportStatus.RUNNING: _l("Importing"),
    ImportStatus.DONE: _l("Finished"),
    ImportStatus.DISCARDED: _l("Discarded"),
}


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values) -> None:
    """The import's own size limit. URL value preprocessors run before every
    before_request function, so this holds when Flask-WTF's CSRF check reads the form."""
    if endpoint == "staff.members_import" and request.method == "POST":
        request.max_content_length = IMPORT_MAX_REQUEST


@bp.errorhandler(413)
def _too_large(_error):
    """An upload over the limit: the import form again, saying so."""
    form = ImportForm(formdata=None)
    if request.endpoint == "staff.members_import":
        form.file.errors = [
            gettext(
                "The file is larger than %(mb)d MB: split it in parts.",
                mb=IMPORT_MAX_BYTES // 2**20,
            )
        ]
        return render_template("staff/members_import.html", form=form), 413
    return gettext("That request is too large."), 413


@bp.route("/members/import", methods=["GET", "POST"])
@requires(StaffRole.ORGANISER)
def members_import():
    """Upload a CSV file of members: it is checked (by a job) and shown before anything
    is added."""
    form = ImportForm()
    if not form.validate_on_submit():
        return render_template("staff/members_import.html", form=form), (
            422 if request.method == "POST" else 200
        )
    upload = form.file.data
    data = upload.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        abort(413)
    try:
        created = imports.create_import(data, upload.filename, actor=actor())
    except imports.FileProblem as problem:
        db.session.rollback()
        form.file.errors = [str(FILE_PROBLEMS[problem.code]) % problem.values]
        return render_template("staff/members_import.html", form=form), 422
    import_id = created.id
    db.session.commit()
    enqueue_check(import_id)  # if lost, the sweeper queues it again
    return redirect(url_for("staff.member_import", import_id=import_id), code=303)


def _import_or_404(import_id: int, lock: bool = False) -> MemberImport:
    found = imports.get(import_id, lock=lock)
    if found is None:
        abort(404)
    return found


@bp.get("/members/imports/<int:import_id>")
@requires(StaffRole.ORGANISER)
def member_import(import_id: int):
    """An import: being checked or its progress (refreshing itself), its preview or
    its report."""
    found = _import_or_404(import_id)
    after = request.args.get("after", "")
    errors = imports.error_rows(
        found, after=int(after) if after.isdigit() else 0, limit=ERRORS_PER_PAGE + 1
    )
    more_errors = len(errors) > ERRORS_PER_PAGE
    errors = errors[:ERRORS_PER_PAGE]
    preview = found.status == ImportStatus.PREVIEW
    checking = found.status == ImportStatus.CHECKING
    running = found.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
    under_way = checking or running
    return render_template(
        "staff/member_import.html",
        upload=found,
        errors=errors,
        more_errors=errors[-1].id if more_errors and errors else None,
        to_add=imports.rows_to_add(found) if preview else [],
        preview=preview,
        checking=checking,
        running=running,
        # Staff can turn the refresh off (WCAG 2.2.1: timing adjustable).
        refresh=REFRESH_SECONDS if under_way and request.args.get("refresh") != "off" else None,
        error_words=ERROR_WORDS,
        status_words=STATUS_WORDS,
    )


def _not_a_preview(found: MemberImport):
    """Confirm or discard of an import that is not a preview: its page, saying why."""
    checking = found.status == ImportStatus.CHECKING
    import_id = found.id
    db.session.rollback()
    if checking:
        flash(gettext("This file is still being checked: wait for the preview."), "error")
    else:
        flash(gettext("This import was confirmed or discarded already."), "error")
    return redirect(url_for("staff.member_import", import_id=import_id), code=303)


@bp.post("/members/imports/<int:import_id>/confirm")
@requires(StaffRole.ORGANISER)
def member_import_confirm(import_id: int):
    """Confirm a preview: a job adds its members; its page shows the progress."""
    found = _import_or_404(import_id, lock=True)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        imports.confirm(found, actor=actor())
    except Conflict:
        return _not_a_preview(found)
    except Invalid:
        db.session.rollback()
        flash(gettext("This file has no members to add."), "error")
        return redirect(url_for("staff.member_import", import_id=import_id), code=303)
    db.session.commit()
    enqueue_import(found.id)
    return redirect(url_for("staff.member_import", import_id=import_id), code=303)


@bp.post("/members/imports/<int:import_id>/discard")
@requires(StaffRole.ORGANISER)
def member_import_discard(import_id: int):
    """Drop a preview: nothing is imported and its rows are deleted."""
    found = _import_or_404(import_id, lock=True)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        imports.discard(found, actor=actor())
    except Conflict:
        return _not_a_preview(found)
    db.session.commit()
    flash(gettext("Import discarded: nothing was added."))
    return redirect(url_for("staff.members"), code=303)
