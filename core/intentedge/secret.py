"""Secrets that hide themselves (starlette's `datastructures.Secret`)."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)


class Secret(Generic[T]):
    """A key or token that never shows itself in a repr, a str() or an f-string; `reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: T):
        self._value = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__
