"""Trigger rules: schedule, frequency caps, condition, first-match groups, priority/score/order, max_active and
holdouts, each rule's outcome with its reason."""

from __future__ import annotations

import base64

import pytest

from intentedge import compile_bundle
from intentedge.bucketing import hash_value
from intentedge.rules import HOLDOUT_HASH_VERSION, CompiledRules, Rule

from tests.core.builders import HOUR, NOW, counter_bytes

VISITOR = "rHI2ilhqGMGQiDk1c84DBw"
SLOTS = ("hero", "promo", "sidebar", "footer")


def compiled(*specs: dict) -> tuple[Rule, ...]:
    """Rules as the config compiles them (file order, holdout in percent); each gets its own fragment."""
    rules = [{"slot": "hero", "fragment": f"f-{spec['id']}", **spec} for spec in specs]
    for spec in rules:
        if "slots" in spec:
            spec.pop("slot")
    config = {"slots": {name: {} for name in SLOTS}, "fragments": {f"f-{s['id']}": {"html": s["id"]} for s in rules},
              "rules": rules}
    return compile_bundle(config, source="t").rules


def run(rules, attributes: dict | None = None, *, now: float = NOW, visitor: str | None = VISITOR,
        impressions=None, max_active: int = 3) -> dict[str, tuple]:
    """Each rule's outcome as (status, reason, slots): fired and control rules hold slots, skipped ones a reason."""
    evaluation = CompiledRules(rules).evaluate(attributes or {}, now=now, visitor_id=visitor,
                                               impressions=impressions or (lambda _rule_id: (0, 0)),
                                               max_active=max_active)
    outcomes = {o.rule.id: (o.status, "", o.slots) for o in evaluation.winners}
    outcomes.update((rule_id, ("skipped", reason, ())) for reason, rule_ids in evaluation.skipped.items()
                    for rule_id in rule_ids)
    ids = [o.rule.id for o in evaluation.winners] + [rule_id for rule_ids in evaluation.skipped.values()
                                                     for rule_id in rule_ids]
    assert sorted(ids) == sorted(r.id for r in rules)  # every rule has exactly one outcome
    return outcomes


def test_winners_come_in_rank_order():
    rules = compiled({"id": "a", "slot": "promo"}, {"id": "b", "priority": 2}, {"id": "c", "slot": "footer",
                                                                                "score": 1})
    evaluation = CompiledRules(rules).evaluate({}, now=NOW, visitor_id=VISITOR, impressions=lambda _: (0, 0),
                                               max_active=3)
    assert [o.rule.id for o in evaluation.winners] == ["b", "c", "a"]


def fired(outcomes: dict) -> dict[str, tuple[str, ...]]:
    return {rid: slots for rid, (status, _, slots) in outcomes.items() if status == "fired"}


def visitor_ids(count: int) -> list[str]:
    random_bytes = counter_bytes(seed=7)
    return [base64.urlsafe_b64encode(random_bytes(16)).rstrip(b"=").decode() for _ in range(count)]


VISITORS = visitor_ids(10_000)


# -- competing for a slot ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "specs, winner",
    [
        pytest.param([{"id": "a"}, {"id": "b"}], "a", id="file-order"),
        pytest.param([{"id": "a"}, {"id": "b", "priority": 10}], "b", id="priority-beats-order"),
        pytest.param([{"id": "a", "priority": -1}, {"id": "b"}], "b", id="negative-priority"),
        pytest.param([{"id": "a", "priority": 5, "score": 1}, {"id": "b", "priority": 5, "score": 2}], "b",
                     id="tie-by-score"),
        pytest.param([{"id": "a", "priority": 5, "score": 2}, {"id": "b", "priority": 5, "score": 2}], "a",
                     id="tie-by-order"),
        # priority first: a high score does not beat a higher priority
        pytest.param([{"id": "a", "score": 99}, {"id": "b", "priority": 1}], "b", id="priority-beats-score"),
        pytest.param([{"id": "a", "score": 0.5}, {"id": "b", "score": 0.25}, {"id": "c", "score": 0.75}], "c",
                     id="best-score-of-three"),
    ],
)
def test_priority_then_score_then_file_order(specs, winner):
    outcomes = run(compiled(*specs))
    assert fired(outcomes) == {winner: ("hero",)}
    for rid, (status, reason, _) in outcomes.items():
        if rid != winner:
            assert (status, reason) == ("skipped", f"slot taken by {winner!r}")


def test_a_multi_slot_rule_takes_the_slots_left_free():
    outcomes = run(compiled({"id": "hero-only", "priority": 1}, {"id": "both", "slots": ["hero", "promo"]}))
    assert fired(outcomes) == {"hero-only": ("hero",), "both": ("promo",)}


def test_a_multi_slot_rule_with_every_slot_taken_names_the_owners():
    # each owner quoted on its own, in the order of the rule's slots: not "slot taken by 'p, h'" (one id that
    # does not exist)
    outcomes = run(compiled({"id": "h", "priority": 1}, {"id": "p", "slot": "promo", "priority": 1},
                            {"id": "both", "slots": ["promo", "hero"]}))
    assert outcomes["both"] == ("skipped", "slot taken by 'p', 'h'", ())


def test_a_multi_slot_rule_whose_slots_one_rule_took_names_it_once():
    outcomes = run(compiled({"id": "wide", "slots": ["hero", "promo"], "priority": 1},
                            {"id": "late", "slots": ["promo", "hero"]}))
    assert fired(outcomes) == {"wide": ("hero", "promo")}
    assert outcomes["late"] == ("skipped", "slot taken by 'wide'", ())


def test_rules_on_different_slots_all_fire():
    outcomes = run(compiled({"id": "a"}, {"id": "b", "slot": "promo"}))
    assert fired(outcomes) == {"a": ("hero",), "b": ("promo",)}


def test_condition_not_met():
    outcomes = run(compiled({"id": "a", "when": {"tier": "high"}}), {"tier": "low"})
    assert outcomes["a"] == ("skipped", "condition not met", ())


# -- first-match groups -----------------------------------------------------------------------

# The hierarchy of docs/configuration.md ("An if / else-if chain"), verbatim: "cart value > $150 -> premium offer; else new visitor -> onboarding;
# else logged in with 3+ recent purchases -> loyalty reward; else the neutral default block".
HERO_CHAIN = compiled(
    {"id": "premium", "group": "hero-chain", "when": {"cart.value": {"$gt": 150}}},
    {"id": "onboarding", "group": "hero-chain", "when": {"session.new_visitor": True}},
    {"id": "loyalty", "group": "hero-chain", "when": {"logged_in": True, "profile.purchases": {"$gte": 3}}},
)


def chain_attributes(cart: float, new_visitor: bool, logged_in: bool, purchases: int) -> dict:
    return {"cart": {"value": cart}, "session": {"new_visitor": new_visitor}, "logged_in": logged_in,
            "profile": {"purchases": purchases}}


@pytest.mark.parametrize(
    "cart, new_visitor, logged_in, purchases, shown",
    [
        # every branch holds: the first one wins
        pytest.param(200, True, True, 5, "premium", id="all-match"),
        pytest.param(150.01, False, False, 0, "premium", id="cart-just-over"),
        # $gt: exactly $150 is not premium
        pytest.param(150, True, False, 0, "onboarding", id="cart-exactly-150"),
        pytest.param(0, True, True, 5, "onboarding", id="new-before-loyal"),
        pytest.param(0, False, True, 3, "loyalty", id="loyal-3"),
        pytest.param(99, False, True, 30, "loyalty", id="loyal-30"),
        pytest.param(0, False, True, 2, None, id="two-purchases"),
        # purchases without a login do not count
        pytest.param(0, False, False, 5, None, id="not-logged-in"),
        pytest.param(0, False, False, 0, None, id="nobody"),
    ],
)
def test_the_if_else_if_hierarchy_first_match_wins(cart, new_visitor, logged_in, purchases, shown):
    outcomes = run(HERO_CHAIN, chain_attributes(cart, new_visitor, logged_in, purchases))
    assert fired(outcomes) == ({shown: ("hero",)} if shown else {})  # None: the slot's fallback
    ids = [r.id for r in HERO_CHAIN]
    position = ids.index(shown) if shown else len(ids)
    for rid in ids[:position]:
        assert outcomes[rid][:2] == ("skipped", "condition not met")
    for rid in ids[position + 1:]:
        # the whole chain shares the hero: once it is taken, later branches are not even checked
        assert outcomes[rid][:2] == ("skipped", f"slot taken by {shown!r}")


def test_a_group_member_that_matches_later_is_skipped_with_the_winner_named():
    # the chain's branches on slots of their own: they could still win, only the group stops them
    rules = compiled(
        {"id": "premium", "group": "chain", "when": {"cart.value": {"$gt": 150}}},
        {"id": "onboarding", "group": "chain", "slot": "promo", "when": {"session.new_visitor": True}},
        {"id": "loyalty", "group": "chain", "slot": "sidebar",
         "when": {"logged_in": True, "profile.purchases": {"$gte": 3}}},
    )
    outcomes = run(rules, chain_attributes(200, True, True, 5))
    assert fired(outcomes) == {"premium": ("hero",)}
    assert outcomes["onboarding"] == ("skipped", "group 'chain' already chose 'premium'", ())
    assert outcomes["loyalty"] == ("skipped", "group 'chain' already chose 'premium'", ())
    # premium does not hold: the next branch that does takes the group, and its own slot
    outcomes = run(rules, chain_attributes(0, True, True, 5))
    assert fired(outcomes) == {"onboarding": ("promo",)}
    assert outcomes["premium"][:2] == ("skipped", "condition not met")
    assert outcomes["loyalty"] == ("skipped", "group 'chain' already chose 'onboarding'", ())


def test_groups_are_independent():
    rules = compiled({"id": "a1", "group": "a"}, {"id": "a2", "group": "a", "slot": "promo"},
                     {"id": "b1", "group": "b", "slot": "promo", "priority": 1})
    assert fired(run(rules)) == {"a1": ("hero",), "b1": ("promo",)}


def test_group_order_is_file_order_not_priority():
    # the first match in the file takes the group, even against a higher priority later in the group
    rules = compiled({"id": "first", "group": "g"}, {"id": "urgent", "group": "g", "priority": 100})
    outcomes = run(rules)
    assert fired(outcomes) == {"first": ("hero",)}
    # urgent ranks first, so the earlier member is checked on its behalf
    assert outcomes["urgent"][:2] == ("skipped", "group 'g' already chose 'first'")


def test_an_earlier_group_member_is_checked_once_for_the_later_ones():
    asked = []

    def impressions(rule_id):
        asked.append(rule_id)
        return (0, 0)

    rules = compiled({"id": "first", "group": "g", "slot": "promo", "cap": {"session": 1}},
                     {"id": "second", "group": "g", "priority": 5}, {"id": "third", "group": "g", "priority": 5,
                                                                     "slot": "sidebar"})
    outcomes = run(rules, impressions=impressions)
    assert fired(outcomes) == {"first": ("promo",)}
    assert outcomes["second"][:2] == outcomes["third"][:2] == ("skipped", "group 'g' already chose 'first'")
    assert asked == ["first"]


def test_a_group_winner_that_loses_its_slot_still_ends_the_chain():
    # else-if semantics: the group chose, even if a higher-priority rule then takes the slot
    rules = compiled({"id": "chat", "priority": 100}, {"id": "premium", "group": "g"},
                     {"id": "onboarding", "group": "g", "slot": "promo"})
    outcomes = run(rules)
    assert fired(outcomes) == {"chat": ("hero",)}
    assert outcomes["premium"][1] == "slot taken by 'chat'"
    assert outcomes["onboarding"][1] == "group 'g' already chose 'premium'"


def test_a_capped_branch_falls_through_to_the_next():
    rules = compiled({"id": "premium", "group": "g", "cap": {"session": 1}}, {"id": "onboarding", "group": "g"})
    outcomes = run(rules, impressions=lambda rid: (1, 1) if rid == "premium" else (0, 0))
    assert fired(outcomes) == {"onboarding": ("hero",)}
    assert outcomes["premium"][1] == "frequency cap: 1 of 1 this session"


# -- frequency caps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cap, seen, outcome",
    [
        pytest.param({"session": 2}, (1, 1), ("fired", ""), id="under-session-cap"),
        pytest.param({"session": 2}, (2, 2), ("skipped", "frequency cap: 2 of 2 this session"), id="session-cap"),
        pytest.param({"visitor": 3}, (0, 2), ("fired", ""), id="under-visitor-cap"),
        # a new session: nothing this session, but the visitor has seen it enough
        pytest.param({"visitor": 3}, (0, 3), ("skipped", "frequency cap: 3 of 3 for this visitor"),
                     id="visitor-cap"),
        pytest.param({"session": 5, "visitor": 3}, (0, 7), ("skipped", "frequency cap: 7 of 3 for this visitor"),
                     id="visitor-cap-in-new-session"),
        # both reached: the session cap is reported
        pytest.param({"session": 1, "visitor": 1}, (1, 1), ("skipped", "frequency cap: 1 of 1 this session"),
                     id="both-caps"),
    ],
)
def test_frequency_caps(cap, seen, outcome):
    rules = compiled({"id": "promo", "cap": cap})
    seen_by = {}
    status, reason, _ = run(rules, impressions=lambda rid: seen_by.setdefault(rid, seen))["promo"]
    assert (status, reason) == outcome
    assert list(seen_by) == ["promo"]  # asked by rule id


def test_uncapped_rules_never_look_at_impressions():
    def impressions(_rule_id):
        raise AssertionError("not needed")

    assert fired(run(compiled({"id": "a"}), impressions=impressions)) == {"a": ("hero",)}


# -- schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, outcome",
    [
        pytest.param(NOW - 1, ("skipped", "not started yet"), id="before"),
        pytest.param(NOW, ("fired", ""), id="start-inclusive"),
        pytest.param(NOW + HOUR - 0.5, ("fired", ""), id="last-moment"),
        pytest.param(NOW + HOUR, ("skipped", "ended"), id="end-exclusive"),
    ],
)
def test_schedule_window(now, outcome):
    rules = compiled({"id": "flash-sale", "schedule": {"start": NOW, "end": NOW + HOUR}})
    assert run(rules, now=now)["flash-sale"][:2] == outcome


@pytest.mark.parametrize(
    "schedule, now, fires",
    [
        pytest.param({"start": NOW}, NOW + 365 * 86400, True, id="open-ended"),
        pytest.param({"end": NOW}, 0, True, id="no-start"),
        pytest.param({"end": NOW}, NOW, False, id="no-start-ended"),
    ],
)
def test_half_open_schedules(schedule, now, fires):
    assert bool(fired(run(compiled({"id": "r", "schedule": schedule}), now=now))) is fires


def test_a_scheduled_rule_is_checked_before_its_condition():
    rules = compiled({"id": "r", "when": {"tier": "high"}, "schedule": {"end": NOW}})
    assert run(rules, {"tier": "low"})["r"][1] == "ended"


# -- max_active -------------------------------------------------------------------------------


def four_slots(**extra) -> tuple[Rule, ...]:
    return compiled(*({"id": f"r{i}", "slot": slot, "priority": 10 - i, **extra} for i, slot in enumerate(SLOTS)))


@pytest.mark.parametrize(
    "max_active, firing",
    [
        pytest.param(1, ["r0"], id="one"),
        pytest.param(3, ["r0", "r1", "r2"], id="default-three"),
        pytest.param(4, ["r0", "r1", "r2", "r3"], id="room-for-all"),
    ],
)
def test_max_active_keeps_the_best_ranked(max_active, firing):
    outcomes = run(four_slots(), max_active=max_active)
    assert list(fired(outcomes)) == firing
    for rid in set(outcomes) - set(firing):
        assert outcomes[rid][:2] == ("skipped", f"max_active={max_active} rules already fired")


def test_a_rule_that_lost_its_slot_does_not_count_toward_max_active():
    rules = compiled({"id": "a", "priority": 3}, {"id": "a-loser", "priority": 2}, {"id": "b", "slot": "promo"})
    outcomes = run(rules, max_active=2)
    assert fired(outcomes) == {"a": ("hero",), "b": ("promo",)}
    assert outcomes["a-loser"][:2] == ("skipped", "slot taken by 'a'")


def test_a_rule_that_can_no_longer_win_is_not_checked():
    # neither its schedule, its caps nor its condition: the reason is the taken slot or max_active
    asked = []

    def impressions(rule_id):
        asked.append(rule_id)
        return (9, 9)

    rules = compiled({"id": "a", "priority": 1},
                     {"id": "taken", "cap": {"session": 1}, "when": {"tier": "high"}, "schedule": {"end": NOW}},
                     {"id": "full", "slot": "promo", "cap": {"session": 1}, "when": {"tier": "high"}})
    outcomes = run(rules, {"tier": "low"}, impressions=impressions, max_active=1)
    assert fired(outcomes) == {"a": ("hero",)}
    assert outcomes["taken"][:2] == ("skipped", "max_active=1 rules already fired")
    assert outcomes["full"][:2] == ("skipped", "max_active=1 rules already fired")
    outcomes = run(rules, {"tier": "low"}, impressions=impressions, max_active=3)
    assert outcomes["taken"][:2] == ("skipped", "slot taken by 'a'")
    assert outcomes["full"][:2] == ("skipped", "frequency cap: 9 of 1 this session")  # it could win: checked
    assert asked == ["full"]


def test_a_multi_slot_rule_counts_once():
    rules = compiled({"id": "wide", "slots": ["hero", "promo", "sidebar"], "priority": 1},
                     {"id": "footer", "slot": "footer"})
    assert fired(run(rules, max_active=2)) == {"wide": ("hero", "promo", "sidebar"), "footer": ("footer",)}


def test_a_held_out_rule_counts_toward_max_active():
    # the control group sees the fallback in that place, so the rest of its page stays comparable
    rules = compiled({"id": "held", "holdout": 100, "priority": 1}, {"id": "other", "slot": "promo"})
    outcomes = run(rules, max_active=1)
    assert outcomes["held"][0] == "control"
    assert outcomes["other"][:2] == ("skipped", "max_active=1 rules already fired")


# -- holdouts ---------------------------------------------------------------------------------


def test_holdout_control_keeps_the_slot():
    rules = compiled({"id": "offer", "holdout": 100, "priority": 1}, {"id": "other"})
    outcomes = run(rules)
    assert outcomes["offer"] == ("control", "", ("hero",))
    assert outcomes["other"][:2] == ("skipped", "slot taken by 'offer'")


def test_holdout_is_the_documented_hash_of_rule_id_and_visitor():
    # a contract: changing it would silently move visitors between variant and control
    [rule] = compiled({"id": "promo", "holdout": 54})
    assert HOLDOUT_HASH_VERSION == 2
    assert hash_value("promo", VISITOR, 2) == 0.5394
    assert rule.is_held_out(VISITOR) is True            # 0.5394 < 0.54
    [rule] = compiled({"id": "promo", "holdout": 53.9})
    assert rule.is_held_out(VISITOR) is False           # 0.5394 >= 0.539


def test_holdout_is_deterministic_and_sticky():
    rules = compiled({"id": "offer", "holdout": 30})
    first = {v: run(rules, {}, visitor=v)["offer"][0] for v in VISITORS[:300]}
    assert set(first.values()) == {"fired", "control"}
    # same visitors, another page, another time, other attributes: same side
    again = {v: run(rules, {"tier": "high", "x": 1}, now=NOW + 86400, visitor=v)["offer"][0] for v in VISITORS[:300]}
    assert again == first


@pytest.mark.parametrize("percent", [5, 20, 50], ids=["5%", "20%", "50%"])
def test_holdout_share_is_roughly_as_configured(percent):
    [rule] = compiled({"id": "offer", "holdout": percent})
    share = sum(rule.is_held_out(v) for v in VISITORS) / len(VISITORS)
    # 10,000 visitors: the binomial standard deviation is at most 0.5 points; allow about four of them
    assert abs(share - percent / 100) < 0.02


def test_rules_hold_out_independent_sets_of_visitors():
    [a, b] = compiled({"id": "offer-a", "holdout": 20}, {"id": "offer-b", "holdout": 20, "slot": "promo"})
    both = sum(a.is_held_out(v) and b.is_held_out(v) for v in VISITORS) / len(VISITORS)
    assert abs(both - 0.04) < 0.01  # 20 % of 20 %, not 20 %


@pytest.mark.parametrize(
    "percent, visitor, held_out",
    [
        pytest.param(0, VISITOR, False, id="no-holdout"),
        pytest.param(100, VISITOR, True, id="everyone"),
        # without a session there is no stable id to hold out: the variant is shown
        pytest.param(100, None, False, id="no-visitor-id"),
        pytest.param(100, "", False, id="empty-visitor-id"),
    ],
)
def test_holdout_edges(percent, visitor, held_out):
    [rule] = compiled({"id": "offer", "holdout": percent})
    assert rule.is_held_out(visitor) is held_out
