"""What an HTML fragment may look like: balanced, and parameters only where escaping makes them safe.

Escaping a value makes it safe in text and in a quoted attribute, not in a script, a
style, an event handler, an unquoted attribute or at the start of a URL (where
`javascript:` would run). An unbalanced fragment (`<div>` without `</div>`, or a stray
`</main>`) would swallow or close the page around its slot. Both are config problems,
found when the bundle is compiled, so no such fragment ever reaches a page.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from intentedge.fragments import Param, Template

# HTML's void elements: no content and no end tag; `<br/>` and `<br>` are the same element. (`param`
# has left the standard's list; browsers still parse it as void.)
VOID_ELEMENTS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                           "param", "source", "track", "wbr"})
# The elements whose end tag HTML lets a page omit (the standard's "Optional tags"): the parser ends
# them where the next sibling of certain kinds starts (`<p>a<p>b`, `<li>a<li>b`, `<td>a<td>b`) or where
# the parent ends. A streaming rewriter that has not built the tree cannot see that end coming
# (docs/slots.md). For every other non-void element the end tag is required: a `/>` on its start
# tag does not close it, and browsers read `<div/>` as an open `<div>`.
OPTIONAL_END_TAGS = frozenset({"html", "head", "body", "li", "dt", "dd", "p", "rt", "rp", "optgroup", "option",
                               "colgroup", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"})
_PAGE_LEVEL = frozenset({"html", "head", "body"})
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset",
                             "background", "cite", "ping"})
_RAW_TEXT = frozenset({"script", "style"})
_MARK = "pzparam{}pz"
_MARK_RE = re.compile(r"pzparam(\d+)pz")


def markup_problems(template: Template) -> list[str]:
    """Why this HTML template could break a page or let a value run as code; [] when it cannot."""
    text = "".join(part if isinstance(part, str) else _MARK.format(index)
                   for index, part in enumerate(template.parts))
    checker = _Checker(template.parts)
    try:
        checker.feed(text)
        checker.close()
    except AssertionError as exc:  # how html.parser refuses some markup: "<![ " (expected name token)
        return [f"markup that does not parse: {exc}"]
    return checker.finish()


_FOREIGN_ROOTS = frozenset({"svg", "math"})


class _Checker(HTMLParser):
    def __init__(self, parts: tuple):
        super().__init__(convert_charrefs=True)
        self.names = {i: p.name for i, p in enumerate(parts) if isinstance(p, Param)}
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._check_attributes(tag, attrs, self.get_starttag_text() or "")
        if _MARK_RE.search(tag):
            self.problems.append("a parameter names an element")
        elif tag in _PAGE_LEVEL:
            self.problems.append(f"<{tag}> belongs to the page, not to a fragment")
        elif tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._check_attributes(tag, attrs, self.get_starttag_text() or "")
        # "/>" closes nothing in HTML: a browser reads <div/> as an open <div> that takes in the page
        # after the fragment. Only void elements and SVG or MathML (foreign content) may be written so.
        if tag not in VOID_ELEMENTS and tag not in _FOREIGN_ROOTS and not any(t in _FOREIGN_ROOTS for t in self.open):
            self.problems.append(f"<{tag}/> is an open <{tag}> in HTML (only void elements close with />): "
                                 f"write <{tag}></{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_ELEMENTS:
            return
        while self.open and self.open[-1] != tag and self.open[-1] in OPTIONAL_END_TAGS:
            self.open.pop()
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.problems.append(f"</{tag}> closes an element the fragment did not open")

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in _RAW_TEXT:
            for name in self._params_in(data):
                self.problems.append(f"{{{name}}} inside <{self.open[-1]}>: escaping cannot make a value safe there")

    def finish(self) -> list[str]:
        unclosed = [tag for tag in self.open if tag not in OPTIONAL_END_TAGS]
        if unclosed:
            self.problems.append(f"<{unclosed[-1]}> is never closed")
        return self.problems

    def _check_attributes(self, tag: str, attrs: list, source: str) -> None:
        for name, value in attrs:
            if _MARK_RE.search(name):
                self.problems.append(f"a parameter names an attribute of <{tag}>")
            for param in self._params_in(value or ""):
                where = f"{{{param}}} in <{tag} {name}>"
                if name.startswith("on") or name in ("style", "srcdoc"):
                    self.problems.append(f"{where}: escaping cannot make a value safe in a script or style")
                elif re.search(rf"\b{re.escape(name)}\s*=\s*[^\s\"'=<>`]*pzparam", source, re.IGNORECASE):
                    self.problems.append(f"{where}: quote the attribute value")
                elif name in _URL_ATTRIBUTES and _MARK_RE.match((value or "").lstrip()):
                    self.problems.append(f"{where}: a URL must start with fixed text (a path or https://...), "
                                         "or a value could be a javascript: URL")

    def _params_in(self, text: str) -> list[str]:
        return [self.names.get(int(index), "?") for index in _MARK_RE.findall(text)]
