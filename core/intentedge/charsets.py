"""A page's charset, where the Content-Type header does not give it.

The runtime's HTMLRewriter writes inserted content in the charset named by the Content-Type
header (characters that charset lacks as character references) and assumes UTF-8 when the header
names none. The page may still be windows-1252 or Shift_JIS by its `<meta charset>`, or by the
browser's guess: a fragment's non-ASCII text written as UTF-8 bytes would come out garbled. Until a
`<meta>` declares UTF-8, the Worker inserts fragments as pure ASCII, which every ASCII-compatible
charset reads alike (the rewriter refuses the others: the page then passes through unmodified).
"""

from __future__ import annotations

import re

# WHATWG Encoding labels that mean UTF-8; a `<meta>` declaring UTF-16 means UTF-8 too (HTML's prescan).
_UTF8_LABELS = frozenset({"unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"})
_UTF16_LABELS = frozenset({"csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le",
                           "unicodefffe", "utf-16be"})
_META_CHARSET = re.compile(r"""charset\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s;"']+))""", re.IGNORECASE)


def header_charset(content_type: str | None) -> str | None:
    """The first `charset` parameter of a Content-Type, unquoted and lower-case, as the runtime reads
    it; None when there is none or it is empty."""
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, eq, value = parameter.partition("=")
        if eq and name.strip().lower() == "charset":
            return value.strip().strip('"').strip().lower() or None
    return None


def meta_charset(charset: str | None, http_equiv: str | None, content: str | None) -> str | None:
    """The charset label a `<meta>` declares, lower-case, from its attributes: `charset`, or
    `http-equiv="Content-Type"` with `content="...; charset=..."`; None when it declares none."""
    if charset is not None and charset.strip():
        return charset.strip().lower()
    if http_equiv is None or http_equiv.strip().lower() != "content-type" or not content:
        return None
    found = _META_CHARSET.search(content)
    label = next((group for group in found.groups() if group is not None), "") if found else ""
    return label.strip().lower() or None


def meta_means_utf8(label: str) -> bool:
    return label in _UTF8_LABELS or label in _UTF16_LABELS


def ascii_html(content: str, is_html: bool) -> str:
    """Content to insert as HTML made of ASCII only: a text's `&`, `<`, `>` escaped, then every
    non-ASCII character as a numeric character reference. The same characters in every
    ASCII-compatible charset, except inside a fragment's own `<script>` or `<style>`, where
    references are not decoded (keep those ASCII)."""
    if not is_html:
        content = content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if content.isascii():
        return content
    return "".join(character if character < "\x80" else f"&#{ord(character)};" for character in content)
