"""Turning the decision's choices into a streaming HTMLRewriter over the origin response."""

from js import HTMLRewriter, console
from pyodide.ffi import create_once_callable, create_proxy

from intentedge import log_line
from intentedge.decision import Choice
from intentedge.fragments import Operation

from jsconvert import to_js_object

SLOT_ATTRIBUTE = "data-personalized-region"


def personalize(response, choices: list[Choice]):
    """The origin response with each chosen fragment injected into its slot's elements.

    The runtime cannot collect proxies on its own (no FinalizationRegistry), so every proxy
    made here is destroyed when the document ends. HTMLRewriter gets plain JS objects whose
    functions are those proxies: it reads the handler functions off the objects once, and
    reading a method off a proxied Python object would make one more proxy nobody destroys.
    """
    rewriter = HTMLRewriter.new()
    proxies = []
    for choice in choices:
        element = create_proxy(_SlotHandler(choice).element)
        proxies.append(element)
        rewriter.on(f'[{SLOT_ATTRIBUTE}="{choice.slot}"]', to_js_object({"element": element}))
    # Destroys itself after its one call; it destroys the element handlers synchronously
    # (nothing calls them after the document ended; a callback scheduled from here never runs).
    rewriter.onDocument(to_js_object({"end": create_once_callable(lambda _end: _destroy_all(proxies))}))
    return rewriter.transform(response)


class _SlotHandler:
    def __init__(self, choice: Choice):
        self.choice = choice
        self.content, self.html = choice.insertion()

    def element(self, element) -> None:
        # An exception here would abort the stream mid-page; a slot left as the origin sent it is better.
        try:
            if self.choice.marks_slot:
                for name, value in self.choice.markers.items():
                    element.setAttribute(name, value)
            _insert(element, self.choice.fragment.operation, self.content, self.html)
        except Exception as exc:
            console.error(log_line("inject_failed", slot=self.choice.slot,
                                   fragment=self.choice.fragment.id, error=repr(exc)))


def _destroy_all(proxies: list) -> None:
    for proxy in proxies:
        proxy.destroy()
    proxies.clear()


def _insert(element, op: Operation, content: str, html: bool) -> None:
    if op is Operation.INNER:
        element.setInnerContent(content, html=html)
    elif op is Operation.APPEND:
        element.append(content, html=html)
    elif op is Operation.PREPEND:
        element.prepend(content, html=html)
    elif op is Operation.BEFORE:
        element.before(content, html=html)
    elif op is Operation.AFTER:
        element.after(content, html=html)
    elif op is Operation.REPLACE:
        element.replace(content, html=html)
