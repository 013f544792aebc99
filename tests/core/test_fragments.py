"""Fragments: templates ({a.b:fmt}, {{ }}), rendering (HTML values escaped, text left to the rewriter),
format specs, and MissingParameter for values a request does not have."""

from __future__ import annotations

import pytest

from intentedge.fragments import (
    ContentType,
    Fragment,
    MissingParameter,
    Operation,
    Param,
    Template,
    TemplateError,
    compile_template,
    lookup_path,
)


def html(content: str, **values) -> str:
    return Fragment("f", content, ContentType.HTML).render(values)


def text(content: str, **values) -> str:
    return Fragment("f", content, ContentType.TEXT).render(values)


# -- compiling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, parts",
    [
        pytest.param("", ("",), id="empty"),
        pytest.param("<p>Hi</p>", ("<p>Hi</p>",), id="literal"),
        pytest.param("Hi {city}!", ("Hi ", Param(("city",)), "!"), id="one-param"),
        pytest.param("{cart.value:,.2f}", (Param(("cart", "value"), ",.2f"),), id="dot-path-and-spec"),
        pytest.param("{a}{b}", (Param(("a",)), Param(("b",))), id="adjacent"),
        pytest.param("{a.b.c_d}", (Param(("a", "b", "c_d")),), id="deep-path"),
        # path steps after the first may start with a digit
        pytest.param("{a.0}", (Param(("a", "0")),), id="digit-step"),
        pytest.param("{a:}", (Param(("a",)),), id="empty-spec"),
        pytest.param("{{literal}}", ("{literal}",), id="escaped-braces"),
        pytest.param("{{{a}}}", ("{", Param(("a",)), "}"), id="escaped-around-param"),
        pytest.param("{a}}}", (Param(("a",)), "}"), id="escaped-after-param"),
        pytest.param("a {{ b }} c", ("a { b } c",), id="spaced-escapes"),
    ],
)
def test_compile_template(source, parts):
    assert compile_template(source) == Template(parts)


@pytest.mark.parametrize(
    "source, message",
    [
        pytest.param("{", "unclosed '{' at offset 0 (write '{{' for a literal brace)", id="lone-open"),
        pytest.param("Hi {city", "unclosed '{' at offset 3 (write '{{' for a literal brace)", id="unclosed"),
        pytest.param("}", "unmatched '}' at offset 0 (write '}}' for a literal brace)", id="lone-close"),
        pytest.param("50 % off}", "unmatched '}' at offset 8 (write '}}' for a literal brace)", id="unmatched"),
        pytest.param("{}", "bad parameter {} at offset 0: expected {name}, {a.b.c} or {name:format}", id="empty"),
        pytest.param("x{a b}", "bad parameter {a b} at offset 1: expected {name}, {a.b.c} or {name:format}",
                     id="space"),
        # positional fields of str.format are not parameters
        pytest.param("{0}", "bad parameter {0} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="positional"),
        pytest.param("{a.}", "bad parameter {a.} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="trailing-dot"),
        pytest.param("{.a}", "bad parameter {.a} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="leading-dot"),
        pytest.param("{a[0]}", "bad parameter {a[0]} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="indexing"),
        pytest.param("{a!r}", "bad parameter {a!r} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="conversion"),
        # nested fields in a spec would format with request data twice
        pytest.param("{a:{w}}", "bad parameter {a:{w} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="nested-spec"),
        pytest.param("{a:" + "9" * 25 + "}", "bad parameter {a:" + "9" * 25 + "} at offset 0: expected {name}, "
                     "{a.b.c} or {name:format}", id="spec-too-long"),
        # width and precision are bounded: `{city:>99999999}` would render 100 MB
        pytest.param("{city:>99999999}", "bad parameter {city:>99999999} at offset 0: expected {name}, "
                     "{a.b.c} or {name:format}", id="width-too-wide"),
        pytest.param("{v:1000}", "bad parameter {v:1000} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="width-4-digits"),
        pytest.param("{v:.100f}", "bad parameter {v:.100f} at offset 0: expected {name}, {a.b.c} or {name:format}",
                     id="precision-3-digits"),
    ],
)
def test_bad_templates(source, message):
    with pytest.raises(TemplateError) as caught:
        compile_template(source)
    assert str(caught.value) == message


def test_fragment_compiles_its_template_once_on_construction():
    fragment = Fragment("f", "Hi {city}", ContentType.HTML)
    assert fragment.template == Template(("Hi ", Param(("city",))))
    assert [p.name for p in fragment.template.params] == ["city"]
    with pytest.raises(TemplateError):
        Fragment("f", "Hi {city", ContentType.HTML)


def test_content_type_and_operation():
    assert Fragment("f", "x", ContentType.HTML).is_html is True
    assert Fragment("f", "x", ContentType.TEXT).is_html is False
    assert Fragment("f", "x", ContentType.TEXT).operation is Operation.INNER  # the default
    assert [op.value for op in Operation] == ["inner", "append", "prepend", "before", "after", "replace"]
    assert [ct.value for ct in ContentType] == ["html", "text"]


# -- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "city, rendered",
    [
        pytest.param("Lyon", "<p>Pickup in Lyon</p>", id="plain"),
        pytest.param("<script>alert(1)</script>", "<p>Pickup in &lt;script&gt;alert(1)&lt;/script&gt;</p>",
                     id="script-tag"),
        pytest.param("A & B", "<p>Pickup in A &amp; B</p>", id="ampersand"),
        # quotes too: the value may sit in an attribute
        pytest.param('" onmouseover="x', "<p>Pickup in &quot; onmouseover=&quot;x</p>", id="double-quote"),
        pytest.param("O'Fallon", "<p>Pickup in O&#x27;Fallon</p>", id="single-quote"),
        # braces in a value are data, not template syntax
        pytest.param("{city}", "<p>Pickup in {city}</p>", id="braces-in-value"),
    ],
)
def test_html_fragments_escape_every_value(city, rendered):
    assert html("<p>Pickup in {city}</p>", city=city) == rendered


def test_html_escaping_covers_attributes_and_the_fragments_own_markup_stays():
    rendered = html('<a href="/products/{product.id}/" title="{product.name}">{product.name}</a>',
                    product={"id": 'x"><script>', "name": "<b>Alpha</b>"})
    assert rendered == ('<a href="/products/x&quot;&gt;&lt;script&gt;/" title="&lt;b&gt;Alpha&lt;/b&gt;">'
                        "&lt;b&gt;Alpha&lt;/b&gt;</a>")


def test_text_fragments_are_not_escaped_here():
    # the rewriter inserts text as text; escaping here would show "&lt;" to the visitor
    assert text("Pickup in {city} & more <soon>", city="<Lyon>") == "Pickup in <Lyon> & more <soon>"


@pytest.mark.parametrize(
    "source, values, rendered",
    [
        pytest.param("{v:,.2f}", {"v": 1234.5}, "1,234.50", id="thousands-and-cents"),
        pytest.param("${v:,.0f}", {"v": 2499.0}, "$2,499", id="no-decimals"),
        pytest.param("{v:>6}", {"v": "ab"}, "    ab", id="align"),
        pytest.param("{v:03d}", {"v": 7}, "007", id="zero-pad"),
        pytest.param("{v:.0%}", {"v": 0.25}, "25%", id="percent"),
        # whole floats print without ".0": prices arrive from msgpack as floats
        pytest.param("{v}", {"v": 2499.0}, "2499", id="whole-float"),
        pytest.param("{v}", {"v": 19.99}, "19.99", id="float"),
        pytest.param("{v}", {"v": 0}, "0", id="zero-is-a-value"),
        pytest.param("{v}", {"v": True}, "true", id="bool"),
        pytest.param("{v} {v}", {"v": "x"}, "x x", id="repeated"),
        pytest.param("{a.b.c}", {"a": {"b": {"c": "deep"}}}, "deep", id="deep-path"),
        pytest.param("{{v}} {v}", {"v": "x"}, "{v} x", id="literal-braces"),
        # the widest width and precision a spec may have
        pytest.param("{v:>999}", {"v": "ab"}, " " * 997 + "ab", id="widest-width"),
        pytest.param("{v:.99f}", {"v": 0.5}, "0.5" + "0" * 98, id="longest-precision"),
    ],
)
def test_rendering(source, values, rendered):
    assert text(source, **values) == rendered


@pytest.mark.parametrize(
    "source, values, missing",
    [
        pytest.param("Hi {city}", {}, "city", id="absent"),
        pytest.param("Hi {city}", {"city": None}, "city", id="none"),
        # an empty string is no value either: "Pickup in ." is worse than the fallback
        pytest.param("Hi {city}", {"city": ""}, "city", id="empty-string"),
        pytest.param("{v:>6}", {"v": ""}, "v", id="empty-string-with-spec"),
        pytest.param("{product.name}", {"product": {}}, "product.name", id="absent-in-map"),
        # a step through something that is not a map
        pytest.param("{product.name}", {"product": "alpha"}, "product.name", id="through-a-string"),
        pytest.param("{product}", {"product": {"name": "x"}}, "product", id="a-map"),
        pytest.param("{items}", {"items": ["a"]}, "items", id="a-list"),
        # a format that does not fit the value is no value at all
        pytest.param("{v:.2f}", {"v": "abc"}, "v", id="spec-mismatch"),
        pytest.param("{v:d}", {"v": 1.5}, "v", id="int-spec-on-float"),
        pytest.param("{v:.2f}", {"v": True}, "v", id="number-spec-on-bool"),
        # format(v, "c") raises OverflowError beyond U+10FFFF and below 0 (found by fuzz/)
        pytest.param("{v:c}", {"v": 0x110000}, "v", id="char-spec-beyond-unicode"),
        pytest.param("{v:c}", {"v": -1}, "v", id="char-spec-negative"),
        pytest.param("{a} {b}", {"a": "x"}, "b", id="second-of-two"),
    ],
)
def test_missing_parameters(source, values, missing):
    for render in (html, text):
        with pytest.raises(MissingParameter) as caught:
            render(source, **values)
        assert caught.value.args == (missing,)


def test_a_literal_fragment_ignores_values():
    assert html("<p>{{no params}}</p>") == "<p>{no params}</p>"
    assert html("<p>static</p>", city="<x>") == "<p>static</p>"


@pytest.mark.parametrize(
    "data, path, expected",
    [
        pytest.param({"a": 1}, ("a",), 1, id="top"),
        pytest.param({"a": {"b": {"c": 2}}}, ("a", "b", "c"), 2, id="deep"),
        pytest.param({"a": {}}, ("a", "b"), None, id="absent"),
        pytest.param({"a": [1, 2]}, ("a", "0"), None, id="no-list-indexing"),
        pytest.param({"a": None}, ("a", "b"), None, id="through-none"),
        pytest.param({"a": 0}, ("a",), 0, id="falsy-value"),
    ],
)
def test_lookup_path(data, path, expected):
    assert lookup_path(data, path) == expected
