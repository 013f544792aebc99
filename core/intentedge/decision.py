"""The decision for one request: score the visitor, run the rules, render one fragment per slot,
and explain it all in a trace.

    decide(bundle, context, session, profile, now=..., logged_in=..., preview=...) -> Decision

Pure: the Worker passes the request context, the session from the cookie, the
profile from KV and the clock; it gets back what to inject, the session to write
back, and the trace to log. A preview (preview.py) forces a tier, a rule or
attributes, and counts no impressions.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from intentedge.contract.config import Bundle
from intentedge.context import RequestContext
from intentedge.fragments import ContentType, Fragment, MissingParameter, Operation
from intentedge.markup import OPTIONAL_END_TAGS, VOID_ELEMENTS
from intentedge.preview import Preview
from intentedge.profile import UNKNOWN_PROFILE_ATTRIBUTES, Profile
from intentedge.rules import Evaluation, Outcome
from intentedge.scoring import Score, ScoringModel, score
from intentedge.session import Session, record_impressions

FALLBACK = "fallback"
CONTROL = "control"
# What a held-out slot without a usable fallback gets: its markers, the origin's content untouched.
ORIGIN_CONTENT = Fragment("origin", "", ContentType.HTML, Operation.APPEND)
_WRAPPED = (Operation.BEFORE, Operation.AFTER, Operation.REPLACE)
# What a slot whose end tag may be omitted gets instead of an operation that removes content up to
# its end tag (docs/slots.md): the same content, put in at the slot's start tag.
_AT_START_TAG = {Operation.INNER: Operation.PREPEND, Operation.REPLACE: Operation.BEFORE}


@dataclass(frozen=True)
class Choice:
    """What one slot gets on this page."""

    slot: str
    fragment: Fragment
    content: str                   # rendered
    rule_id: str | None            # None: the slot's fallback
    variant: str                   # the fragment's id, or "control" for a held-out visitor

    @property
    def markers(self) -> dict[str, str]:
        """Attributes that tell the page's analytics what was shown."""
        return {"data-pz-rule": self.rule_id or FALLBACK, "data-pz-variant": self.variant}

    @property
    def marks_slot(self) -> bool:
        """Inner, append and prepend mark the slot element; the others wrap their content instead."""
        return self.fragment.operation not in _WRAPPED

    def operation_at(self, tag: str) -> Operation:
        """The operation a slot element named `tag` gets (the module's operation_at)."""
        return operation_at(self.fragment.operation, tag)

    def insertion(self) -> tuple[str, bool]:
        """(content, is_html) as the rewriter inserts it."""
        if self.marks_slot:
            return self.content, self.fragment.is_html
        markers = {"data-pz-slot": self.slot, **self.markers}   # no slot element carries its name here
        return f'<div{_attributes(markers)} style="display:contents">{self._html_body()}</div>', True

    def inner_parts(self) -> tuple[str, str]:
        """(markers, body) as an inner fragment's slot element gets them (see slot_element)."""
        return _attributes(self.markers), self._html_body()

    def _html_body(self) -> str:
        return self.content if self.fragment.is_html else html.escape(self.content, quote=False)


def operation_at(operation: Operation, tag: str) -> Operation:
    """`operation` as a slot element named `tag` gets it. Inner and replace remove the slot's content
    up to the end tag the rewriter matches; where HTML lets the page omit that end tag
    (markup.OPTIONAL_END_TAGS: `<p>a<p>b`, `<li>a<li>b`), the rewriter would match the parent's, and
    the siblings in between would go. There inner goes in as the slot's first content and replace
    just before the slot, with the same insertion(): the origin's content stays."""
    return _AT_START_TAG.get(operation, operation) if tag in OPTIONAL_END_TAGS else operation


def slot_element(tag: str, attributes, markers: str, body: str) -> str:
    """An inner fragment's slot element whole, from Choice.inner_parts: its own `attributes` ((name,
    raw value) pairs as the page has them, entities undecoded), the markers, the body and the end
    tag. Each raw value goes back in a quote it cannot contain (a double-quoted value holds no `"`, a
    single-quoted one no `'`), so it reads as before. A void element (no content, no end tag) is
    only its start tag with the markers."""
    start = f"<{tag}{''.join(_raw_attribute(name, value) for name, value in attributes)}{markers}>"
    return start if tag in VOID_ELEMENTS else f"{start}{body}</{tag}>"


def marker_pairs(markers: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of Choice.inner_parts' markers, for a rewriter that sets them one by one."""
    return [(name, html.unescape(value)) for name, value in _MARKER.findall(markers)]


_MARKER = re.compile(r' ([^\s="]+)="([^"]*)"')


def _raw_attribute(name: str, value: str) -> str:
    quote = "'" if '"' in value else '"'
    return f" {name}={quote}{value}{quote}"


def _attributes(values: dict[str, str]) -> str:
    return "".join(f' {name}="{html.escape(value)}"' for name, value in values.items())


@dataclass
class Decision:
    choices: list[Choice]
    session: Session | None
    trace: dict = field(default_factory=dict)


def attribute_map(bundle: Bundle, context: RequestContext, session: Session | None, profile: Profile | None,
                  result: Score | None, *, now: float, logged_in: bool) -> dict:
    """Everything conditions and template parameters can name (docs/configuration.md, "Attributes")."""
    request = context.attributes()
    stages = bundle.signals
    session_attrs = session.attributes() if session else {}
    if session:
        session_attrs["stage"] = stages.stage_name(session.stage)
    profile_attrs = profile.attributes(now) if profile else dict(UNKNOWN_PROFILE_ATTRIBUTES)
    profile_attrs["stage"] = stages.stage_name(profile_attrs["stage"])
    cart = session.cart if session and session.cart_items else {"value": profile_attrs["cart_value"],
                                                                 "items": profile.cart_items if profile else 0}
    product_id = session.products[0] if session and session.products else None
    product = bundle.products.get(product_id, {"id": product_id}) if product_id else {}
    return {
        "request": request,
        "session": session_attrs,
        "profile": profile_attrs,
        "cart": cart,
        "product": product,
        "score": result.total if result else 0.0,
        "tier": result.tier if result else "",
        "contributions": result.contributions if result else {},
        "logged_in": logged_in,
        "city": request["city"],
        "region": request["region"],
        "country": request["country"],
    }


def decide(bundle: Bundle, context: RequestContext, session: Session | None, profile: Profile | None, *,
           now: float, logged_in: bool = False, preview: Preview | None = None) -> Decision:
    if context.is_bot and preview is None:
        attributes = attribute_map(bundle, context, None, None, None, now=now, logged_in=False)
        choices = _fallbacks(bundle.slots.values(), attributes, {})
        return Decision(choices, None, {"bot": True, "choices": _trace_choices(choices)})

    result = score(bundle.scoring, session, profile, now, len(bundle.signals.stages))
    if preview is not None and preview.tier is not None:
        result = _with_tier(bundle.scoring, result, preview.tier)
    attributes = attribute_map(bundle, context, session, profile, result, now=now, logged_in=logged_in)
    if preview is not None:
        attributes = preview.apply(attributes)
    evaluation = bundle.evaluator.evaluate(
        attributes, now=now, visitor_id=session.visitor_id if session else None,
        impressions=session.impressions_of if session else _no_impressions, max_active=bundle.max_active)
    claimed: dict[str, Choice] = {}
    controls: dict[str, str] = {}
    shown: list[str] = []
    for outcome in list(evaluation.winners):
        # A held-out visitor is only a control where the rule could have shown: the same
        # eligibility as the treatment, and the same impression counts for its caps.
        if outcome.status == "control" and _rendered(outcome.rule, attributes) is not None:
            controls.update((slot, outcome.rule.id) for slot in outcome.slots)
            shown.append(outcome.rule.id)
        elif outcome.status == "fired" and _render(outcome, attributes, claimed):
            shown.append(outcome.rule.id)
        else:
            evaluation.skip(outcome, f"missing parameter in {outcome.rule.fragment.id!r}: fallback shown")
    forced = _force_rule(bundle, preview.rule, attributes, claimed) if preview and preview.rule else None
    choices = list(claimed.values()) + _fallbacks(
        (slot for name, slot in bundle.slots.items() if name not in claimed), attributes, controls)
    if session is not None and preview is None:
        session = record_impressions(session, shown)
    trace = {**result.trace(), "rules": _trace_rules(evaluation), "choices": _trace_choices(choices)}
    if preview is not None:
        trace["preview"] = {**preview.trace(), "forced": forced}
    return Decision(choices, session, trace)


def _with_tier(model: ScoringModel, result: Score, tier: str) -> Score:
    """The score at `tier`'s threshold (an unknown tier changes nothing)."""
    threshold = dict(model.tiers).get(tier)
    if threshold is None:
        return result
    return Score(threshold, tier, result.contributions, result.values)


def _force_rule(bundle: Bundle, rule_id: str, attributes: dict, claimed: dict[str, Choice]) -> str:
    """A previewed rule takes its slots whatever its condition, schedule, caps or holdout say."""
    rule = next((rule for rule in bundle.rules if rule.id == rule_id), None)
    if rule is None:
        return "unknown rule"
    if not _render(Outcome(rule, "fired", rule.slots), attributes, claimed):
        return f"missing parameter in {rule.fragment.id!r}"
    return "shown"


def _render(outcome: Outcome, attributes: dict, claimed: dict[str, Choice]) -> bool:
    """Claim the outcome's slots with its rendered fragment; False if a parameter is missing."""
    rule = outcome.rule
    content = _rendered(rule, attributes)
    if content is None:
        return False
    for slot in outcome.slots:
        claimed[slot] = Choice(slot, rule.fragment, content, rule.id, rule.fragment.id)
    return True


def _rendered(rule, attributes: dict) -> str | None:
    """The rule's fragment rendered with its params, or None if a parameter is missing."""
    try:
        return rule.fragment.render({**attributes, "params": rule.params} if rule.params else attributes)
    except MissingParameter:
        return None


def _fallbacks(slots, attributes: dict, controls: dict[str, str]) -> list[Choice]:
    """Each remaining slot's fallback; a held-out slot is marked as its rule's control even where
    there is no fallback to show (the origin's content stays)."""
    choices = []
    for slot in slots:
        rule_id = controls.get(slot.name)
        fragment, content = slot.fallback, None
        if fragment is not None:
            try:
                content = fragment.render(attributes)
            except MissingParameter:
                pass
        if content is not None:
            choices.append(Choice(slot.name, fragment, content, rule_id, CONTROL if rule_id else fragment.id))
        elif rule_id is not None:
            choices.append(Choice(slot.name, ORIGIN_CONTENT, "", rule_id, CONTROL))
    return choices


def _trace_rules(evaluation: Evaluation) -> dict:
    """Fired and held-out rules with their slots; skipped rules grouped by reason."""
    fired: dict[str, list[str]] = {}
    control: dict[str, list[str]] = {}
    for outcome in evaluation.winners:
        (fired if outcome.status == "fired" else control)[outcome.rule.id] = list(outcome.slots)
    return {"fired": fired, "control": control, "skipped": evaluation.skipped}


def _trace_choices(choices: list[Choice]) -> dict:
    return {c.slot: {"rule": c.rule_id or FALLBACK, "fragment": c.fragment.id, "variant": c.variant} for c in choices}


def _no_impressions(_rule_id: str) -> tuple[int, int]:
    return (0, 0)
