"""How numbers, intervals, counts and dates read in the report; every formatter accepts junk."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: Shown where a value is missing or undefined.
MISSING = "—"
#: Counts from 1 to 10 are withheld in anything shared (CMS small-cell rule).
SMALL_CELL_LIMIT = 11
SMALL_CELL = f"<{SMALL_CELL_LIMIT}"


def as_float(x: Any) -> float | None:
    """``x`` as a finite float, or ``None``: booleans, strings, nan and inf are not numbers here."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def as_int(x: Any) -> int | None:
    """``x`` as an int when it is a whole number, else ``None``."""
    value = as_float(x)
    if value is None or value != int(value):
        return None
    return int(value)


def as_mapping(x: Any) -> Mapping[str, Any]:
    """``x`` when it is a mapping, else an empty one."""
    return x if isinstance(x, Mapping) else {}


def as_list(x: Any) -> list[Any]:
    """``x`` as a list when it is a sequence (not a string), else an empty list."""
    if isinstance(x, Sequence) and not isinstance(x, str | bytes):
        return list(x)
    return []


def as_text(x: Any) -> str | None:
    """``x`` as a non-empty string without control characters, or ``None``."""
    if x is None or isinstance(x, Mapping | list | tuple):
        return None
    return printable(str(x)).strip() or None


def printable(text: str) -> str:
    """``text`` without control characters, which XML (and so inline SVG) cannot hold."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\t\n" else " " for ch in text)


def number(x: Any, digits: int = 3) -> str:
    """A number with a fixed number of decimals, e.g. ``0.781`` or ``−0.016`` (a true minus)."""
    value = as_float(x)
    if value is None:
        return MISSING
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        # "-0.000" is zero; other negatives get a typographic minus sign.
        return text[1:] if float(text) == 0 else "−" + text[1:]
    return text


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """``0.772–0.790``; with a negative bound ``−0.016 to 0.043``; empty when a bound is missing."""
    lo, hi = as_float(low), as_float(high)
    if lo is None or hi is None:
        return ""
    separator = " to " if min(lo, hi) < 0 else "–"
    return f"{number(lo, digits)}{separator}{number(hi, digits)}"


def metric(m: Any, digits: int = 3) -> str:
    """A metric object as ``0.781 (0.772–0.790)``; the interval is left out when unknown."""
    obj = as_mapping(m)
    value = number(obj.get("value"), digits)
    if value == MISSING:
        return MISSING
    ci = interval(obj.get("ci_low"), obj.get("ci_high"), digits)
    return f"{value} ({ci})" if ci else value


def metric_value(m: Any) -> float | None:
    """The point estimate of a metric object, or ``None``."""
    return as_float(as_mapping(m).get("value"))


def p_value(p: Any) -> str:
    """A p-value: ``<0.001`` below a thousandth, else three decimals."""
    value = as_float(p)
    if value is None:
        return MISSING
    if value < 0.001:
        return "<0.001"
    return number(min(value, 1.0))


def percent(x: Any, digits: int = 1) -> str:
    """A proportion as a percentage, e.g. ``12.3%``."""
    value = as_float(x)
    return MISSING if value is None else f"{100 * value:.{digits}f}%"


def threshold(t: Any) -> str:
    """A decision threshold with trailing zeros dropped: ``0.1``, ``0.15``, ``0.025``."""
    value = as_float(t)
    if value is None:
        return MISSING
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def count(k: Any) -> str:
    """A count with thousands separators; counts from 1 to 10 read ``<11``."""
    value = as_int(k)
    if value is None:
        return MISSING
    if 0 < value < SMALL_CELL_LIMIT:
        return SMALL_CELL
    return f"{value:,}"


def plain_count(k: Any) -> str:
    """A count that is not about patients (a sample-size requirement): never withheld."""
    value = as_int(k)
    return MISSING if value is None else f"{value:,}"


def timestamp(iso: Any) -> str:
    """An ISO 8601 time as ``22 Nov 2026, 14:01 UTC``; unparseable text is shown as given."""
    text = as_text(iso)
    if text is None:
        return MISSING
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return f"{moment:%d %b %Y, %H:%M} UTC"
    return f"{moment:%d %b %Y, %H:%M}"


def window(start: Any, unit: Any) -> str:
    """A time window by its start date: ``Jan 2025`` for a month, ``2025 Q1`` for a quarter."""
    text = as_text(start)
    if text is None:
        return MISSING
    try:
        day = datetime.fromisoformat(text).date()
    except ValueError:
        return text
    match as_text(unit):
        case "month":
            return f"{day:%b %Y}"
        case "quarter":
            return f"{day.year} Q{(day.month - 1) // 3 + 1}"
        case "year":
            return str(day.year)
        case "week":
            return f"Week of {day:%d %b %Y}"
        case _:
            return day.isoformat()


def capitalised(text: str) -> str:
    """``calibration slope`` -> ``Calibration slope`` (the rest is left alone)."""
    return text[:1].upper() + text[1:]


def humanise(key: str) -> str:
    """``missing_score`` -> ``Missing score``."""
    words = key.replace("_", " ").strip()
    return capitalised(words) if words else key
