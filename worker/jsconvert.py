"""Conversions between JS values and plain Python values, all in one place.

Never pass a Python dict or list inside the arguments of a JS API: convert it here.
"""

from js import Object
from pyodide.ffi import to_js


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
