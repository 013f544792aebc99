"""Turning the engine's choices into a streaming HTMLRewriter over the origin response."""

import asyncio

from js import HTMLRewriter, console
from pyodide.ffi import create_proxy

from intentedge import Choice, Fragment, Operation, log_line

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

    def element(self, element) -> None:
        # An exception here would abort the stream mid-page; a slot left as the origin sent it is better.
        try:
            _insert(element, self.choice.fragment)
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


def _insert(element, fragment: Fragment) -> None:
    html = fragment.is_html
    op = fragment.operation
    if op is Operation.INNER:
        element.setInnerContent(fragment.content, html=html)
    elif op is Operation.APPEND:
        element.append(fragment.content, html=html)
    elif op is Operation.PREPEND:
        element.prepend(fragment.content, html=html)
    elif op is Operation.BEFORE:
        element.before(fragment.content, html=html)
    elif op is Operation.AFTER:
        element.after(fragment.content, html=html)
    elif op is Operation.REPLACE:
        element.replace(fragment.content, html=html)
