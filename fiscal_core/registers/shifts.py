"""When a register's shift closes (issue 4 item 4): pure schedule arithmetic, times in and times out.

Rules
- A shift opens right before a register's first receipt (the fleet puts the open report (2) in front of the
  batch). It closes at the first local ``close_at`` after it opened (default 23:55 in the time zone of the place
  of settlement), and always before the 24-hour limit of the ФН (ShiftExpired, 0x16): at ``max_age_s`` of age
  (default 23 h 50 min) when that comes first. ``close_at=None`` leaves only the age rule.
- The registers of a group close one after another, ``stagger_s`` apart over ``slots`` positions (default 10 s ×
  30: 23:55:00 … 23:59:50), so a group never has all its registers out of rotation at once.
- A register serving at a real pace (``hardware``) leaves rotation ``lead_s`` before its close so that its
  queue can finish in the old shift; an ``emulated`` one finishes any queue within one pump, so it is out of
  rotation only during the pump that closes. What is left at the close time is routed to the others (never
  failed), the close report is issued, and the register comes back at once (its next receipt opens the next
  shift).
- Time zones are Russia's places of settlement, UTC+2 (Europe/Kaliningrad) to UTC+12 (Asia/Kamchatka), by
  zoneinfo name or as ``UTC+N``; Russia has had no daylight saving since 2014, but the rules come from the
  zone database all the same.
- Consequence of the two rules (kept, stated): a shift reopened just after the daily close cannot live until
  the next daily close (that is 24 h away, more than ``max_age_s``), so a register busy around the clock closes
  that shift at its age limit a few minutes before ``close_at`` and then the short shift after it at
  ``close_at``: two close reports a day, both legal.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

__all__ = [
    "RUSSIAN_ZONES",
    "ShiftPolicy",
    "check_zone",
    "next_close",
    "parse_close_at",
    "utc_offset_hours",
    "zone",
]

#: One zone per UTC offset of Russia's places of settlement (hours → zoneinfo name).
RUSSIAN_ZONES: dict[int, str] = {
    2: "Europe/Kaliningrad",
    3: "Europe/Moscow",
    4: "Europe/Samara",
    5: "Asia/Yekaterinburg",
    6: "Asia/Omsk",
    7: "Asia/Krasnoyarsk",
    8: "Asia/Irkutsk",
    9: "Asia/Yakutsk",
    10: "Asia/Vladivostok",
    11: "Asia/Magadan",
    12: "Asia/Kamchatka",
}

_ZONES: dict[str, dt.tzinfo] = {}


@dataclass(frozen=True, slots=True)
class ShiftPolicy:
    """The shift rules of a fleet (see the module rules); one policy, each register's own zone and slot."""

    close_at: dt.time | None = dt.time(23, 55)
    max_age_s: int = 23 * 3600 + 50 * 60
    stagger_s: int = 10
    slots: int = 30
    lead_s: float = 5.0

    def __post_init__(self) -> None:
        if not 3600 <= self.max_age_s < 24 * 3600:
            raise ValueError("max_age_s must be at least an hour and under the 24-hour limit")
        if self.stagger_s < 0 or self.slots < 1 or self.lead_s < 0:
            raise ValueError("stagger_s ≥ 0, slots ≥ 1 and lead_s ≥ 0 are required")

    def offset(self, position: int) -> int:
        """The stagger of the register at ``position`` in its group, in seconds after ``close_at``."""
        return (position % self.slots) * self.stagger_s


def parse_close_at(text: str | None) -> dt.time | None:
    """``"HH:MM"`` or ``"HH:MM:SS"`` local time; ``None``, ``""``, ``"none"`` or ``"off"``: no daily close."""
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"shift close time {text!r} is not HH:MM") from None


def zone(name: str) -> dt.tzinfo:
    found = _ZONES.get(name)
    if found is None:
        if name.startswith(("UTC+", "UTC-")):
            found = dt.timezone(dt.timedelta(hours=int(name[3:])))
        else:
            found = zoneinfo.ZoneInfo(name)
        _ZONES[name] = found
    return found


def utc_offset_hours(name: str, utc: float) -> float:
    offset = dt.datetime.fromtimestamp(utc, zone(name)).utcoffset()
    assert offset is not None
    return offset.total_seconds() / 3600


def check_zone(name: str, utc: float) -> str:
    """``name`` when it is a known zone of a Russian place of settlement (UTC+2 … UTC+12 at ``utc``)."""
    try:
        hours = utc_offset_hours(name, utc)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; e.g. {', '.join(RUSSIAN_ZONES.values())}") from None
    if not 2 <= hours <= 12:
        raise ValueError(f"time zone {name!r} is UTC{hours:+g}; places of settlement in Russia are UTC+2 … UTC+12")
    return name


def next_close(opened_utc: float, zone_name: str, policy: ShiftPolicy, position: int = 0) -> float:
    """UTC seconds at which the shift opened at ``opened_utc`` must be closed (module rules)."""
    cap = opened_utc + policy.max_age_s
    if policy.close_at is None:
        return cap
    tz = zone(zone_name)
    offset = policy.offset(position)
    day = dt.datetime.fromtimestamp(opened_utc, tz).date()
    while True:
        # Recombined per date, not "+ 24 h", so a zone's change of offset lands on the right wall-clock time.
        at = dt.datetime.combine(day, policy.close_at, tz).timestamp() + offset
        if at > opened_utc:
            return min(at, cap)
        day += dt.timedelta(days=1)
