"""Staff console: the dashboard, the console's first page.

Open consultations with participation so far, broadcasts in flight, the inbox and
failed texts of the last day; each figure links to its screen where that screen
exists. Every figure is one aggregate query (app/domain/dashboard.py).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from ..domain import dashboard as figures
from ..models import BroadcastKind, BroadcastStatus, StaffRole
from .access import requires
from .blueprint import bp

BROADCAST_KINDS = {
    BroadcastKind.SUMMARY: _l("Summary"),
    BroadcastKind.REMINDER: _l("Reminder"),
    BroadcastKind.OUTCOME: _l("Outcome"),
    BroadcastKind.ANNOUNCEMENT: _l("Announcement"),
}
BROADCAST_STATUSES = {
    BroadcastStatus.SCHEDULED: _l("scheduled"),
    BroadcastStatus.SENDING: _l("sending"),
    BroadcastStatus.PAUSED: _l("paused"),
}


@bp.app_template_global()
def screen_url(endpoint: str, **values: Any) -> str | None:
    """The URL of a console screen, or None while no such screen exists (the screens
    are built one module at a time: a figure links to its screen once there is one)."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


@bp.get("/")
@requires(StaffRole.VIEWER)
def dashboard():
    """The console's first page: what is going on now."""
    consultations, open_total = figures.open_consultations()
    broadcasts, in_flight_total = figures.broadcasts_in_flight()
    return render_template(
        "staff/dashboard.html",
        consultations=consultations,
        open_total=open_total,
        broadcasts=broadcasts,
        in_flight_total=in_flight_total,
        inbox=figures.inbox_count(),
        failed=figures.failed_last_day(),
        broadcast_kinds=BROADCAST_KINDS,
        broadcast_statuses=BROADCAST_STATUSES,
    )
