"""Turning the decision's choices into a streaming HTMLRewriter over the origin response."""

import asyncio

from js import HTMLRewriter, console
from pyodide.ffi import create_proxy

from intentedge import log_line
from intentedge.decision import Choice
from intentedge.fragments import Operation

SLOT_ATTRIBUTE = "data-personalized-region"


def personalize(response, choices: list[Choice]):
    """The origin response with each chosen fragment injected into its slot's elements.

    Handlers are proxies, and the runtime cannot collect proxies on its own: they are
    destroyed when the document ends.
    """
    rewriter = HTMLRewriter.new()
    proxies = []
    for choice in choices:
        handler = create_proxy(_SlotHandler(choice))
        proxies.append(handler)
        rewriter.on(f'[{SLOT_ATTRIBUTE}="{choice.slot}"]', handler)
    end = _DocumentEnd(proxies)
    end_proxy = create_proxy(end)
    end.proxies.append(end_proxy)
    rewriter.onDocument(end_proxy)
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


class _DocumentEnd:
    def __init__(self, proxies: list):
        self.proxies = proxies

    def end(self, _end) -> None:
        # Not destroyed synchronously: the runtime is still inside this very call.
        asyncio.get_event_loop().call_soon(_destroy_all, self.proxies)


def _destroy_all(proxies: list) -> None:
    for proxy in proxies:
        proxy.destroy()


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
