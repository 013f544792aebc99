"""A page's charset when the Content-Type header names none: what the rewriter inserts."""

from __future__ import annotations

import pytest

from intentedge.charsets import ascii_html, header_charset, meta_charset, meta_means_utf8


@pytest.mark.parametrize(
    "content_type, expected",
    [
        pytest.param("text/html; charset=UTF-8", "utf-8", id="plain"),
        pytest.param('text/html; charset="Shift_JIS"', "shift_jis", id="quoted"),
        pytest.param("text/html;CHARSET = windows-1252 ", "windows-1252", id="spaces-and-case"),
        # the runtime reads the first one
        pytest.param("text/html; charset=utf-8; charset=utf-16", "utf-8", id="twice"),
        pytest.param("text/html; foo=bar; charset=koi8-r", "koi8-r", id="after-another"),
        pytest.param("text/html; charset=", None, id="empty"),
        pytest.param('text/html; charset=""', None, id="empty-quoted"),
        pytest.param("text/html", None, id="none"),
        pytest.param("text/html; charsets=utf-8", None, id="another-name"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_header_charset(content_type, expected):
    assert header_charset(content_type) == expected


@pytest.mark.parametrize(
    "charset, http_equiv, content, expected",
    [
        pytest.param("UTF-8", None, None, "utf-8", id="charset"),
        pytest.param(" windows-1252 ", None, None, "windows-1252", id="charset-spaces"),
        # charset wins over http-equiv, as in HTML's prescan
        pytest.param("utf-8", "Content-Type", "text/html; charset=koi8-r", "utf-8", id="both"),
        pytest.param(None, "Content-Type", "text/html; charset=windows-1252", "windows-1252", id="http-equiv"),
        pytest.param(None, "content-type", "text/html;charset='Shift_JIS'", "shift_jis", id="single-quotes"),
        pytest.param(None, "Content-Type", 'text/html; charset="koi8-r', "koi8-r", id="unterminated-quote"),
        pytest.param(None, "Content-Type", "text/html; CHARSET = euc-jp; x=1", "euc-jp", id="spaces-and-case"),
        pytest.param(None, "Content-Type", "text/html", None, id="no-charset-in-content"),
        pytest.param(None, "refresh", "5; charset=koi8-r", None, id="another-http-equiv"),
        pytest.param(None, "Content-Type", None, None, id="no-content"),
        pytest.param("", None, None, None, id="empty-charset"),
        pytest.param(None, None, None, None, id="no-declaration"),
    ],
)
def test_meta_charset(charset, http_equiv, content, expected):
    assert meta_charset(charset, http_equiv, content) == expected


@pytest.mark.parametrize(
    "label, expected",
    [
        ("utf-8", True),
        ("utf8", True),
        ("unicode-1-1-utf-8", True),
        # HTML: a <meta> that says UTF-16 means UTF-8 (the bytes were read as ASCII to find it)
        ("utf-16", True),
        ("utf-16be", True),
        ("windows-1252", False),
        ("iso-8859-1", False),
        ("shift_jis", False),
        ("x-no-such-charset", False),
    ],
)
def test_meta_means_utf8(label, expected):
    assert meta_means_utf8(label) is expected


@pytest.mark.parametrize(
    "content, is_html, expected",
    [
        pytest.param("<b>plain</b> & more", True, "<b>plain</b> & more", id="ascii-html-unchanged"),
        pytest.param('<b title="Café">Grüße</b>', True, '<b title="Caf&#233;">Gr&#252;&#223;e</b>', id="html"),
        # a text is escaped as the rewriter escapes it, then inserted as HTML
        pytest.param("<b>5 %</b> & €", False, "&lt;b&gt;5 %&lt;/b&gt; &amp; &#8364;", id="text"),
        pytest.param("日本 😀", True, "&#26085;&#26412; &#128512;", id="outside-the-bmp"),
        pytest.param("", False, "", id="empty"),
    ],
)
def test_ascii_html(content, is_html, expected):
    out = ascii_html(content, is_html)
    assert out == expected
    assert out.isascii()
