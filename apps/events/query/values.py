"""Reading the values of a query: times, relative times, IP addresses and blocks, numbers,
wildcards. Each reader raises QueryError pointing at the value it could not read.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from apps.events.query.errors import QueryError
from apps.events.query.nodes import Value

MAX_WILDCARDS = 8

# --- times -----------------------------------------------------------------------------------

_UNITS = {
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "wk": "weeks", "wks": "weeks", "week": "weeks", "weeks": "weeks",
    "mo": "months", "mon": "months", "month": "months", "months": "months",
    "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years",
}
# Months and years are counted in days: a relative window, not a calendar one.
_DAYS_PER = {"months": 30, "years": 365}
_UNIT_HELP = "a number and a unit: s, m, h, d, w, mo or y (e.g. 15m, 24h, 7d)"

_RELATIVE = re.compile(r"now\s*(?:([+-])\s*(\d+)\s*([a-zA-Z]+))?", re.IGNORECASE)
_SPAN = re.compile(r"(?:last|past)\s+(\d+)\s*([a-zA-Z]+)", re.IGNORECASE)
_ISO = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{1,2})(?:-(?P<day>\d{1,2})"
    r"(?:[T ](?P<hour>\d{1,2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>[.,]\d+)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeSpan:
    """The time a value names: an instant (`now-24h`, a timestamp with fractions), or a whole
    unit from `start` to just before `end` (a day for `2026-01-01`, a minute for `...T14:30`)."""

    start: datetime
    end: datetime

    @property
    def instant(self) -> bool:
        return self.start == self.end


def time_span(value: Value, *, now: datetime) -> TimeSpan:
    """The time an absolute or `now`-relative value names (UTC when no zone is given)."""
    text = value.text.strip()
    lowered = text.lower()
    try:
        if lowered in ("today", "yesterday"):
            midnight = now.astimezone(dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            start = midnight - timedelta(days=1 if lowered == "yesterday" else 0)
            return TimeSpan(start, start + timedelta(days=1))
        if lowered.startswith("now"):
            match = _RELATIVE.fullmatch(text)
            if match is None:
                raise QueryError(f"bad relative time '{text}': write now-<n><unit> with {_UNIT_HELP}", value.position, end=value.end)
            if match.group(1) is None:
                return TimeSpan(now, now)
            delta = duration(match.group(2), match.group(3), value)
            instant = now - delta if match.group(1) == "-" else now + delta
            return TimeSpan(instant, instant)
        return _absolute(text, value)
    except OverflowError:
        raise QueryError(f"the time '{text}' is out of range", value.position, end=value.end) from None


def last_start(value: Value, *, now: datetime) -> datetime:
    """When `last 24h`, `last 7 days`, `past 15m` began."""
    match = _SPAN.fullmatch(value.text.strip())
    if match is None:  # pragma: no cover - the lexer only makes spans of this shape
        raise QueryError(f"bad relative time '{value.text}': write last <n><unit>", value.position, end=value.end)
    try:
        return now - duration(match.group(1), match.group(2), value)
    except OverflowError:
        raise QueryError(f"the relative time '{value.text}' is too long", value.position, end=value.end) from None


def duration(number: str, unit: str, value: Value) -> timedelta:
    name = _UNITS.get(unit) or _UNITS.get(unit.lower())
    if unit == "M":
        name = "months"  # Elastic's spelling: M is months, m minutes.
    if name is None:
        raise QueryError(
            f"bad relative time '{value.text}': '{unit}' is not a unit; use {_UNIT_HELP}"
            + (" (quote the words to search for them as text)" if value.form == "last" else ""),
            value.position, end=value.end,
        )
    amount = int(number)
    try:
        if name in _DAYS_PER:
            return timedelta(days=amount * _DAYS_PER[name])
        return timedelta(**{name: amount})
    except OverflowError:
        raise QueryError(f"the relative time '{value.text}' is too long", value.position, end=value.end) from None


def _absolute(text: str, value: Value) -> TimeSpan:
    match = _ISO.fullmatch(text)
    if match is None:
        raise QueryError(
            f"bad date '{text}': write a date (2026-03-10), a timestamp (2026-03-10T14:30:45Z), "
            "now-24h, today or yesterday",
            value.position, end=value.end,
        )
    parts = match.groupdict()
    fraction = parts["fraction"]
    try:
        start = datetime(
            int(parts["year"]), int(parts["month"] or 1), int(parts["day"] or 1),
            int(parts["hour"] or 0), int(parts["minute"] or 0), int(parts["second"] or 0),
            int((fraction[1:] + "000000")[:6]) if fraction else 0, tzinfo=_zone(parts["zone"]),
        )
        end = start if fraction else _unit_end(start, parts)
        # Both ends must exist in UTC, where the database compares them.
        start.astimezone(dt_timezone.utc), end.astimezone(dt_timezone.utc)
    except (ValueError, OverflowError) as error:
        reason = str(error) if isinstance(error, ValueError) else "out of range"
        raise QueryError(f"bad date '{text}': {reason}", value.position, end=value.end) from None
    return TimeSpan(start, end)


def _unit_end(start: datetime, parts: dict) -> datetime:
    """The end of the unit a value names: the year, month, day, hour, minute or second written."""
    if parts["second"] is not None:
        return start + timedelta(seconds=1)
    if parts["minute"] is not None:
        return start + timedelta(minutes=1)
    if parts["hour"] is not None:
        return start + timedelta(hours=1)
    if parts["day"] is not None:
        return start + timedelta(days=1)
    if parts["month"] is not None:
        return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def _zone(text: str | None) -> dt_timezone:
    if not text or text.upper() == "Z":
        return dt_timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("bad time zone offset")
    return dt_timezone(sign * timedelta(hours=hours, minutes=minutes))


# --- IP addresses ----------------------------------------------------------------------------


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def ip_network(text: str, value: Value) -> IPNetwork:
    """An address (as a /32 or /128), a CIDR block, or an IPv4 wildcard (`203.0.113.*`)."""
    text = text.strip()
    if "*" in text:
        return _wildcard_network(text, value)
    try:
        if "/" in text:
            return ipaddress.ip_network(text, strict=False)
        return ipaddress.ip_network(ipaddress.ip_address(text))
    except ValueError as error:
        what = "CIDR block" if "/" in text else "IP address"
        raise QueryError(f"bad {what} '{text}': {error}", value.position, end=value.end) from None


def _wildcard_network(text: str, value: Value) -> IPNetwork:
    # `203.0.113.*` and `10.*` and `10.*.*.*` are CIDR blocks written another way: the fixed
    # octets come first, the wildcards after.
    octets = text.split(".")
    fixed = []
    for index, octet in enumerate(octets):
        if octet == "*":
            if any(rest != "*" for rest in octets[index:]):
                break
            if len(octets) > 4:
                break
            prefix = 8 * len(fixed)
            return ipaddress.ip_network(f"{'.'.join(fixed + ['0'] * (4 - len(fixed)))}/{prefix}")
        if not octet.isdigit() or int(octet) > 255 or len(octet) > 3:
            break
        fixed.append(str(int(octet)))
    raise QueryError(
        f"bad IP wildcard '{text}': a wildcard stands for whole trailing IPv4 octets, "
        "like 203.0.113.* or 10.*; otherwise use a CIDR block (10.0.0.0/8)",
        value.position, end=value.end,
    )


# --- numbers ---------------------------------------------------------------------------------


def integer(value: Value, field_name: str, *, low: int, high: int) -> int:
    text = value.text.strip()
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise QueryError(f"{field_name} needs a whole number, not '{text[:40]}'", value.position, end=value.end)
    number = int(text)
    if not low <= number <= high:
        raise QueryError(f"{number} is out of range for {field_name}", value.position, end=value.end)
    return number


def json_scalar(text: str):
    """A query value as the JSON scalar it most likely stands for: 5, 2.5, true, null or text."""
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"-?\d{1,15}\.\d{1,15}", text):
        return float(text)
    return {"true": True, "false": False, "null": None}.get(text, text)


# --- wildcards -------------------------------------------------------------------------------


def wildcard_pattern(text: str, value: Value) -> str:
    """`*` runs collapsed to one; refuses patterns with so many wildcards that the database's
    regular-expression engine could give up on them."""
    pattern = re.sub(r"\*+", "*", text)
    if pattern.count("*") > MAX_WILDCARDS:
        raise QueryError(f"a value may hold at most {MAX_WILDCARDS} wildcards (*)", value.position, end=value.end)
    return pattern


def is_prefix(pattern: str) -> bool:
    return pattern.endswith("*") and "*" not in pattern[:-1]


def wildcard_regex(pattern: str, *, anchored: bool = True, any_run: str = ".*") -> str:
    """A PostgreSQL regular expression for a `*` pattern (every other character literal)."""
    body = any_run.join(re.escape(part) for part in pattern.split("*"))
    return f"^{body}$" if anchored else body
