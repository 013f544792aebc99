"""What is inside the origin's pages: charsets, a BOM, slot-like text that is no element, and slots
inside slots. Only real slot elements change; every other byte stays the origin's, in its charset.

The pages live in origin.py (CHARSET_PAGES, INERT, NESTED); test_origin_faults.py covers the
origin's behaviour on the wire.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import pytest

from . import origin as site
from .test_origin_faults import BOT, HERO_FALLBACK, as_crawlers_see, log_lines

ORIGINAL_SLOT = '<div data-personalized-region="hero">Ursprünglich: Café</div>'
# The `hello` rule fills the hero with `hello {request.query.name}`: a fragment with the visitor's
# own non-ASCII text, some of it outside windows-1252, some outside Shift_JIS.
NAME = "Grüße € 日本"


def _hello(name: str) -> str:
    return (f'<div data-personalized-region="hero" data-pz-rule="hello" data-pz-variant="hero-hello">'
            f'<b class="pz">hello {html.escape(name)}</b></div>')


@pytest.fixture(autouse=True)
def still_serving(worker):
    yield
    reply = worker.get("/", headers=BOT)
    assert (reply.status, reply.body) == (200, as_crawlers_see(site.SLOTTED))


@pytest.mark.parametrize("path, codec", [
    ("/fault/charset/cp1252.html", "cp1252"),        # charset=windows-1252 in the header
    ("/fault/charset/latin1.html", "cp1252"),        # ISO-8859-1: browsers (and the rewriter) read windows-1252
    ("/fault/charset/sjis.html", "shift_jis"),
    ("/fault/charset/meta.html", "cp1252"),          # only <meta charset="windows-1252">; the header has none
    ("/fault/charset/http-equiv.html", "cp1252"),    # only <meta http-equiv="Content-Type" content="...">
    ("/fault/charset/bom.html", "utf-8"),            # a UTF-8 BOM, charset=utf-8 in the header
    ("/fault/charset/bom-only.html", "utf-8"),       # a UTF-8 BOM and nothing else
])
def test_a_page_keeps_its_charset_and_the_fragment_reads_right_in_it(worker, path, codec):
    """Every byte outside the slot is the origin's; the slot, read in the page's charset, says the
    fragment's text (characters the charset lacks as character references)."""
    text, _, content_type = site.CHARSET_PAGES[path]
    origin_bytes = site.FAULT_PAGES[path][1]
    reply = worker.get(f"{path}?hello=1&name={quote(NAME)}")
    assert reply.status == 200
    assert reply.headers["content-type"] == content_type
    slot = text.index('<div data-personalized-region="hero">')
    before = len(text[:slot].encode(site.CHARSET_PAGES[path][1]))
    after = len(text[text.index("</div>", slot) + len("</div>"):].encode(site.CHARSET_PAGES[path][1]))
    assert reply.body[:before] == origin_bytes[:before]                 # a BOM too
    assert reply.body[len(reply.body) - after:] == origin_bytes[len(origin_bytes) - after:]
    injected = reply.body[before:len(reply.body) - after].decode(codec)   # strict: no bytes the charset lacks
    assert html.unescape(injected) == html.unescape(_hello(NAME))


@pytest.mark.parametrize("path", ["/fault/charset/meta.html", "/fault/charset/bom-only.html"])
def test_without_a_charset_in_the_header_a_fragment_goes_in_as_ascii(worker, path):
    """The rewriter would write UTF-8 into a windows-1252 page; ASCII reads the same in both."""
    reply = worker.get(f"{path}?hello=1&name={quote(NAME)}")
    assert b"hello Gr&#252;&#223;e &#8364; &#26085;&#26412;</b>" in reply.body


def test_a_utf8_meta_keeps_the_fragment_as_utf8(worker):
    """`/products/camera.html` has no charset in its header and `<meta charset="utf-8">`."""
    reply = worker.get(f"/products/camera.html?hello=1&name={quote(NAME)}")
    assert f"hello {NAME}</b>".encode() in reply.body


@pytest.mark.parametrize("path, reason", [
    ("/fault/charset/utf16.html", "Expected ASCII-compatible encoding"),   # charset=utf-16 and a BOM
    (f"/fault/typed.html?type={quote('text/html; charset=UTF-16BE')}", "Expected ASCII-compatible encoding"),
    (f"/fault/typed.html?type={quote('text/html; charset=iso-2022-jp')}", "Expected ASCII-compatible encoding"),
    (f"/fault/typed.html?type={quote('text/html; charset=x-no-such-charset')}", "Unknown character encoding"),
])
def test_a_charset_the_rewriter_cannot_write_passes_through_unmodified(worker, path, reason):
    """The rewriter refuses the page before a byte went out: the origin's page and one log line."""
    body = site.FAULT_PAGES[path][1] if path in site.FAULT_PAGES else site.SLOTTED
    mark = worker.log_mark()
    reply = worker.get(path)
    assert (reply.status, reply.body) == (200, body)
    assert "set-cookie" not in reply.headers
    worker.wait_for_log(reason, since=mark)
    [line] = log_lines(worker, '"event":"fail_open"', mark)
    assert f"Parser error: {reason}" in line


def test_a_utf16_page_without_a_charset_in_the_header_passes_through_unmodified(worker):
    """Read as UTF-8 (no charset in the header), its slot is no element: nothing matches."""
    path = "/fault/charset/utf16-bom-only.html"
    assert worker.get(path).body == site.FAULT_PAGES[path][1]


def test_slot_like_text_that_is_no_element_is_left_alone(worker):
    """Inside a script, a style, a comment, attribute values, a textarea, a title, noscript (scripting
    on, as in browsers), xmp, a script template, and plain text: only the real slot changes."""
    real = '<div data-personalized-region="hero">the real slot</div>'
    reply = worker.get("/fault/inert.html", headers=BOT)
    assert reply.body == site.INERT.replace(real.encode(), as_crawlers_see(real.encode()))
    assert reply.body.count(HERO_FALLBACK) == 1


def test_slots_inside_slots(worker):
    """A filled slot's fragment replaces all of its content, slots inside it included (each fragment
    appears once, the markup stays balanced); a slot inside a slot that keeps its content is filled;
    a slot inside `<template>` is a real element of the template's content and is filled, so a copy
    the page's script stamps out (or a declarative shadow root) shows the fragment."""
    reply = worker.get("/fault/nested.html", headers=BOT)
    expected = (site.NESTED
                .replace(b'<div data-personalized-region="hero" id="outer">outer before\n'
                         b'<span data-personalized-region="promo" id="inner">inner promo</span>\n'
                         b'<p data-personalized-region="hero" id="same">inner hero</p>\n'
                         b'outer after</div>',
                         b'<div data-personalized-region="hero" id="outer"' + HERO_FALLBACK + b'</div>')
                .replace(b'<div data-personalized-region="hero" id="inside-kept">inner hero</div>',
                         b'<div data-personalized-region="hero" id="inside-kept"' + HERO_FALLBACK + b'</div>')
                .replace(b'<div data-personalized-region="hero" id="templated">in a template</div>',
                         b'<div data-personalized-region="hero" id="templated"' + HERO_FALLBACK + b'</div>'))
    assert reply.body == expected
    assert reply.body.count(HERO_FALLBACK) == 3
