"""HTMLRewriter handlers made once per isolate for each slot and content, with no proxy per request.

A handler made per request costs proxies that must be destroyed by hand at the document's end, and
each call from the rewriter into Python costs more than a built-in's. This runtime compiles no JS
from strings (eval and new Function are refused), so these handlers are bound built-ins:
`Map.prototype.forEach.bind(entries, method)`, which the rewriter calls with an element, runs
`method.call(element, value, key, entries)` for each (key, value) of `entries`. With the one entry
(options -> content) and Element's `setInnerContent`, that is `element.setInnerContent(content,
options)`. An inner fragment's method is one Python function, proxied once per isolate, that
writes the slot element in one piece (see fill_inner).

The rewriter's Element and DocumentEnd classes are not globals: their methods come from the objects
that one transform of a tiny page hands its handlers, once per isolate (`prepare`).
"""

from js import Array, HTMLRewriter, Map, Object, Response, String, console
from pyodide.ffi import create_proxy, to_js

from intentedge import log_line
from intentedge.decision import Choice, slot_element
from intentedge.fragments import Operation

from jsconvert import to_js_object

SLOT_ATTRIBUTE = "data-personalized-region"
AS_HTML = to_js_object({"html": True})
AS_TEXT = to_js_object({"html": False})
_METHODS = {Operation.APPEND: "append", Operation.PREPEND: "prepend", Operation.BEFORE: "before",
            Operation.AFTER: "after", Operation.REPLACE: "replace"}
_CACHE_SIZE = 256
_for_each = Map.prototype.forEach
_array_from = Array.from_   # Array.from (a Python keyword)


class _Prototypes:
    element = None        # the rewriter's Element.prototype
    document_end = None   # its DocumentEnd.prototype
    failed = False


# (slot, operation, content, is_html, markers) -> (selector, the handler objects in the order to register)
_slot_handlers: dict[tuple, tuple[str, list]] = {}


def ready() -> bool:
    return _Prototypes.element is not None


async def prepare() -> None:
    """Learn the rewriter's prototypes from one transform of a tiny page. On failure, log one line;
    the caller keeps using per-request handlers for this isolate's life."""
    if ready() or _Prototypes.failed:
        return
    seen = {}
    element = create_proxy(lambda element: seen.setdefault("element", Object.getPrototypeOf(element)))
    end = create_proxy(lambda end: seen.setdefault("end", Object.getPrototypeOf(end)))
    try:
        rewriter = HTMLRewriter.new()
        rewriter.on("b", to_js_object({"element": element}))
        rewriter.onDocument(to_js_object({"end": end}))
        await rewriter.transform(Response.new("<b></b>")).text()
        _Prototypes.element, _Prototypes.document_end = seen["element"], seen["end"]
    except Exception as exc:
        _Prototypes.failed = True
        console.error(log_line("isolate_handlers_unavailable", error=repr(exc)))
    finally:
        element.destroy()
        end.destroy()


def slot_handlers(choice: Choice) -> tuple[str, list]:
    """(selector, handler objects) that put `choice` into its slot's elements: the markers, if the
    fragment marks the slot, then the content."""
    content, is_html = choice.insertion()
    operation = choice.fragment.operation
    markers = tuple(choice.markers.items()) if choice.marks_slot else ()
    key = (choice.slot, operation, content, is_html, markers)
    made = _slot_handlers.get(key)
    if made is None:
        if len(_slot_handlers) >= _CACHE_SIZE:   # contents with per-visitor parameters would pile up
            _slot_handlers.clear()
        selector = f'[{SLOT_ATTRIBUTE}="{choice.slot}"]'
        made = _slot_handlers[key] = (selector, _made(choice, content, is_html, markers))
    return made


def end_handlers(appendix: str):
    """The handler object ({end}) that appends `appendix` (HTML) after the document's last byte."""
    return _handlers("end", _Prototypes.document_end.append, [(AS_HTML, appendix)])


def fill_inner(element, markers: str, body: str) -> None:
    """An inner fragment's slot element written in one piece (decision.slot_element): setAttribute
    would make the rewriter write the start tag back piece by piece, a socket write each (strace:
    14 writes a page instead of 5 for two slots)."""
    own = _array_from(element.attributes).to_py()   # one conversion, not one per attribute
    element.replace(slot_element(element.tagName, own, markers, body), AS_HTML)


def _made(choice: Choice, content: str, is_html: bool, markers: tuple) -> list:
    operation = choice.fragment.operation
    if operation is Operation.INNER:
        return [_handlers("element", _FILL_INNER, [choice.inner_parts()])]
    element = _Prototypes.element
    handlers = []
    if markers:
        pairs = [(String.new(value), name) for name, value in markers]   # two equal values stay two keys
        handlers.append(_handlers("element", element.setAttribute, pairs))
    method = getattr(element, _METHODS[operation])
    handlers.append(_handlers("element", method, [(AS_HTML if is_html else AS_TEXT, content)]))
    return handlers


def _handlers(kind: str, method, entries: list[tuple]):
    """{kind: f}, where f(x) calls `x.method(value, key)` for each (key, value) of `entries`. The
    keys are distinct (a Map's are): options objects, String wrappers, one string."""
    calls = _for_each.bind(Map.new(to_js([list(entry) for entry in entries])), method)
    return to_js_object({kind: calls})


def _fill_inner_for_map(element, body: str, markers: str, entries) -> None:
    # Called as Map.prototype.forEach's callback (value, key, map) with the element as `this`.
    # An exception would abort the page mid-stream; the slot as the origin sent it is better.
    try:
        fill_inner(element, markers, body)
    except Exception as exc:
        console.error(log_line("inject_failed", slot=_slot_name(element), error=repr(exc)))


def _slot_name(element) -> str | None:
    try:
        return element.getAttribute(SLOT_ATTRIBUTE)
    except Exception:
        return None


# Lives as long as the isolate: never destroyed, so it is made once.
_FILL_INNER = create_proxy(_fill_inner_for_map, capture_this=True)
