"""Missing or unusable data in KV never breaks a page: the origin's page comes back unmodified."""

import time

import pytest

from intentedge.contract import keys, schema

from . import origin as site

GARBAGE = b"\xc1\xff\x00 not msgpack"
UNKNOWN_KEY = keys.config_key("f" * 64)


def _pointer_to(key: str) -> bytes:
    return schema.encode(schema.POINTER, {"key": key}, written_at=int(time.time()), producer="test")


@pytest.fixture
def broken_kv(local_kv, publish):
    """Lets a test break KV, then publishes the real config again and waits until it is back."""
    yield local_kv
    publish()


@pytest.fixture(autouse=True)
def personalized_again(worker):
    """Each test starts, and leaves, with the published config in effect."""
    worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body)
    yield
    worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body)


def _assert_unmodified(worker, reason: str, detail: str):
    """Once the cached config's windows have passed, the page comes back as the origin sent it."""
    mark = worker.log_mark()
    reply = worker.get_until("/", lambda reply: reply.body == site.SLOTTED)
    assert reply.status == 200
    worker.wait_for_log(f'"reason":"{reason}","detail":"{detail}', since=mark)


def test_no_config_published(worker, broken_kv):
    broken_kv.delete(keys.CONFIG_POINTER)
    _assert_unmodified(worker, "MissingConfig", "no config/current key")


def test_garbage_pointer(worker, broken_kv):
    broken_kv.put(keys.CONFIG_POINTER, GARBAGE)
    _assert_unmodified(worker, "SchemaError", "intentedge.pointer: not msgpack")


def test_empty_pointer(worker, broken_kv):
    broken_kv.put(keys.CONFIG_POINTER, b"")
    _assert_unmodified(worker, "SchemaError", "intentedge.pointer: not msgpack")


def test_pointer_to_an_empty_bundle(worker, broken_kv):
    broken_kv.put(UNKNOWN_KEY, b"")
    broken_kv.put(keys.CONFIG_POINTER, _pointer_to(UNKNOWN_KEY))
    _assert_unmodified(worker, "SchemaError", "intentedge.config: not msgpack")


def test_pointer_to_garbage_bundle(worker, broken_kv):
    broken_kv.put(UNKNOWN_KEY, GARBAGE)
    broken_kv.put(keys.CONFIG_POINTER, _pointer_to(UNKNOWN_KEY))
    _assert_unmodified(worker, "SchemaError", "intentedge.config: not msgpack")


def test_bundle_of_another_major_version(worker, broken_kv):
    future = schema.Schema(schema.CONFIG.name, schema.CONFIG.major + 1, 0)
    key = keys.config_key("e" * 64)
    broken_kv.put(key, schema.encode(future, {"slots": {}}, written_at=0, producer="test"))
    broken_kv.put(keys.CONFIG_POINTER, _pointer_to(key))
    _assert_unmodified(worker, "VersionError", "intentedge.config: major version 2")


def test_broken_parts_of_a_bundle_are_skipped_and_the_rest_works(worker, broken_kv):
    key = keys.config_key("d" * 64)
    config = {
        "slots": {"hero": {"fallback": "nope"}},           # unknown fallback: the slot keeps the origin's
        "fragments": {"good": {"html": "<b>good</b>"}, "bad": {"html": "{unclosed"}},
        "rules": [
            {"id": "broken", "slot": "hero", "fragment": "good", "when": {"x": {"$regex": "("}}},
            {"id": "works", "slot": "hero", "fragment": "good", "path_prefix": "/"},
        ],
        "cache": {"config": {"fresh": 1, "swr": 1, "sie": 1, "negative": 1}},   # as the tests' own config
    }
    broken_kv.put(key, schema.encode(schema.CONFIG, config, written_at=0, producer="test"))
    broken_kv.put(keys.CONFIG_POINTER, _pointer_to(key))
    mark = worker.log_mark()
    reply = worker.get_until("/", lambda reply: b'data-pz-rule="works"' in reply.body)
    assert reply.status == 200
    assert reply.text.count('data-pz-rule="works"') == 2
    for item in ("slot 'hero'", "fragment 'bad'", "rule 'broken'"):
        worker.wait_for_log(f'"event":"bundle_problem","key":"{key}","item":"{item}"', since=mark)


def test_republishing_restores_personalization(worker, broken_kv, publish):
    broken_kv.delete(keys.CONFIG_POINTER)
    worker.get_until("/", lambda reply: reply.body == site.SLOTTED)
    publish()
    worker.get_until("/", lambda reply: b"data-pz-rule=" in reply.body)
