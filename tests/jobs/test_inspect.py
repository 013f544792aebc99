"""`inspect KEY`: readable JSON for every envelope, a clear error for anything else, read from
wrangler's local KV in a temp folder (and once from the fake Cloudflare API, fake_cloudflare.py)."""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner

from intentedge.contract import schema
from intentedge.contract.bundles import publication
from intentedge_jobs.configfile import load_config
from intentedge_jobs.inspect_kv import describe, inspect
from intentedge_jobs.kv import cloudflare
from intentedge_jobs.kv.store import Entry
from intentedge_jobs.kv.targets import open_store

from .fake_cloudflare import FakeCloudflare

ROOT = Path(__file__).resolve().parents[2]
WRITTEN_AT = 1_790_000_000  # 2026-09-21T14:13:20Z
PROFILE = {"sessions": 3, "pages": 12, "categories": {"cameras": 2.5}, "blob": b"\x00\x01\xff"}


def envelope(name: str, major: int, payload) -> bytes:
    return msgpack.packb({"schema": name, "version": [major, 0], "written_at": WRITTEN_AT, "producer": "test",
                          "payload": payload}, use_bin_type=True)


JUNK = {
    "junk/bytes": b"\xc1\x00garbage",                                # 0xc1 is never valid msgpack
    "junk/map": msgpack.packb({"hello": "world"}),                   # msgpack, but no envelope
    "junk/future": envelope("intentedge.profile", 2, {}),            # a major version we cannot read
    "junk/stranger": envelope("someone.else", 1, {}),                # a schema we do not know
    "junk/pointer": envelope("intentedge.pointer", 1, {"key": "nope"}),  # names no config key
}


@pytest.fixture(scope="module")
def kv_dir(tmp_path_factory) -> Path:
    """One local KV for the module, written with a single bulk put."""
    persist = tmp_path_factory.mktemp("kv") / "state"
    config = load_config(ROOT / "demo" / "config.toml")
    (bundle_key, bundle), (pointer_key, pointer) = publication(config, written_at=WRITTEN_AT, producer="test")
    entries = [
        Entry(bundle_key, bundle),
        Entry(pointer_key, pointer),
        Entry("profile/" + "a" * 32, schema.encode(schema.PROFILE, PROFILE, written_at=WRITTEN_AT, producer="test")),
        *(Entry(key, value) for key, value in JUNK.items()),
    ]
    open_store("local", persist_to=persist, project=ROOT).put_many(entries)
    return persist


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(inspect, [str(a) for a in args], env=env)


def test_a_pointer_prints_its_envelope_and_the_key_it_names(kv_dir):
    result = run("config/current", "--local", "--persist-to", kv_dir)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema"] == "intentedge.pointer" and doc["version"] == "1.0"
    assert doc["written_at"] == "2026-09-21T14:13:20Z" and doc["producer"] == "test"
    assert doc["names"].startswith("config/") and doc["payload"] == {"key": doc["names"]}


def test_a_bundle_and_a_profile_print_their_payload(kv_dir):
    pointer = json.loads(run("config/current", "--persist-to", kv_dir).output)  # --local is the default
    bundle = json.loads(run(pointer["names"], "--persist-to", kv_dir).output)
    assert bundle["schema"] == "intentedge.config" and bundle["key"] == pointer["names"]
    assert "fragments" in bundle["payload"]

    profile = json.loads(run("profile/" + "a" * 32, "--persist-to", kv_dir).output)
    assert profile["payload"] == {**PROFILE, "blob": "AAH/"}  # bytes as base64


@pytest.mark.parametrize("key, reason", [
    ("junk/bytes", "not msgpack"),
    ("junk/map", "not an intentedge envelope: msgpack a map without a 'schema' string"),
    ("junk/future", "major version 2 cannot be read by a v1 reader"),
    ("junk/stranger", "unknown schema 'someone.else'"),
    ("junk/pointer", "payload must name a config key, found 'nope'"),
], ids=["garbage", "no-envelope", "future-major", "unknown-schema", "bad-pointer"])
def test_unreadable_values_fail_with_the_key_and_the_reason(key, reason):
    """What `inspect` decodes, tested without a wrangler call per case (the CLI path is tested below)."""
    with pytest.raises(schema.SchemaError, match=reason):
        describe(key, JUNK[key])


def test_undecodable_bytes_exit_1_naming_key_and_reason(kv_dir):
    result = run("junk/bytes", "--local", "--persist-to", kv_dir)
    assert result.exit_code == 1
    assert "Error: key 'junk/bytes' (9 bytes) cannot be read: not msgpack" in result.output


def test_a_missing_key_exits_1(kv_dir):
    result = run("profile/" + "0" * 32, "--persist-to", kv_dir)
    assert result.exit_code == 1
    assert f"Error: key 'profile/{'0' * 32}' not found in local KV at {kv_dir}" in result.output


def test_persist_to_with_remote_is_a_usage_error():
    result = run("config/current", "--remote", "--persist-to", "x")
    assert result.exit_code == 2 and "--persist-to only applies to --local" in result.output


def test_remote_reads_through_the_api_and_names_missing_variables(monkeypatch):
    fake = FakeCloudflare()
    monkeypatch.setattr(cloudflare, "urllib_transport", fake)   # the command's client sends to the fake
    profile = schema.encode(schema.PROFILE, PROFILE, written_at=WRITTEN_AT, producer="test")
    open_store("remote", environ=fake.environ()).put_many([Entry("profile/" + "b" * 32, profile)])
    result = run("profile/" + "b" * 32, "--remote", env=fake.environ())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["payload"]["sessions"] == 3

    result = run("config/current", "--remote", env={"CLOUDFLARE_ACCOUNT_ID": "", "CLOUDFLARE_API_TOKEN": "",
                                                    "INTENTEDGE_KV_NAMESPACE_ID": ""})
    assert result.exit_code == 1
    assert "--remote needs CLOUDFLARE_ACCOUNT_ID, INTENTEDGE_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN" in result.output
