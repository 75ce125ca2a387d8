"""Calendar windows of the scheduler (UTC days, ISO weeks from Monday, calendar months). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CATCH_UP = {"day": 7, "week": 4, "month": 2}
"""How many closed windows back a scheduler plans, so a stopped service catches up on restart."""


def window_start(moment: datetime, grain: str) -> datetime:
    """The start of the ``grain`` window containing ``moment``."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown grain {grain!r}")


def next_start(start: datetime, grain: str) -> datetime:
    """The start of the window after the one starting at ``start``."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    if grain == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    raise ValueError(f"unknown grain {grain!r}")


def previous_start(start: datetime, grain: str) -> datetime:
    """The start of the window before the one starting at ``start``."""
    if grain == "month":
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(days=1 if grain == "day" else 7)


def closed_windows(
    grain: str, now: datetime, since: datetime, count: int | None = None
) -> list[tuple[datetime, datetime]]:
    """The last ``count`` (default :data:`CATCH_UP`) windows ended by ``now``, oldest first,
    leaving out windows that ended before ``since`` (e.g. before the deployment existed)."""
    limit = CATCH_UP[grain] if count is None else count
    windows: list[tuple[datetime, datetime]] = []
    end = window_start(now, grain)
    while len(windows) < limit:
        start = previous_start(end, grain)
        if end <= since:
            break
        windows.append((start, end))
        end = start
    return windows[::-1]
