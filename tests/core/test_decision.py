"""decide(): score the visitor, run the rules, render one fragment per slot, and explain it in a trace;
the attribute map conditions and templates see; markers and insertion of each choice; bots."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from intentedge import Bundle, compile_bundle
from intentedge.decision import (CONTROL, FALLBACK, Choice, Decision, attribute_map, decide, marker_pairs,
                                 operation_at, slot_element)
from intentedge.fragments import ContentType, Fragment, Operation
from intentedge.markup import OPTIONAL_END_TAGS
from intentedge.profile import Profile
from intentedge.scoring import VECTORS
from intentedge.preview import Preview
from intentedge.session import Session, advance, new_session, rule_tag

from tests.core.builders import DAY, GOOGLEBOT_UA, MINUTE, NOW, context, counter_bytes, valid_config

VISITOR = "rHI2ilhqGMGQiDk1c84DBw"

CONFIG = {
    "signals": {"stages": ["browse", "product", "cart", "checkout", "purchase"],
                "pages": [{"pattern": "^/products/(?P<product>[a-z0-9-]+)/", "stage": "product",
                           "category": "cameras"}]},
    "products": {"alpha-pro": {"name": "Alpha <Pro>", "price": 2499}},
    "slots": {"hero": {"fallback": "hero-welcome"}, "promo": {"fallback": "promo-newsletter"}, "banner": {}},
    "fragments": {
        "hero-welcome": {"html": "<h1>Cameras for every story</h1>"},
        "hero-premium": {"html": "<h2>Premium care for your ${cart.value:,.0f} order</h2>"},
        "hero-onboarding": {"html": "<h2>New here?</h2>"},
        "hero-loyalty": {"html": "<h2>{params.reward} for regulars</h2>"},
        "hero-continue": {"html": '<a href="/products/{product.id}/">{product.name}</a>'},
        "promo-newsletter": {"html": "<p>Field notes</p>"},
        "promo-local": {"text": "Free pickup in {city} <today>", "op": "prepend"},
        "banner-sale": {"html": "<strong>Sale</strong>", "op": "before"},
    },
    "rules": [
        {"id": "continue", "slot": "hero", "fragment": "hero-continue", "priority": 10,
         "when": {"session.visits": {"$gte": 2}, "session.stage": "product"}},
        {"id": "premium", "slot": "hero", "fragment": "hero-premium", "group": "chain",
         "when": {"cart.value": {"$gt": 150}}},
        {"id": "onboarding", "slot": "hero", "fragment": "hero-onboarding", "group": "chain",
         "when": {"session.new_visitor": True}},
        {"id": "loyalty", "slot": "hero", "fragment": "hero-loyalty", "group": "chain",
         "params": {"reward": "20 % off"}, "when": {"logged_in": True, "profile.purchases": {"$gte": 3}}},
        {"id": "local", "slot": "promo", "fragment": "promo-local", "path_prefix": "/guides/"},
        {"id": "sale", "slot": "banner", "fragment": "banner-sale", "when": {"request.utm.campaign": "sale"}},
    ],
}
BUNDLE = compile_bundle(CONFIG, source="t")


def session(**changes) -> Session:
    """A returning visitor on the second page of their first session."""
    return replace(Session(VISITOR, NOW - 5 * MINUTE, NOW - MINUTE, pages=2), **changes)


def run(path: str = "/", visitor: Session | None = None, profile: Profile | None = None, *, bundle: Bundle = BUNDLE,
        logged_in: bool = False, **request) -> Decision:
    return decide(bundle, context(path, **request), visitor, profile, now=NOW, logged_in=logged_in)


def shown(decision: Decision) -> dict[str, tuple[str, str | None]]:
    return {c.slot: (c.fragment.id, c.rule_id) for c in decision.choices}


# -- path rules (what Bundle.choose used to do) -----------------------------------------------

PATHS = compile_bundle(valid_config(), source="test.toml")


@pytest.mark.parametrize(
    "path, expected",
    [
        pytest.param("/", {"hero": ("hero-default", None)}, id="home-fallback-only"),
        pytest.param("/about", {"hero": ("hero-default", None)}, id="no-rule-matches"),
        pytest.param("/products/", {"hero": ("pro-tip", "tip-on-pro"), "sidebar": ("pro-tip", "tip-on-products")},
                     id="prefix-exact"),
        pytest.param("/products/lens", {"hero": ("pro-tip", "tip-on-pro"),
                                        "sidebar": ("pro-tip", "tip-on-products")}, id="under-prefix"),
        # both hero rules match with equal priority and score: the first listed wins
        pytest.param("/products/pro/x1", {"hero": ("camera-guide", "guide-on-pro"),
                                          "sidebar": ("pro-tip", "tip-on-products")}, id="first-match-wins"),
        # a plain string prefix: no segment semantics, no trailing-slash normalisation
        pytest.param("/products", {"hero": ("hero-default", None)}, id="prefix-without-slash"),
        pytest.param("/Products/", {"hero": ("hero-default", None)}, id="case-sensitive"),
        pytest.param("", {"hero": ("hero-default", None)}, id="empty-path"),
    ],
)
def test_path_prefix_rules(path, expected):
    assert shown(decide(PATHS, context(path), None, None, now=NOW)) == expected


def test_rule_order_decides_not_prefix_length():
    config = valid_config()
    config["rules"] = [
        {"id": "broad", "slot": "hero", "fragment": "pro-tip", "path_prefix": "/"},
        {"id": "narrow", "slot": "hero", "fragment": "camera-guide", "path_prefix": "/products/pro/"},
    ]
    assert shown(run("/products/pro/x", bundle=compile_bundle(config, source="t"))) == {"hero": ("pro-tip", "broad")}


def test_slot_without_fallback_or_matching_rule_gets_no_choice():
    bundle = compile_bundle({"slots": {"s": {}}, "fragments": {"f": {"html": "x"}},
                             "rules": [{"id": "r", "slot": "s", "fragment": "f", "path_prefix": "/deals"}]},
                            source="t")
    assert run("/home", bundle=bundle).choices == []
    assert run("/deals/today", bundle=bundle).choices == [
        Choice("s", Fragment("f", "x", ContentType.HTML), "x", "r", "f")]


def test_empty_bundle_chooses_nothing():
    decision = run("/", session(), bundle=Bundle())
    assert decision.choices == []
    assert decision.trace["rules"] == {"fired": {}, "control": {}, "skipped": {}}


# -- the if / else-if hierarchy of docs/configuration.md, end to end ---------------------------


@pytest.mark.parametrize(
    "visitor, profile, logged_in, hero, content",
    [
        pytest.param(session(cart_value=200.0, cart_items=1), None, False, ("hero-premium", "premium"),
                     "<h2>Premium care for your $200 order</h2>", id="cart-over-150"),
        # an open cart from the profile counts when the session has none
        pytest.param(session(), Profile(cart_value=1500.0, cart_items=1, last_seen=NOW), False,
                     ("hero-premium", "premium"), "<h2>Premium care for your $1,500 order</h2>", id="profile-cart"),
        pytest.param(advance(new_session(NOW, counter_bytes()), NOW), None, True, ("hero-onboarding", "onboarding"),
                     "<h2>New here?</h2>", id="new-visitor"),
        pytest.param(session(), Profile(purchases=3, last_seen=NOW), True, ("hero-loyalty", "loyalty"),
                     "<h2>20 % off for regulars</h2>", id="loyal"),
        pytest.param(session(), Profile(purchases=3, last_seen=NOW), False, ("hero-welcome", None),
                     "<h1>Cameras for every story</h1>", id="loyal-but-logged-out"),
        pytest.param(session(), None, False, ("hero-welcome", None), "<h1>Cameras for every story</h1>",
                     id="nobody"),
    ],
)
def test_the_if_else_if_hierarchy_end_to_end(visitor, profile, logged_in, hero, content):
    decision = run("/", visitor, profile, logged_in=logged_in)
    [choice] = [c for c in decision.choices if c.slot == "hero"]
    assert ((choice.fragment.id, choice.rule_id), choice.content) == (hero, content)


def test_a_higher_priority_rule_beats_the_chain_and_renders_the_catalog_product():
    visitor = session(visits=2, stage=1, products=("alpha-pro",), cart_value=200.0, cart_items=1)
    decision = run("/", visitor)
    [hero] = [c for c in decision.choices if c.slot == "hero"]
    # product values are escaped in HTML fragments
    assert (hero.rule_id, hero.content) == ("continue", '<a href="/products/alpha-pro/">Alpha &lt;Pro&gt;</a>')
    # the whole chain is on the taken slot: skipped in rank order, their conditions never evaluated
    assert decision.trace["rules"]["skipped"]["slot taken by 'continue'"] == ["premium", "onboarding", "loyalty"]


# -- the trace --------------------------------------------------------------------------------


def test_trace_shape():
    visitor = session(cart_value=200.0, cart_items=1, pages=4)
    decision = run("/guides/x?utm_campaign=sale", visitor, cf={"city": "Lyon"})

    trace = decision.trace
    assert list(trace) == ["score", "tier", "contributions", "rules", "choices"]
    assert (trace["score"], trace["tier"]) == (17.5, "low")
    # four pages, one cart add in them
    assert trace["contributions"] == {**dict.fromkeys(VECTORS, 0.0), "depth": 10.0, "interaction": 7.5}
    assert trace["rules"]["fired"] == {"premium": ["hero"], "local": ["promo"], "sale": ["banner"]}
    assert trace["rules"]["control"] == {}
    # continue ranks first and is checked; once premium has the hero, the rest of the chain is not
    assert trace["rules"]["skipped"] == {"condition not met": ["continue"],
                                         "slot taken by 'premium'": ["onboarding", "loyalty"]}
    assert trace["choices"] == {
        "hero": {"rule": "premium", "fragment": "hero-premium", "variant": "hero-premium"},
        "promo": {"rule": "local", "fragment": "promo-local", "variant": "promo-local"},
        "banner": {"rule": "sale", "fragment": "banner-sale", "variant": "banner-sale"},
    }
    json.dumps(trace)  # it is logged as one JSON line


def test_trace_of_fallbacks_and_skipped_reasons():
    bundle = compile_bundle({**CONFIG, "engine": {"max_active": 1}}, source="t")
    decision = run("/guides/x?utm_campaign=sale", session(cart_value=200.0, cart_items=1), bundle=bundle,
                   cf={"city": "Lyon"})
    rules = decision.trace["rules"]
    assert rules["fired"] == {"premium": ["hero"]}
    # every rule ranked after the one that fired is skipped, in rank order, whatever its slot
    assert rules["skipped"] == {"condition not met": ["continue"],
                                "max_active=1 rules already fired": ["onboarding", "loyalty", "local", "sale"]}
    assert decision.trace["choices"]["promo"] == {"rule": FALLBACK, "fragment": "promo-newsletter",
                                                  "variant": "promo-newsletter"}
    assert "banner" not in decision.trace["choices"]  # no rule, no fallback: the origin's content stays


# -- markers and insertion --------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule_id, variant, markers",
    [
        pytest.param("premium", "hero-premium", {"data-pz-rule": "premium", "data-pz-variant": "hero-premium"},
                     id="fired"),
        pytest.param(None, "hero-welcome", {"data-pz-rule": "fallback", "data-pz-variant": "hero-welcome"},
                     id="fallback"),
        pytest.param("premium", CONTROL, {"data-pz-rule": "premium", "data-pz-variant": "control"}, id="control"),
    ],
)
def test_markers(rule_id, variant, markers):
    choice = Choice("hero", Fragment("f", "x", ContentType.HTML), "x", rule_id, variant)
    assert choice.markers == markers


@pytest.mark.parametrize("op", [Operation.INNER, Operation.APPEND, Operation.PREPEND], ids=lambda op: op.value)
@pytest.mark.parametrize("content_type", list(ContentType), ids=lambda ct: ct.value)
def test_inner_append_prepend_mark_the_slot_and_insert_as_declared(op, content_type):
    choice = Choice("hero", Fragment("f", "<b>x</b>", content_type, op), "<b>x</b>", "r", "f")
    assert choice.marks_slot is True
    # text stays raw here: the rewriter inserts it as text
    assert choice.insertion() == ("<b>x</b>", content_type is ContentType.HTML)


@pytest.mark.parametrize("op", [Operation.BEFORE, Operation.AFTER, Operation.REPLACE], ids=lambda op: op.value)
@pytest.mark.parametrize(
    "content_type, body",
    [
        pytest.param(ContentType.HTML, "<b>Sale & more</b>", id="html"),
        # wrapped text is escaped here, since the wrapper itself is HTML
        pytest.param(ContentType.TEXT, "&lt;b&gt;Sale &amp; more&lt;/b&gt;", id="text"),
    ],
)
def test_before_after_replace_wrap_their_content_with_the_markers(op, content_type, body):
    choice = Choice("banner", Fragment("f", "x", content_type, op), "<b>Sale & more</b>", "sale", "banner-sale")
    assert choice.marks_slot is False
    assert choice.insertion() == (
        f'<div data-pz-slot="banner" data-pz-rule="sale" data-pz-variant="banner-sale" style="display:contents">{body}</div>', True)


def test_fallback_and_control_wrappers_carry_their_markers():
    fallback = Choice("banner", Fragment("f", "x", ContentType.HTML, Operation.AFTER), "x", None, "f")
    assert fallback.insertion()[0] == (
        '<div data-pz-slot="banner" data-pz-rule="fallback" data-pz-variant="f" style="display:contents">x</div>')
    control = Choice("banner", Fragment("f", "x", ContentType.HTML, Operation.AFTER), "x", "sale", CONTROL)
    assert control.insertion()[0] == (
        '<div data-pz-slot="banner" data-pz-rule="sale" data-pz-variant="control" style="display:contents">x</div>')


def test_a_text_fragment_renders_unescaped_and_wraps_escaped():
    decision = run("/guides/x", session(), cf={"city": "<Lyon>"})
    [promo] = [c for c in decision.choices if c.slot == "promo"]
    assert promo.content == "Free pickup in <Lyon> <today>"
    assert promo.insertion() == ("Free pickup in <Lyon> <today>", False)  # prepend: the rewriter escapes


# -- bots -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"headers": {"user-agent": GOOGLEBOT_UA}}, id="bot-user-agent"),
        pytest.param({"cf": {"botManagement": {"verifiedBot": True}}}, id="verified-bot"),
    ],
)
def test_bots_get_fallbacks_only_and_no_session(request_kwargs):
    visitor = session(cart_value=200.0, cart_items=1)
    decision = run("/guides/x?utm_campaign=sale", visitor, Profile(purchases=9), logged_in=True, **request_kwargs)
    assert shown(decision) == {"hero": ("hero-welcome", None), "promo": ("promo-newsletter", None)}
    assert decision.session is None
    assert decision.trace == {"bot": True, "choices": {
        "hero": {"rule": FALLBACK, "fragment": "hero-welcome", "variant": "hero-welcome"},
        "promo": {"rule": FALLBACK, "fragment": "promo-newsletter", "variant": "promo-newsletter"},
    }}


# -- sessions and impressions -----------------------------------------------------------------


def test_fired_rules_are_recorded_in_the_returned_session_only():
    visitor = session(cart_value=200.0, cart_items=1)
    decision = run("/guides/x", visitor, cf={"city": "Lyon"})
    assert decision.session.impressions_of("premium") == (1, 1)
    assert decision.session.impressions_of("local") == (1, 1)
    assert decision.session.impressions_of("onboarding") == (0, 0)
    assert visitor.impressions == {}  # the session passed in is left alone
    assert replace(decision.session, impressions={}) == visitor


def test_a_frequency_cap_holds_across_pages():
    config = copy_config()
    config["rules"][1]["cap"] = {"session": 2}
    bundle = compile_bundle(config, source="t")
    visitor = session(cart_value=200.0, cart_items=1)
    heroes = []
    for minute in range(4):
        visitor = advance(visitor, NOW + minute * MINUTE)
        decision = decide(bundle, context("/"), visitor, None, now=NOW + minute * MINUTE)
        heroes.append(shown(decision)["hero"][1])
        visitor = decision.session
    assert heroes == ["premium", "premium", None, None]
    assert decision.trace["rules"]["skipped"]["frequency cap: 2 of 2 this session"] == ["premium"]


def copy_config() -> dict:
    return json.loads(json.dumps(CONFIG))


def test_without_a_session_rules_still_fire_and_nothing_is_written_back():
    decision = run("/", None, Profile(purchases=5, last_seen=NOW), logged_in=True)
    assert shown(decision)["hero"] == ("hero-loyalty", "loyalty")
    assert decision.session is None


# -- holdouts ---------------------------------------------------------------------------------


def held_out_bundle(percent: float, fallback: bool = True) -> Bundle:
    config = copy_config()
    config["rules"][1]["holdout"] = percent
    if not fallback:
        config["slots"]["hero"] = {}
    return compile_bundle(config, source="t")


def test_a_held_out_visitor_sees_the_fallback_marked_as_control():
    decision = run("/", session(cart_value=200.0, cart_items=1), bundle=held_out_bundle(100))
    [hero] = [c for c in decision.choices if c.slot == "hero"]
    assert (hero.fragment.id, hero.rule_id, hero.variant) == ("hero-welcome", "premium", CONTROL)
    assert hero.content == "<h1>Cameras for every story</h1>"
    assert hero.markers == {"data-pz-rule": "premium", "data-pz-variant": "control"}
    assert decision.trace["rules"]["control"] == {"premium": ["hero"]}
    assert decision.trace["choices"]["hero"] == {"rule": "premium", "fragment": "hero-welcome", "variant": "control"}
    # the control's next branch does not take over; the impression counts as the treatment's
    # would, so a frequency cap holds both arms to the same number of pages
    assert "onboarding" not in decision.trace["rules"]["fired"]
    assert decision.session.impressions_of("premium") == (1, 1)


def test_control_on_a_slot_without_fallback_marks_the_origin_content():
    decision = run("/", session(cart_value=200.0, cart_items=1), bundle=held_out_bundle(100, fallback=False))
    [hero] = [c for c in decision.choices if c.slot == "hero"]
    assert (hero.fragment.id, hero.content, hero.variant) == ("origin", "", CONTROL)
    assert hero.insertion() == ("", True) and hero.marks_slot   # markers on the slot, content untouched
    assert decision.trace["rules"]["control"] == {"premium": ["hero"]}


def test_a_held_out_visitor_is_no_control_where_the_rule_could_not_have_shown():
    config = copy_config()
    config["rules"][1]["holdout"] = 100
    config["fragments"][config["rules"][1]["fragment"]]["html"] = "<p>{product.name}</p>"   # no product seen
    decision = run("/", session(cart_value=200.0, cart_items=1), bundle=compile_bundle(config, source="t"))
    assert decision.trace["rules"]["control"] == {}
    assert decision.trace["choices"]["hero"]["variant"] != CONTROL
    assert decision.session.impressions_of("premium") == (0, 0)


def test_without_a_session_nobody_is_held_out():
    decision = run("/", None, Profile(cart_value=300.0, cart_items=1, last_seen=NOW), bundle=held_out_bundle(100))
    assert shown(decision)["hero"] == ("hero-premium", "premium")


# -- missing parameters -----------------------------------------------------------------------


def test_a_missing_template_parameter_shows_the_fallback_and_reports_the_rule_skipped():
    # the product is not in the catalog: {product.name} has no value
    visitor = session(visits=2, stage=1, products=("zeta-unknown",))
    decision = run("/", visitor)
    assert shown(decision)["hero"] == ("hero-welcome", None)
    assert "continue" not in decision.trace["rules"]["fired"]
    [(reason, rules)] = [(r, ids) for r, ids in decision.trace["rules"]["skipped"].items() if "continue" in ids]
    assert reason.startswith("missing parameter") and rules == ["continue"]
    assert decision.session.impressions_of("continue") == (0, 0)


def test_a_fallback_with_a_missing_parameter_leaves_the_origin_content():
    config = copy_config()
    config["fragments"]["promo-product"] = {"html": "<p>Still thinking about {product.name}?</p>"}
    config["slots"]["promo"] = {"fallback": "promo-product"}
    bundle = compile_bundle(config, source="t")
    assert "promo" not in shown(run("/", session(), bundle=bundle))
    assert shown(run("/", session(products=("alpha-pro",)), bundle=bundle))["promo"] == ("promo-product", None)


def test_a_missing_city_is_a_missing_parameter():
    # city='' is no value: 'Free pickup in {city}.' falls back rather than render 'Free pickup in .'
    decision = run("/guides/x", session(), cf={"country": "US"})  # Cloudflare often knows the country only
    assert shown(decision)["promo"] == ("promo-newsletter", None)
    assert "local" not in decision.trace["rules"]["fired"]
    [reason] = [r for r, ids in decision.trace["rules"]["skipped"].items() if "local" in ids]
    assert reason.startswith("missing parameter")
    assert decision.session.impressions_of("local") == (0, 0)


# -- the attribute map ------------------------------------------------------------------------


def test_attribute_map_of_a_known_visitor():
    visitor = session(visits=2, stage=2, products=("alpha-pro",), categories=("cameras",), cart_value=649.5,
                      cart_items=1)
    profile = Profile(purchases=4, stage=4, categories={"cameras": 2.0}, last_seen=NOW - DAY)
    ctx = context("/products/alpha-pro/", cf={"country": "FR", "region": "IDF", "city": "Paris"})
    attributes = attribute_map(BUNDLE, ctx, visitor, profile, None, now=NOW, logged_in=True)

    assert attributes["request"] == ctx.attributes()
    assert attributes["session"]["stage"] == "cart"           # stage names, not indexes
    assert attributes["profile"]["stage"] == "purchase"
    assert attributes["profile"]["days_since_seen"] == 1
    assert attributes["cart"] == {"value": 649.5, "items": 1}
    assert attributes["product"] == {"name": "Alpha <Pro>", "price": 2499, "id": "alpha-pro"}
    assert (attributes["city"], attributes["region"], attributes["country"]) == ("Paris", "IDF", "FR")
    assert (attributes["score"], attributes["tier"], attributes["contributions"]) == (0.0, "", {})
    assert attributes["logged_in"] is True


def test_attribute_map_of_an_unknown_visitor():
    attributes = attribute_map(BUNDLE, context("/"), None, None, None, now=NOW, logged_in=False)
    assert attributes["session"] == {}
    assert attributes["profile"]["known"] is False and attributes["profile"]["stage"] == "browse"
    assert attributes["cart"] == {"value": 0, "items": 0}
    assert attributes["product"] == {}


def test_attribute_map_product_outside_the_catalog_has_only_its_id():
    attributes = attribute_map(BUNDLE, context("/"), session(products=("zeta",)), None, None, now=NOW,
                               logged_in=False)
    assert attributes["product"] == {"id": "zeta"}


def test_the_decision_sees_the_score_and_tier():
    config = copy_config()
    config["rules"].append({"id": "hot", "slot": "banner", "fragment": "banner-sale", "priority": 1,
                            "when": {"score": {"$gte": 50}, "tier": "low"}})
    bundle = compile_bundle(config, source="t")
    visitor = session(pages=8, dwell=120, stage=1)  # 20 + 25 + 6.2
    decision = run("/", visitor, bundle=bundle)
    assert decision.trace["score"] == 51.2
    assert shown(decision)["banner"] == ("banner-sale", "hot")


# -- previews ---------------------------------------------------------------------------------

def forced_config() -> dict:
    """CONFIG plus banner rules that never fire on their own, and tier and country rules on a strip."""
    config = copy_config()
    config["slots"]["strip"] = {}
    config["fragments"]["strip-tier"] = {"html": "{tier} at {score:.0f}"}
    config["rules"] += [
        {"id": "later", "slot": "banner", "fragment": "banner-sale", "schedule": {"start": NOW + DAY}},
        {"id": "capped", "slot": "banner", "fragment": "banner-sale", "cap": {"session": 1}},
        {"id": "held", "slot": "banner", "fragment": "banner-sale", "holdout": 100},
        {"id": "hot", "slot": "strip", "fragment": "strip-tier", "when": {"tier": "high", "score": {"$gte": 85}}},
        {"id": "german", "slot": "strip", "fragment": "strip-tier", "when": {"request.country": "DE"}},
    ]
    return config


FORCED = compile_bundle(forced_config(), source="t")
CAPPED = {rule_tag("capped"): (1, 1)}   # "capped" has had its one showing this session


def previewed(preview: Preview | None, path: str = "/", visitor: Session | None = None, **request) -> Decision:
    visitor = visitor if visitor is not None else session(impressions=CAPPED)
    return decide(FORCED, context(path, **request), visitor, None, now=NOW, preview=preview)


@pytest.mark.parametrize(
    "tier, score, strip",
    [
        pytest.param("high", 85.0, ("strip-tier", "hot"), id="high"),
        pytest.param("medium", 60.0, None, id="medium"),
        pytest.param("low", 0.0, None, id="low-the-implicit-floor"),
    ],
)
def test_a_forced_tier_scores_its_threshold(tier, score, strip):
    decision = previewed(Preview(tier=tier))
    assert (decision.trace["score"], decision.trace["tier"]) == (score, tier)
    assert shown(decision).get("strip") == strip


def test_a_forced_tier_is_what_templates_render():
    [strip] = [c for c in previewed(Preview(tier="high")).choices if c.slot == "strip"]
    assert strip.content == "high at 85"


@pytest.mark.parametrize("tier", [pytest.param("ultra", id="unknown"), pytest.param("HIGH", id="wrong-case")])
def test_an_unknown_forced_tier_changes_nothing(tier):
    visitor = session(pages=8, dwell=120, stage=1, impressions=CAPPED)     # scores 51.2, not 0
    plain, forced = previewed(None, visitor=visitor), previewed(Preview(tier=tier), visitor=visitor)
    assert (forced.trace["score"], forced.trace["tier"]) == (plain.trace["score"], plain.trace["tier"]) == (51.2, "low")
    assert forced.choices == plain.choices


@pytest.mark.parametrize(
    "rule_id",
    [
        pytest.param("sale", id="condition-not-met"),
        pytest.param("later", id="not-yet-scheduled"),
        pytest.param("capped", id="frequency-capped"),
        pytest.param("held", id="held-out"),
    ],
)
def test_a_forced_rule_takes_its_slots_whatever_stops_it(rule_id):
    # on its own, nothing shows on the banner (a held-out visitor's banner is only marked as control)
    assert shown(previewed(None)).get("banner", ("origin",))[0] == "origin"
    decision = previewed(Preview(rule=rule_id))
    assert shown(decision)["banner"] == ("banner-sale", rule_id)
    assert decision.trace["choices"]["banner"] == {"rule": rule_id, "fragment": "banner-sale",
                                                   "variant": "banner-sale"}      # not "control"
    assert decision.trace["preview"]["forced"] == "shown"


def test_a_forced_rule_replaces_the_winner_of_its_slot():
    visitor = session(cart_value=200.0, cart_items=1, impressions=CAPPED)
    assert shown(previewed(None, visitor=visitor))["hero"] == ("hero-premium", "premium")
    assert shown(previewed(Preview(rule="onboarding"), visitor=visitor))["hero"] == ("hero-onboarding", "onboarding")


def test_a_forced_rule_renders_with_its_params():
    [hero] = [c for c in previewed(Preview(rule="loyalty")).choices if c.slot == "hero"]
    assert (hero.rule_id, hero.content) == ("loyalty", "<h2>20 % off for regulars</h2>")


@pytest.mark.parametrize(
    "rule_id, forced",
    [
        pytest.param("no-such-rule", "unknown rule", id="unknown"),
        pytest.param("SALE", "unknown rule", id="ids-are-case-sensitive"),
        # no product viewed: {product.name} has no value, and the slot keeps what it had
        pytest.param("continue", "missing parameter in 'hero-continue'", id="missing-parameter"),
    ],
)
def test_a_forced_rule_that_cannot_show_is_reported_and_changes_nothing(rule_id, forced):
    decision = previewed(Preview(rule=rule_id))
    assert decision.trace["preview"]["forced"] == forced
    assert decision.choices == previewed(None).choices


@pytest.mark.parametrize(
    "overrides, path, slot, expected",
    [
        pytest.param(((("request", "country"), "DE"),), "/", "strip", ("strip-tier", "german"), id="request-country"),
        pytest.param(((("request", "utm", "campaign"), "sale"),), "/", "banner", ("banner-sale", "sale"),
                     id="nested-utm"),
        pytest.param(((("cart", "value"), 300),), "/", "hero", ("hero-premium", "premium"), id="cart-value"),
        pytest.param(((("session", "new_visitor"), True),), "/", "hero", ("hero-onboarding", "onboarding"),
                     id="session-attribute"),
        pytest.param(((("logged_in",), True), (("profile", "purchases"), 3)), "/", "hero", ("hero-loyalty", "loyalty"),
                     id="two-roots"),
    ],
)
def test_overrides_change_which_rules_match(overrides, path, slot, expected):
    assert shown(previewed(None, path)).get(slot) != expected
    assert shown(previewed(Preview(overrides=overrides), path))[slot] == expected


def test_overrides_are_what_templates_render():
    decision = previewed(Preview(overrides=((("city",), "Berlin"),)), "/guides/x", cf={"city": "Lyon"})
    [promo] = [c for c in decision.choices if c.slot == "promo"]
    assert promo.content == "Free pickup in Berlin <today>"


@pytest.mark.parametrize(
    "preview",
    [
        pytest.param(Preview(), id="trace-only"),
        pytest.param(Preview(rule="sale"), id="forced-rule"),
        pytest.param(Preview(overrides=((("request", "utm", "campaign"), "sale"),)), id="override"),
    ],
)
def test_a_preview_counts_no_impressions(preview):
    visitor = session(cart_value=200.0, cart_items=1)
    plain = decide(FORCED, context("/"), visitor, None, now=NOW)
    assert plain.session.impressions_of("premium") == (1, 1)      # the same page without a preview counts
    decision = decide(FORCED, context("/"), visitor, None, now=NOW, preview=preview)
    assert shown(decision)["hero"] == ("hero-premium", "premium")
    assert decision.session == visitor


@pytest.mark.parametrize(
    "preview, entry",
    [
        pytest.param(Preview(), {"tier": None, "rule": None, "set": {}, "forced": None}, id="trace-only"),
        pytest.param(Preview("high", "sale", ((("request", "country"), "DE"),)),
                     {"tier": "high", "rule": "sale", "set": {"request.country": "DE"}, "forced": "shown"},
                     id="everything"),
        pytest.param(Preview(rule="nope"), {"tier": None, "rule": "nope", "set": {}, "forced": "unknown rule"},
                     id="unknown-rule"),
    ],
)
def test_the_trace_has_a_preview_entry(preview, entry):
    trace = previewed(preview).trace
    assert list(trace) == ["score", "tier", "contributions", "rules", "choices", "preview"]
    assert trace["preview"] == entry
    json.dumps(trace)
    assert "preview" not in previewed(None).trace


@pytest.mark.parametrize(
    "preview, path, banner",
    [
        pytest.param(Preview(), "/guides/x?utm_campaign=sale", ("banner-sale", "sale"), id="trace-only"),
        pytest.param(Preview(rule="later"), "/", ("banner-sale", "later"), id="forced-rule"),
    ],
)
def test_a_bot_with_a_preview_is_evaluated(preview, path, banner):
    bot = {"headers": {"user-agent": GOOGLEBOT_UA}, "cf": {"city": "Lyon"}}
    assert "banner" not in shown(previewed(None, path, **bot))        # fallbacks only, as for any crawler
    decision = previewed(preview, path, **bot)
    assert shown(decision)["banner"] == banner
    assert "bot" not in decision.trace and "preview" in decision.trace


def test_an_inner_slot_element_is_written_whole_with_its_raw_attributes_and_the_markers():
    choice = Choice("hero", Fragment("f", "x", ContentType.TEXT, Operation.INNER), "a < b", "sale", "f")
    attributes = [("data-personalized-region", "hero"), ("title", 'say "hi"'), ("data-x", "a &amp; it's"),
                  ("hidden", "")]
    assert slot_element("section", attributes, *choice.inner_parts()) == (
        '<section data-personalized-region="hero" title=\'say "hi"\' data-x="a &amp; it\'s" hidden=""'
        ' data-pz-rule="sale" data-pz-variant="f">a &lt; b</section>')


def test_a_void_slot_element_gets_only_its_start_tag_with_the_markers():
    choice = Choice("hero", Fragment("f", "x", ContentType.HTML, Operation.INNER), "<b>x</b>", None, "f")
    assert slot_element("img", [("src", "a.png")], *choice.inner_parts()) == (
        '<img src="a.png" data-pz-rule="fallback" data-pz-variant="f">')


@pytest.mark.parametrize("tag", sorted(OPTIONAL_END_TAGS))
@pytest.mark.parametrize("operation", list(Operation), ids=lambda op: op.value)
def test_a_slot_whose_end_tag_may_be_omitted_gets_nothing_that_removes_up_to_it(tag, operation):
    """Inner and replace would remove up to an end tag that may never come: they go in at the start
    tag instead, with the same insertion; the others are unchanged."""
    choice = Choice("hero", Fragment("f", "x", ContentType.HTML, operation), "<b>x</b>", None, "f")
    expected = {Operation.INNER: Operation.PREPEND, Operation.REPLACE: Operation.BEFORE}.get(operation, operation)
    assert choice.operation_at(tag) is expected
    assert operation_at(operation, tag) is expected


@pytest.mark.parametrize("tag", ["div", "section", "span", "a", "img", "br", "svg", "custom-element"])
@pytest.mark.parametrize("operation", list(Operation), ids=lambda op: op.value)
def test_any_other_slot_element_gets_its_fragments_operation(tag, operation):
    choice = Choice("hero", Fragment("f", "x", ContentType.TEXT, operation), "x", "r", "f")
    assert choice.operation_at(tag) is operation


@pytest.mark.parametrize("rule, variant", [("sale", "f"), (None, "control"), ('a"b&c<d', "x'y")])
def test_the_markers_come_back_as_the_pairs_they_were_written_from(rule, variant):
    choice = Choice("hero", Fragment("f", "x", ContentType.TEXT, Operation.INNER), "x", rule, variant)
    markers, _ = choice.inner_parts()
    assert marker_pairs(markers) == list(choice.markers.items())
