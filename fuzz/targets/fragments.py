"""Fuzz target of fragment templates (intentedge.fragments): fragments.render."""

from __future__ import annotations

import copy
import functools
import html
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from intentedge.fragments import (
    ContentType,
    Fragment,
    MissingParameter,
    Param,
    Template,
    TemplateError,
    compile_template,
    lookup_path,
)

from fuzz.targets.registry import target
from fuzz.targets.strategies import mostly

_PARAM_KEYS = ["city", "cart", "value", "params", "discount", "a", "_b", "0"]   # "0" cannot start a path
param_paths = st.lists(st.sampled_from(_PARAM_KEYS), min_size=1, max_size=3).map(".".join)


def _rarely(*options: str) -> st.SearchStrategy:
    """A format spec component: mostly left out, since each one rules out some types."""
    return st.sampled_from(("",) * 2 * len(options) + options)


format_specs = st.builds(
    "{}{}{}{}{}{}{}{}".format,
    st.just("") | st.builds(str.__add__, st.sampled_from(["", "*", " ", "0", "<", "}"]), st.sampled_from("<>=^")),
    _rarely("+", "-", " "), _rarely("#"), _rarely("0"),
    st.just("") | st.integers(0, 999).map(str), _rarely(",", "_"),
    _rarely(".0", ".2") | st.integers(0, 99).map(".{}".format), st.sampled_from(["", *"bcdeEfFgGnosxX%"]),
)
_COMMON_SPECS = st.sampled_from(["c", "d", "x", "b", "o", "n", ",", ".2f", "08.2f", ">8", "^5", "e", "G", "%", "s"])
param_texts = st.builds(lambda path, spec: "{" + path + ("" if spec is None else ":" + spec) + "}",
                        param_paths, mostly(st.none() | _COMMON_SPECS | format_specs, st.text(max_size=4)))
# Markup too: HTML fragments go through config's markup checks (html.parser) when a bundle compiles.
_TEMPLATE_BITS = ["{{", "}}", "{", "}", "<", ">", '"', "'", "&", "=", " ", "&amp;", "<b>", "</b>", "<br>", "</p>",
                  "<a href=", "<img src=", " onclick=", " style=", "<script>", "</script>", "<!--", "-->", "<!",
                  "<![", "<![CDATA[", "]]>", "<?", "</", "<html>", "javascript:"]
template_texts = st.lists(mostly(param_texts, st.text(max_size=6) | st.sampled_from(_TEMPLATE_BITS), odds=2),
                          min_size=1, max_size=8).map("".join)

_HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='x", "&lt;", "&",
            "{city}", "{{", "", "\x00", "\u2028"]
template_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**64, 2**64) | st.floats()
                    | st.text(max_size=12) | st.sampled_from(_HOSTILE))
template_values = st.recursive(
    template_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_PARAM_KEYS), inner, max_size=4),
    max_leaves=12,
)


def _put(values: dict, path: tuple[str, ...], value: Any) -> None:
    """values[a][b]... = value, replacing whatever is in the way."""
    for key in path[:-1]:
        if not isinstance(values.get(key), dict):
            values[key] = {}
        values = values[key]
    values[path[-1]] = value


@st.composite
def templates_with_values(draw) -> tuple[str, dict]:
    """Template text and the values it is rendered with: most of its parameters have one."""
    text = draw(template_texts)
    values = copy.deepcopy(draw(st.dictionaries(st.sampled_from(_PARAM_KEYS), template_values, max_size=4)))
    try:
        params = compile_template(text).params
    except TemplateError:
        return text, values
    for param in params:
        if draw(st.integers(0, 9)):
            _put(values, param.path, draw(_VALUES_FOR_TYPE.get(param.spec[-1:], _VALUES_FOR_TEXT)))
    return text, values


# Mostly values of the type a format spec formats, so that most specs render rather than go missing.
# Built once: strategies made during a draw can differ between runs (one_of merges cached ones).
_INTEGER_VALUES = mostly(st.integers() | st.integers(-2**64, 2**64) | st.integers(-10, 0x110010), template_scalars)
_NUMBER_VALUES = mostly(st.floats() | st.integers(), template_scalars)
_VALUES_FOR_TYPE = {**dict.fromkeys("bcdoxXn", _INTEGER_VALUES), **dict.fromkeys("eEfFgG%", _NUMBER_VALUES)}
_VALUES_FOR_TEXT = mostly(st.text(max_size=12) | st.sampled_from(_HOSTILE) | st.integers() | st.floats(),
                          template_scalars)


def template_source(template: Template) -> str:
    """Template text that compiles to `template`."""
    return "".join(part.replace("{", "{{").replace("}", "}}") if isinstance(part, str)
                   else "{" + part.name + (":" + part.spec if part.spec else "") + "}"
                   for part in template.parts)


def render_or_none(render: Callable[..., str], *args: Any) -> str | None:
    """render(*args), or None for MissingParameter, the one error rendering may raise."""
    try:
        text = render(*args)
    except MissingParameter:
        return None
    assert isinstance(text, str)
    return text


@target("fragments.render", text_and_values=templates_with_values(), content_type=st.sampled_from(ContentType))
def fragments_render(text_and_values: tuple[str, dict], content_type: ContentType) -> None:
    """Compiling raises only TemplateError, rendering only MissingParameter; escaped output is the
    template's own text plus each value escaped, so every '<' or '"' in it is the template's."""
    text, values = text_and_values
    try:
        template = compile_template(text)
    except TemplateError:
        return
    assert compile_template(template_source(template)) == template
    lookup = functools.partial(lookup_path, values)
    rendered = render_or_none(template.render, lookup, True)
    raw = render_or_none(template.render, lookup, False)
    pieces = [render_or_none(Template((part,)).render, lookup, False) if isinstance(part, Param) else part
              for part in template.parts]
    if None in pieces:
        assert rendered is None and raw is None
    else:
        assert raw == "".join(pieces)
        escaped = [html.escape(piece, quote=True) if isinstance(part, Param) else piece
                   for part, piece in zip(template.parts, pieces, strict=True)]
        assert rendered == "".join(escaped)
        for part, piece in zip(template.parts, escaped, strict=True):
            assert not isinstance(part, Param) or not set(piece) & set("<>\"'"), piece
    fragment = Fragment("fuzz", text, content_type)
    assert render_or_none(fragment.render, values) == (rendered if fragment.is_html else raw)
