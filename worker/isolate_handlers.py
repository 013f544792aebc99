"""HTMLRewriter handlers made once per isolate for each slot and content, with no proxy per request.

A handler made per request costs proxies that must be destroyed by hand at the document's end, and
each call from the rewriter into Python costs more than a built-in's. This runtime compiles no JS
from strings (eval and new Function are refused), so these handlers are bound built-ins:
`Map.prototype.forEach.bind(entries, method)`, which the rewriter calls with an element, runs
`method.call(element, value, key, entries)` for each (key, value) of `entries`. With the one entry
(options -> content) and Element's `setInnerContent`, that is `element.setInnerContent(content,
options)`. An inner fragment's method is one Python function, proxied once per isolate, that
writes the slot element in one piece (see fill_inner).

A slot whose end tag the page may omit (`<p>`, `<li>`, `<td>`: intentedge.markup.OPTIONAL_END_TAGS)
gets inner and replace at its start tag instead (Choice.operation_at, docs/slots.md): fill_inner
checks the tag it reads anyway, and replace is registered twice, as the built-in on a selector that
excludes those tags and as a Python function on one that names them, so an ordinary slot costs no
call into Python.

The rewriter's Element and DocumentEnd classes are not globals: their methods come from the objects
that one transform of a tiny page hands its handlers, once per isolate (`prepare`).
"""

from js import Array, HTMLRewriter, Map, Object, Response, String, console
from pyodide.ffi import create_proxy, to_js

from intentedge import Choice, Operation, log_line
from intentedge.decision import marker_pairs, operation_at, slot_element
from intentedge.markup import OPTIONAL_END_TAGS

from jsconvert import to_js_object

SLOT_ATTRIBUTE = "data-personalized-region"
AS_HTML = to_js_object({"html": True})
AS_TEXT = to_js_object({"html": False})
_METHODS = {Operation.APPEND: "append", Operation.PREPEND: "prepend", Operation.BEFORE: "before",
            Operation.AFTER: "after", Operation.REPLACE: "replace"}
_CACHE_SIZE = 256
_SHAPES_SIZE = 256
_for_each = Map.prototype.forEach
_array_from = Array.from_   # Array.from (a Python keyword)


class SlotHandlers:
    """What the isolate keeps for the rewriter (worker/isolate.py's ISOLATE.handlers): its
    prototypes, the handlers made for each slot and content, the proxied Python functions they
    call, and the page shapes already logged."""

    def __init__(self):
        self.element = None        # the rewriter's Element.prototype
        self.document_end = None   # its DocumentEnd.prototype
        self.failed = False
        # (slot, operation, content, is_html, markers) -> [(selector, handler object)] in registration order
        self._made: dict[tuple, list[tuple[str, object]]] = {}
        self._logged_shapes: set[tuple[str, str, str]] = set()
        # Live as long as the isolate: never destroyed, so each is made once.
        self._fill_inner = create_proxy(self._fill_inner_for_map, capture_this=True)
        self._put_before = create_proxy(self._put_before_for_map, capture_this=True)

    def ready(self) -> bool:
        return self.element is not None

    async def prepare(self) -> None:
        """Learn the rewriter's prototypes from one transform of a tiny page. On failure, log one
        line; the caller keeps using per-request handlers for this isolate's life."""
        if self.ready() or self.failed:
            return
        seen = {}
        element = create_proxy(lambda element: seen.setdefault("element", Object.getPrototypeOf(element)))
        end = create_proxy(lambda end: seen.setdefault("end", Object.getPrototypeOf(end)))
        try:
            rewriter = HTMLRewriter.new()
            rewriter.on("b", to_js_object({"element": element}))
            rewriter.onDocument(to_js_object({"end": end}))
            await rewriter.transform(Response.new("<b></b>")).text()
            self.element, self.document_end = seen["element"], seen["end"]
        except Exception as exc:
            self.failed = True
            console.error(log_line("isolate_handlers_unavailable", error=repr(exc)))
        finally:
            element.destroy()
            end.destroy()

    def slot_handlers(self, choice: Choice) -> list[tuple[str, object]]:
        """(selector, handler object) pairs that put `choice` into its slot's elements, in the order
        to register them: the markers, if the fragment marks the slot, then the content."""
        content, is_html = choice.insertion()
        markers = tuple(choice.markers.items()) if choice.marks_slot else ()
        key = (choice.slot, choice.fragment.operation, content, is_html, markers)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= _CACHE_SIZE:   # contents with per-visitor parameters would pile up
                self._made.clear()
            made = self._made[key] = self._handlers_for(choice, content, is_html, markers)
        return made

    def end_handlers(self, appendix: str):
        """The handler object ({end}) that appends `appendix` (HTML) after the document's last byte."""
        return _handlers("end", self.document_end.append, [(AS_HTML, appendix)])

    def fill_inner(self, element, markers: str, body: str) -> None:
        """An inner fragment's slot element written in one piece (decision.slot_element): setAttribute
        would make the rewriter write the start tag back piece by piece, a socket write each (strace:
        14 writes a page instead of 5 for two slots). A slot whose end tag may be omitted keeps its
        content: the markers and then the body go in at its start tag."""
        tag = element.tagName
        if operation_at(Operation.INNER, tag) is Operation.PREPEND:   # decision.operation_at's rule
            for name, value in marker_pairs(markers):
                element.setAttribute(name, value)
            element.prepend(body, AS_HTML)
            self.log_shape(_slot_name(element), tag, Operation.INNER)
            return
        own = _array_from(element.attributes).to_py()   # one conversion, not one per attribute
        element.replace(slot_element(tag, own, markers, body), AS_HTML)

    def log_shape(self, slot: str | None, tag: str, operation: Operation) -> None:
        """One line per slot, tag and operation that went in at the start tag instead (bounded: a
        page with ever new slot names would otherwise fill the isolate's memory)."""
        shape = (slot or "", tag, operation.value)
        if shape in self._logged_shapes:
            return
        if len(self._logged_shapes) >= _SHAPES_SIZE:
            self._logged_shapes.clear()
        self._logged_shapes.add(shape)
        console.warn(log_line("slot_end_unknown", slot=slot, tag=tag, operation=operation.value,
                              instead=operation_at(operation, tag).value,
                              reason=f"the page may omit </{tag}>: content up to it is kept"))

    def _handlers_for(self, choice: Choice, content: str, is_html: bool, markers: tuple) -> list:
        selector = _selector(choice.slot)
        operation = choice.fragment.operation
        if operation is Operation.INNER:
            return [(selector, _handlers("element", self._fill_inner, [choice.inner_parts()]))]
        handlers = []
        if markers:
            pairs = [(String.new(value), name) for name, value in markers]   # two equal values stay two keys
            handlers.append((selector, _handlers("element", self.element.setAttribute, pairs)))
        method = getattr(self.element, _METHODS[operation])
        entries = [(AS_HTML if is_html else AS_TEXT, content)]
        if operation is Operation.REPLACE:
            handlers.append((_ordinary_selector(choice.slot), _handlers("element", method, entries)))
            handlers.append((_optional_end_selector(choice.slot), _handlers("element", self._put_before, entries)))
        else:
            handlers.append((selector, _handlers("element", method, entries)))
        return handlers

    def _fill_inner_for_map(self, element, body: str, markers: str, entries) -> None:
        # Called as Map.prototype.forEach's callback (value, key, map) with the element as `this`.
        # An exception would abort the page mid-stream; the slot as the origin sent it is better.
        try:
            self.fill_inner(element, markers, body)
        except Exception as exc:
            console.error(log_line("inject_failed", slot=_slot_name(element), error=repr(exc)))

    def _put_before_for_map(self, element, content: str, options, entries) -> None:
        # A replace fragment at a slot whose end tag may be omitted: just before the slot, which stays.
        try:
            element.before(content, options)
            self.log_shape(_slot_name(element), element.tagName, Operation.REPLACE)
        except Exception as exc:
            console.error(log_line("inject_failed", slot=_slot_name(element), error=repr(exc)))


def _selector(slot: str) -> str:
    return f'[{SLOT_ATTRIBUTE}="{slot}"]'


def _ordinary_selector(slot: str) -> str:
    """The slot's elements except those whose end tag may be omitted."""
    return _selector(slot) + "".join(f":not({tag})" for tag in sorted(OPTIONAL_END_TAGS))


def _optional_end_selector(slot: str) -> str:
    return ",".join(f"{tag}{_selector(slot)}" for tag in sorted(OPTIONAL_END_TAGS))


def _handlers(kind: str, method, entries: list[tuple]):
    """{kind: f}, where f(x) calls `x.method(value, key)` for each (key, value) of `entries`. The
    keys are distinct (a Map's are): options objects, String wrappers, one string."""
    calls = _for_each.bind(Map.new(to_js([list(entry) for entry in entries])), method)
    return to_js_object({kind: calls})


def _slot_name(element) -> str | None:
    try:
        return element.getAttribute(SLOT_ATTRIBUTE)
    except Exception:
        return None
