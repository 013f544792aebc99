"""Turning the decision's choices into a streaming HTMLRewriter over the origin response."""

from js import HTMLRewriter, console
from pyodide.ffi import create_once_callable, create_proxy

from intentedge import Choice, Operation, log_line
from intentedge.charsets import ascii_html, header_charset, meta_charset, meta_means_utf8

from isolate import ISOLATE
from isolate_handlers import AS_HTML, AS_TEXT, SLOT_ATTRIBUTE
from jsconvert import optional_str, to_js_object


def personalize(response, content_type: str | None, choices: list[Choice], appendix: str | None = None):
    """The origin response (`content_type` its header) with each chosen fragment injected into its
    slot's elements, and `appendix` (the beacon's script) at the end of the document.

    Only non-ASCII content depends on the page's charset: for ASCII (the usual fragment, and the
    beacon), or with a charset in the header, no <meta> needs reading and the handlers are the
    isolate's (worker/isolate_handlers.py). Otherwise each page gets its own Python handlers.
    """
    rewriter = HTMLRewriter.new()
    reads_meta = (header_charset(content_type) is None
                  and not all(choice.insertion()[0].isascii() for choice in choices))
    if not reads_meta and ISOLATE.handlers.ready():
        for choice in choices:
            for selector, handler in ISOLATE.handlers.slot_handlers(choice):
                rewriter.on(selector, handler)
        if appendix is not None:
            rewriter.onDocument(ISOLATE.handlers.end_handlers(appendix))
        return rewriter.transform(response)
    return _with_page_handlers(rewriter, response, choices, appendix, reads_meta)


def _with_page_handlers(rewriter, response, choices: list[Choice], appendix: str | None, reads_meta: bool):
    """The rewriter with handlers of this page's own. The runtime cannot collect proxies on its own
    (no FinalizationRegistry), so every proxy made here is destroyed when the document ends.
    HTMLRewriter gets plain JS objects whose functions are those proxies: it reads the handler
    functions off the objects once, and reading a method off a proxied Python object would make
    one more proxy nobody destroys."""
    proxies = []
    page = _Page(reads_meta)
    slots = [_SlotHandler(choice, page) for choice in choices]
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
            end.append(appendix, AS_HTML)
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
            tag = element.tagName
            operation = self.choice.operation_at(tag)   # at the start tag where the end tag may be omitted
            if operation is not self.choice.fragment.operation:
                ISOLATE.handlers.log_shape(self.choice.slot, tag, self.choice.fragment.operation)
            if operation is Operation.INNER and not self.page.ascii_only:
                ISOLATE.handlers.fill_inner(element, *self.choice.inner_parts())
                return
            if self.choice.marks_slot:
                for name, value in self.choice.markers.items():
                    element.setAttribute(name, value)
            if self.page.ascii_only:
                if self._ascii is None:
                    self._ascii = ascii_html(self.content, self.html)
                _insert(element, operation, self._ascii, True)
            else:
                _insert(element, operation, self.content, self.html)
        except Exception as exc:
            console.error(log_line("inject_failed", slot=self.choice.slot,
                                   fragment=self.choice.fragment.id, error=repr(exc)))


def _destroy_all(proxies: list) -> None:
    for proxy in proxies:
        proxy.destroy()
    proxies.clear()


def _insert(element, op: Operation, content: str, html: bool) -> None:
    options = AS_HTML if html else AS_TEXT
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
