"""Publishing a bundle to KV and reading it back at the edge; KV key helpers."""

from __future__ import annotations

import msgpack
import pytest

from intentedge import Bundle, ConfigError, SchemaError, VersionError, compile_bundle
from intentedge.contract import keys, schema
from intentedge.contract.bundles import (
    CompiledBundles,
    bundle_from_bytes,
    config_from_bytes,
    pointer_target,
    publication,
)

CONFIG = {
    "slots": {"hero": {"fallback": "welcome"}},
    "fragments": {"welcome": {"html": "<h2>Hi</h2>"}, "guide": {"text": "Read the guide"}},
    "rules": [{"id": "guide", "slot": "hero", "fragment": "guide", "path_prefix": "/products/"}],
}
DIGEST = schema.digest(CONFIG)


def pointer_bytes(payload, *, version=(1, 0)) -> bytes:
    return msgpack.packb(
        {"schema": "intentedge.pointer", "version": list(version), "written_at": 1, "producer": "p",
         "payload": payload},
        use_bin_type=True,
    )


# -- keys -------------------------------------------------------------------------------------


def test_config_key_prefixes_the_digest():
    assert keys.config_key("ab" * 32) == "config/" + "ab" * 32


@pytest.mark.parametrize(
    "key, expected",
    [
        pytest.param("config/" + "0" * 64, True, id="zeros"),
        pytest.param(keys.config_key(DIGEST), True, id="real-digest"),
        pytest.param(keys.CONFIG_POINTER, False, id="pointer-key"),
        pytest.param("config/" + "0" * 63, False, id="63-hex"),
        pytest.param("config/" + "0" * 65, False, id="65-hex"),
        pytest.param("config/" + "A" * 64, False, id="uppercase-hex"),
        pytest.param("config/" + "g" * 64, False, id="not-hex"),
        # the tail is the right length, but the prefix is wrong
        pytest.param("profile" + "0" * 64, False, id="other-prefix"),
        pytest.param("Config/" + "0" * 64, False, id="prefix-case"),
        pytest.param("0" * 64, False, id="bare-digest"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_config_key(key, expected):
    assert keys.is_config_key(key) is expected


# -- publication ------------------------------------------------------------------------------


def test_publication_writes_the_bundle_first_and_the_pointer_last():
    writes = publication(CONFIG, written_at=1_790_000_000, producer="cli/0.1.0")

    assert [key for key, _ in writes] == [f"config/{DIGEST}", "config/current"]
    (bundle_key, bundle), (_, pointer) = writes
    assert schema.decode(schema.CONFIG, bundle) == schema.Envelope(
        "intentedge.config", (1, 0), 1_790_000_000, "cli/0.1.0", CONFIG)
    assert schema.decode(schema.POINTER, pointer) == schema.Envelope(
        "intentedge.pointer", (1, 0), 1_790_000_000, "cli/0.1.0", {"key": bundle_key})


def test_publication_key_does_not_depend_on_key_order_or_write_time():
    reordered = {name: CONFIG[name] for name in reversed(list(CONFIG))}
    first = publication(CONFIG, written_at=1, producer="a")
    second = publication(reordered, written_at=2, producer="b")
    assert first[0][0] == second[0][0]
    assert first[0][1] != second[0][1]  # the envelope itself records when and by whom


def test_publication_of_different_configs_uses_different_keys():
    changed = {**CONFIG, "slots": {"hero": {}}}
    assert publication(CONFIG, written_at=1, producer="p")[0][0] != publication(changed, written_at=1,
                                                                                producer="p")[0][0]


def test_published_pointer_leads_back_to_the_published_config():
    writes = dict(publication(CONFIG, written_at=5, producer="p"))
    key = pointer_target(writes[keys.CONFIG_POINTER])
    assert config_from_bytes(writes[key]) == CONFIG
    assert bundle_from_bytes(writes[key], source=key) == compile_bundle(CONFIG, source="t")


# -- pointer_target ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, found",
    [
        pytest.param({"key": "config/current"}, "'config/current'", id="points-at-itself"),
        pytest.param({"key": "config/" + "a" * 63}, repr("config/" + "a" * 63), id="short-digest"),
        pytest.param({"key": b"config/" + b"a" * 64}, repr(b"config/" + b"a" * 64), id="bytes-key"),
        pytest.param({"ref": "config/" + "a" * 64}, "None", id="wrong-field"),
        pytest.param({}, "None", id="empty-payload"),
        pytest.param(["config/" + "a" * 64], "None", id="array-payload"),
        pytest.param("config/" + "a" * 64, "None", id="string-payload"),
        pytest.param(None, "None", id="nil-payload"),
    ],
)
def test_pointer_target_refuses_payloads_not_naming_a_config_key(payload, found):
    with pytest.raises(SchemaError, match=r"^intentedge\.pointer: payload must name a config key, found ") as caught:
        pointer_target(pointer_bytes(payload))
    assert str(caught.value).endswith(f"found {found}")


def test_pointer_target_ignores_extra_payload_fields():
    key = "config/" + "a" * 64
    assert pointer_target(pointer_bytes({"key": key, "previous": "config/" + "b" * 64})) == key


def test_pointer_target_refuses_a_config_envelope():
    bundle = publication(CONFIG, written_at=1, producer="p")[0][1]
    with pytest.raises(SchemaError, match="expected schema 'intentedge.pointer', found 'intentedge.config'"):
        pointer_target(bundle)


def test_pointer_target_refuses_a_newer_major():
    with pytest.raises(VersionError):
        pointer_target(pointer_bytes({"key": "config/" + "a" * 64}, version=(2, 0)))


def test_pointer_target_refuses_garbage():
    with pytest.raises(SchemaError, match="not msgpack"):
        pointer_target(b"\xc1")


# -- reading a bundle at the edge -------------------------------------------------------------


def test_bundle_from_bytes_ignores_keys_added_by_a_newer_minor():
    newer = {
        "slots": {"hero": {"fallback": "welcome", "max_items": 2}},
        "fragments": {"welcome": {"html": "<h2>Hi</h2>", "ttl": 60}, "guide": {"text": "Read the guide"}},
        "rules": [{"id": "guide", "slot": "hero", "fragment": "guide", "path_prefix": "/products/", "weight": 3}],
        "holdouts": {"pct": 5},
    }
    data = msgpack.packb({"schema": "intentedge.config", "version": [1, 7], "written_at": 1, "producer": "p",
                          "payload": newer}, use_bin_type=True)
    assert bundle_from_bytes(data, source="config/x") == compile_bundle(CONFIG, source="t")


def test_bundle_from_bytes_skips_what_is_broken_and_lists_it():
    bad = {**CONFIG, "slots": {"hero": {"fallback": "missing"}},
           "rules": CONFIG["rules"] + [{"id": "broken", "slot": "nowhere", "fragment": "guide"}]}
    data = schema.encode(schema.CONFIG, bad, written_at=1, producer="p")
    bundle = bundle_from_bytes(data, source="config/abc")
    assert [(p.item, p.reason) for p in bundle.problems] == [
        ("slot 'hero'", "fallback 'missing' is not a known fragment"),
        ("rule 'broken'", "slot 'nowhere' is not declared"),
    ]
    assert bundle.slots["hero"].fallback is None
    assert [r.id for r in bundle.rules] == ["guide"]  # the good rule still works


@pytest.mark.parametrize(
    "data, error",
    [
        pytest.param(b"", SchemaError, id="empty-value"),
        pytest.param(pointer_bytes({"key": "config/" + "a" * 64}), SchemaError, id="pointer-instead-of-bundle"),
        pytest.param(schema.encode(schema.Schema("intentedge.config", 2, 0), CONFIG, written_at=1, producer="p"),
                     VersionError, id="v2-bundle"),
    ],
)
def test_bundle_from_bytes_refuses_bad_envelopes(data, error):
    with pytest.raises(error):
        bundle_from_bytes(data, source="config/x")


def test_bundle_from_bytes_of_a_non_table_payload_is_a_config_error():
    data = schema.encode(schema.CONFIG, ["slots"], written_at=1, producer="p")
    with pytest.raises(ConfigError, match=r"^config/x: config: must be a table, found an array$"):
        bundle_from_bytes(data, source="config/x")


def test_bundle_from_bytes_with_a_bytes_slot_name_skips_the_slot():
    data = msgpack.packb({"schema": "intentedge.config", "version": [1, 0], "written_at": 1, "producer": "p",
                          "payload": {"slots": {b"hero": {}, "promo": {}}}}, use_bin_type=True)
    bundle = bundle_from_bytes(data, source="config/x")
    assert list(bundle.slots) == ["promo"]
    assert [p.item for p in bundle.problems] == ["slot b'hero'"]


# -- CompiledBundles --------------------------------------------------------------------------


def bundles(*names: str) -> dict[str, Bundle]:
    return {name: compile_bundle({"slots": {name: {}}}, source=name) for name in names}


def test_compiled_bundles_misses_then_hits():
    cache, b = CompiledBundles(), bundles("a")
    assert cache.get("config/a") is None
    cache.put("config/a", b["a"])
    assert cache.get("config/a") is b["a"]


def test_compiled_bundles_evicts_the_least_recently_used():
    cache, b = CompiledBundles(capacity=2), bundles("a", "b", "c")
    cache.put("a", b["a"])
    cache.put("b", b["b"])
    assert cache.get("a") is b["a"]  # a is now more recent than b
    cache.put("c", b["c"])
    assert [cache.get(k) for k in ("a", "b", "c")] == [b["a"], None, b["c"]]


def test_compiled_bundles_put_refreshes_an_existing_key():
    cache, b = CompiledBundles(capacity=2), bundles("a", "b", "c", "a2")
    cache.put("a", b["a"])
    cache.put("b", b["b"])
    cache.put("a", b["a2"])  # replaces a's value and makes it the most recent
    cache.put("c", b["c"])
    assert [cache.get(k) for k in ("a", "b", "c")] == [b["a2"], None, b["c"]]


def test_compiled_bundles_default_capacity_is_two():
    cache, b = CompiledBundles(), bundles("a", "b", "c")
    for name in "abc":
        cache.put(name, b[name])
    assert [cache.get(k) for k in "abc"] == [None, b["b"], b["c"]]


def test_compiled_bundles_of_capacity_one_keeps_only_the_latest():
    cache, b = CompiledBundles(capacity=1), bundles("a", "b")
    cache.put("a", b["a"])
    cache.put("b", b["b"])
    assert (cache.get("a"), cache.get("b")) == (None, b["b"])


def test_compiled_bundles_miss_does_not_disturb_order():
    cache, b = CompiledBundles(capacity=2), bundles("a", "b", "c")
    cache.put("a", b["a"])
    cache.put("b", b["b"])
    assert cache.get("zzz") is None
    cache.put("c", b["c"])
    assert [cache.get(k) for k in "abc"] == [None, b["b"], b["c"]]
