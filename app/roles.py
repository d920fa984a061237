"""What each route needs, declared on the route and checked in one place per area.

A staff page or an API call is decorated with `@requires(StaffRole.VIEWER)` (or
ORGANISER, ADMIN), `@requires(OPEN)` (no sign-in: the sign-in page, the API's own
OpenAPI document) or, for the phone simulator, `@requires(SIMULATOR)`. The staff
blueprint (app/staff/access.py) and the API blueprint (app/api/routes.py) each check
the declaration before every request and refuse a route that declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .models import StaffRole

OPEN = "open"  # anyone: the sign-in page, the OpenAPI document
SIMULATOR = "simulator"  # organiser, or anyone when SIMULATOR_OPEN=true
ROLE_ATTR = "chorus_requires"

View = TypeVar("View", bound=Callable[..., Any])


def requires(need: StaffRole | str) -> Callable[[View], View]:
    """Declare what a route needs (a StaffRole, OPEN or SIMULATOR)."""
    if need not in (OPEN, SIMULATOR):
        need = StaffRole(need)

    def mark(view: View) -> View:
        setattr(view, ROLE_ATTR, need)
        return view

    return mark


def declared(view: object) -> StaffRole | str | None:
    """What `view` declared with @requires, or None."""
    return getattr(view, ROLE_ATTR, None)
