"""Conversions between JS values and plain Python values, all in one place.

Never pass a Python dict or list inside the arguments of a JS API: convert it here.
"""

from js import Date, Intl, Object
from pyodide.ffi import to_js

from intentedge.context import RequestData

_CF_FIELDS = ("country", "region", "city", "timezone")
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_from_entries = Object.fromEntries


def to_js_object(values: dict):
    """A plain JS object from a dict of plain values (headers, options)."""
    return to_js(values, dict_converter=Object.fromEntries)


def bytes_from_buffer(buffer) -> bytes | None:
    """KV's arrayBuffer result as bytes; JS null (a missing key) as None."""
    if buffer is None:
        return None
    return buffer.to_bytes()


def optional_str(value) -> str | None:
    """A JS string, or None for null/undefined and for anything that is not a string."""
    return value if isinstance(value, str) else None


def all_headers(headers) -> dict[str, str]:
    """All of a Headers object's headers (lower-case names) in one conversion: a request reads a
    dozen of them, and each `get` would be calls across the JS boundary of its own. Not for a
    response's Set-Cookie (several headers, one entry)."""
    return _from_entries(headers).to_py()


def headers_from_js(headers, names) -> dict[str, str]:
    """The named headers that are present, as a dict (one `get` each: for a few of a response's headers)."""
    values = {}
    for name in names:
        value = optional_str(headers.get(name))
        if value is not None:
            values[name] = value
    return values


def request_data_from_js(request, method: str, headers: dict[str, str], now_ms: float,
                         offsets: dict[str, tuple[float, float]]) -> RequestData:
    """What core needs of the request; `headers` from all_headers, `offsets` the isolate's (local_time)."""
    cf = cf_from_js(request.cf)
    hour, weekday = local_time(cf.get("timezone"), now_ms, offsets)
    return RequestData(url=request.url, method=method, headers=headers, cf=cf, now=now_ms / 1000.0,
                       local_hour=hour, local_weekday=weekday)


def cf_from_js(cf) -> dict:
    """The parts of `request.cf` core uses (absent in some environments)."""
    if cf is None:
        return {}
    values = {}
    for name in _CF_FIELDS:
        value = getattr(cf, name, None)
        if isinstance(value, str):
            values[name] = value
    bot_management = getattr(cf, "botManagement", None)
    if bot_management is not None:
        values["botManagement"] = {"verifiedBot": getattr(bot_management, "verifiedBot", None) is True}
    return values


def local_time(timezone: str | None, now_ms: float,
               offsets: dict[str, tuple[float, float]]) -> tuple[int | None, int | None]:
    """(hour, weekday: 0 = Monday) in `timezone`. The Worker's Python has no timezone database,
    so the offset comes from JS Intl, cached in `offsets` (timezone -> (UTC offset in ms, valid
    until)) until the next full hour, when offsets change: one Intl call per timezone and hour."""
    if not timezone:
        return None, None
    cached = offsets.get(timezone)
    if cached is None or now_ms >= cached[1]:
        try:
            offset = _utc_offset_ms(timezone, now_ms)
        except Exception:  # an unknown timezone name
            return None, None
        cached = offsets[timezone] = (offset, (now_ms // _HOUR_MS + 1) * _HOUR_MS)
    local_ms = now_ms + cached[0]
    return int(local_ms // _HOUR_MS % 24), int((local_ms // _DAY_MS + 3) % 7)   # 1970-01-01 was a Thursday


def _utc_offset_ms(timezone: str, now_ms: float) -> float:
    clock = Intl.DateTimeFormat.new("en-US", to_js_object({
        "timeZone": timezone, "hourCycle": "h23", "year": "numeric", "month": "numeric", "day": "numeric",
        "hour": "numeric", "minute": "numeric"}))
    parts = {part.type: int(part.value) for part in clock.formatToParts(Date.new(now_ms)) if part.type != "literal"}
    local = Date.UTC(parts["year"], parts["month"] - 1, parts["day"], parts["hour"], parts["minute"])
    return local - (now_ms // 60_000) * 60_000
