"""Turning the decision's choices into a streaming HTMLRewriter over the origin response."""

from js import Array, HTMLRewriter, console
from pyodide.ffi import create_once_callable, create_proxy

from intentedge import log_line
from intentedge.decision import Choice
from intentedge.charsets import ascii_html, header_charset, meta_charset, meta_means_utf8
from intentedge.fragments import Operation

from jsconvert import optional_str, to_js_object

SLOT_ATTRIBUTE = "data-personalized-region"
# Elements without content or end tag: their slot keeps the attribute-by-attribute path.
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"})
# The content options of HTMLRewriter's insertions, made once: keyword arguments would make a JS
# object per call.
_AS_HTML = to_js_object({"html": True})
_AS_TEXT = to_js_object({"html": False})
_array_from = Array.from_   # Array.from (a Python keyword)


def personalize(response, content_type: str | None, choices: list[Choice], appendix: str | None = None):
    """The origin response (`content_type` its header) with each chosen fragment injected into its
    slot's elements, and `appendix` (the beacon's script) at the end of the document.

    The runtime cannot collect proxies on its own (no FinalizationRegistry), so every proxy
    made here is destroyed when the document ends. HTMLRewriter gets plain JS objects whose
    functions are those proxies: it reads the handler functions off the objects once, and
    reading a method off a proxied Python object would make one more proxy nobody destroys.
    """
    rewriter = HTMLRewriter.new()
    proxies = []
    page = _Page(False)
    slots = [_SlotHandler(choice, page) for choice in choices]
    # Only non-ASCII content depends on the page's charset: for ASCII (the usual fragment, and the
    # beacon) no <meta> needs reading.
    page.ascii_only = (header_charset(content_type) is None
                       and not all(slot.content.isascii() for slot in slots))
    if page.ascii_only:
        meta = create_proxy(page.meta)
        proxies.append(meta)
        handlers = to_js_object({"element": meta})
        rewriter.on("meta[charset]", handlers)
        rewriter.on("meta[http-equiv]", handlers)
    for slot in slots:
        element = create_proxy(slot.element)
        proxies.append(element)
        rewriter.on(f'[{SLOT_ATTRIBUTE}="{slot.choice.slot}"]', to_js_object({"element": element}))
    # Destroys itself after its one call; it destroys the element handlers synchronously
    # (nothing calls them after the document ended; a callback scheduled from here never runs).
    rewriter.onDocument(to_js_object({"end": create_once_callable(lambda end: _end(end, appendix, proxies))}))
    return rewriter.transform(response)


def _end(end, appendix: str | None, proxies: list) -> None:
    """At the document's end: the appendix, and the handlers are done with. The appendix goes after
    the last byte rather than inside `<body>`: no handler for `body`, and a page whose `</body>` is
    missing gets it too; browsers put a script found there at the end of the body."""
    try:
        if appendix is not None:
            end.append(appendix, _AS_HTML)
    except Exception as exc:
        console.error(log_line("inject_failed", slot="document end", error=repr(exc)))
    finally:
        _destroy_all(proxies)


class _Page:
    """What the rewriter knows of one page's charset (see intentedge.charsets): without one in the
    Content-Type header, fragments go in as ASCII until a `<meta>` declares UTF-8."""

    def __init__(self, ascii_only: bool):
        self.ascii_only = ascii_only
        self._declared = False

    def meta(self, element) -> None:
        if self._declared:   # the first declaration counts, as in browsers
            return
        try:
            label = meta_charset(optional_str(element.getAttribute("charset")),
                                 optional_str(element.getAttribute("http-equiv")),
                                 optional_str(element.getAttribute("content")))
        except Exception as exc:   # fragments stay ASCII: right in any charset
            console.error(log_line("meta_charset_unreadable", error=repr(exc)))
            return
        if label is not None:
            self._declared = True
            self.ascii_only = not meta_means_utf8(label)


class _SlotHandler:
    def __init__(self, choice: Choice, page: _Page):
        self.choice = choice
        self.page = page
        self.content, self.html = choice.insertion()
        self._ascii = None

    def element(self, element) -> None:
        # An exception here would abort the stream mid-page; a slot left as the origin sent it is better.
        try:
            if self.choice.fragment.operation is Operation.INNER and not self.page.ascii_only:
                tag = element.tagName
                if tag not in _VOID:
                    # One piece: setAttribute makes the rewriter write the start tag back piece by
                    # piece, a socket write each (14 writes a page instead of 5 for two slots here).
                    own = _array_from(element.attributes).to_py()   # one conversion, not one per attribute
                    element.replace(self.choice.slot_element(tag, own), _AS_HTML)
                    return
            if self.choice.marks_slot:
                for name, value in self.choice.markers.items():
                    element.setAttribute(name, value)
            if self.page.ascii_only:
                if self._ascii is None:
                    self._ascii = ascii_html(self.content, self.html)
                _insert(element, self.choice.fragment.operation, self._ascii, True)
            else:
                _insert(element, self.choice.fragment.operation, self.content, self.html)
        except Exception as exc:
            console.error(log_line("inject_failed", slot=self.choice.slot,
                                   fragment=self.choice.fragment.id, error=repr(exc)))


def _destroy_all(proxies: list) -> None:
    for proxy in proxies:
        proxy.destroy()
    proxies.clear()


def _insert(element, op: Operation, content: str, html: bool) -> None:
    options = _AS_HTML if html else _AS_TEXT
    if op is Operation.INNER:
        element.setInnerContent(content, options)
    elif op is Operation.APPEND:
        element.append(content, options)
    elif op is Operation.PREPEND:
        element.prepend(content, options)
    elif op is Operation.BEFORE:
        element.before(content, options)
    elif op is Operation.AFTER:
        element.after(content, options)
    elif op is Operation.REPLACE:
        element.replace(content, options)
