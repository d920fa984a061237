"""Quiet hours: when bulk texts (broadcasts) wait; one-to-one texts never do."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from ...config import Settings
from ...models import utcnow


def quiet_until(settings: Settings, now: datetime | None = None) -> datetime | None:
    """When the current quiet hours end (UTC), or None if bulk texts may go now."""
    if settings.quiet_hours is None:
        return None
    start, end = settings.quiet_hours
    if start == end:
        return None
    zone = ZoneInfo(settings.timezone)
    local = (now or utcnow()).astimezone(zone)
    t = local.time().replace(tzinfo=None)
    # A window like 21:00-08:00 crosses midnight.
    quiet = start <= t < end if start < end else t >= start or t < end
    if not quiet:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, dtime(end.hour, end.minute), tzinfo=zone).astimezone(
        (now or utcnow()).tzinfo
    )
