"""Timezones as UTC offsets, and the working-hours overlap of two offsets."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from matching.domain.engine.errors import InvalidTimezoneError

_OFFSET = re.compile(r"^(?:UTC|GMT|Z)?\s*(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$", re.IGNORECASE)
_MAX_OFFSET_HOURS = 14.0
_SECONDS_PER_HOUR = 3600.0
_HOURS_PER_DAY = 24.0
# Two dates half a year apart: the smaller offset of the two is standard time in both
# hemispheres (daylight saving only ever adds).
_STANDARD_TIME_PROBES = (date(2025, 1, 15), date(2025, 7, 15))


def utc_offset_hours(employee_id: str, value: str | float, reference: date | None) -> float:
    """The offset east of UTC in hours, for an IANA name or an explicit offset."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        offset = float(value)
    elif isinstance(value, str):
        offset = _parse_text(employee_id, value.strip(), reference)
    else:
        raise InvalidTimezoneError(employee_id, value)
    if not -_MAX_OFFSET_HOURS <= offset <= _MAX_OFFSET_HOURS:
        raise InvalidTimezoneError(employee_id, value)
    return offset


def _parse_text(employee_id: str, text: str, reference: date | None) -> float:
    match = _OFFSET.match(text)
    if match and text:
        sign, hours, minutes = match.groups()
        if sign is None:
            return 0.0
        magnitude = int(hours) + int(minutes or 0) / 60.0
        return -magnitude if sign == "-" else magnitude
    try:
        zone = ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidTimezoneError(employee_id, text) from error
    probes = (reference,) if reference is not None else _STANDARD_TIME_PROBES
    offsets = []
    for day in probes:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).astimezone(zone)
        offsets.append((noon.utcoffset() or timedelta()).total_seconds() / _SECONDS_PER_HOUR)
    return min(offsets)


def overlap_hours(
    offsets_a: npt.NDArray[np.float64],
    offsets_b: npt.NDArray[np.float64],
    working_hours: tuple[float, float],
) -> npt.NDArray[np.float64]:
    """Hours both people are in their working day, for every (a, b) combination.

    Everyone works the same local hours, so a working day is an arc of length L on the
    24-hour UTC circle starting at ``start - offset``. Two arcs whose starts differ by d
    (mod 24) share ``max(0, L - d) + max(0, L - 24 + d)`` hours.
    """
    start, end = working_hours
    length = end - start
    shift = np.mod(np.subtract.outer(offsets_a, offsets_b), _HOURS_PER_DAY)
    overlap: npt.NDArray[np.float64] = np.maximum(0.0, length - shift) + np.maximum(
        0.0, length - _HOURS_PER_DAY + shift
    )
    return overlap
