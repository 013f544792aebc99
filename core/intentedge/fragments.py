"""Fragments: atomic, parameterized blocks of content injected into a slot, and how they go in.

A fragment's content is always declared as HTML or as text (text is escaped by the
rewriter); there is no default, so a marketer never ships markup as text by accident.

Content is a template: `{city}`, `{cart.value:.2f}`, `{params.discount}` name values of
the attribute map (dot paths) with an optional format spec; `{{` and `}}` are literal
braces. Templates are compiled once; in HTML every value is escaped on render. A
parameter that is missing renders nothing at all: the caller falls back.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from intentedge.errors import IntentEdgeError


class ContentType(str, Enum):
    HTML = "html"
    TEXT = "text"


class Operation(str, Enum):
    """Where the fragment goes relative to the slot element."""

    INNER = "inner"        # replace the element's children (the default)
    APPEND = "append"      # after the element's last child
    PREPEND = "prepend"    # before the element's first child
    BEFORE = "before"      # before the element itself
    AFTER = "after"        # after the element itself
    REPLACE = "replace"    # replace the whole element


class TemplateError(IntentEdgeError, ValueError):
    """A template that cannot be compiled; the message says where."""


class MissingParameter(IntentEdgeError, LookupError):
    """A template parameter has no usable value for this request."""


# A Python format spec with a bounded width and precision: `{city:>99999999}` would render 100 MB.
_PARAM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
                    r"(?::((?:.?[<>=^])?[+\- ]?#?0?\d{0,3}[,_]?(?:\.\d{1,2})?[bcdeEfFgGnosxX%]?))?\Z")


@dataclass(frozen=True)
class Param:
    path: tuple[str, ...]
    spec: str = ""

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Param, ...]

    @property
    def params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.parts if isinstance(p, Param))

    def render(self, lookup: Callable[[tuple[str, ...]], Any], escape: bool) -> str:
        """Fill the parameters; raise MissingParameter if one has no usable value."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            text = _format(lookup(part.path), part)
            out.append(html.escape(text, quote=True) if escape else text)
        return "".join(out)


def compile_template(text: str) -> Template:
    parts: list[str | Param] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "{}" and text[i + 1:i + 2] == char:
            literal.append(char)
            i += 2
        elif char == "}":
            raise TemplateError(f"unmatched '}}' at offset {i} (write '}}}}' for a literal brace)")
        elif char == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise TemplateError(f"unclosed '{{' at offset {i} (write '{{{{' for a literal brace)")
            match = _PARAM.match(text[i + 1:end])
            if not match:
                raise TemplateError(f"bad parameter {{{text[i + 1:end]}}} at offset {i}: "
                                    "expected {name}, {a.b.c} or {name:format}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Param(tuple(match.group(1).split(".")), match.group(2) or ""))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal or not parts:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _format(value: Any, param: Param) -> str:
    if value is None or value == "" or isinstance(value, (dict, list, tuple)):
        raise MissingParameter(param.name)
    if isinstance(value, bool):
        value = "true" if value else "false"
    if param.spec:
        try:
            return format(value, param.spec)
        except (ValueError, TypeError, OverflowError):  # {n:c} with n beyond U+10FFFF: OverflowError
            raise MissingParameter(param.name) from None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lookup_path(data: dict, path: tuple[str, ...]) -> Any:
    """`data["a"]["b"]` for path ("a", "b"), or None where any step is missing."""
    value: Any = data
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class Fragment:
    id: str
    content: str
    content_type: ContentType
    operation: Operation = Operation.INNER
    template: Template | None = None

    def __post_init__(self) -> None:
        if self.template is None:
            object.__setattr__(self, "template", compile_template(self.content))

    @property
    def is_html(self) -> bool:
        return self.content_type is ContentType.HTML

    def render(self, values: dict) -> str:
        """The content with parameters filled from `values`; MissingParameter if one is absent."""
        return self.template.render(lambda path: lookup_path(values, path), escape=self.is_html)
