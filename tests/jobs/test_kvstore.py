"""Bulk KV writes: batching, retries, idempotence, ordering and secrecy against a fake of Cloudflare's
KV REST API (a transport: fake_cloudflare.py), plus one round trip through wrangler's local KV."""

from __future__ import annotations

import io
import json
import traceback
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from intentedge.contract.bundles import pointer_target
from intentedge.secret import Secret
from intentedge_jobs.kv import cloudflare
from intentedge_jobs.kv.cloudflare import CloudflareKV, RetryPolicy
from intentedge_jobs.kv.console import Console
from intentedge_jobs.kv.errors import KVConfigError, KVRequestError, KVUnavailable, WriteFailed
from intentedge_jobs.kv.local import LocalKV
from intentedge_jobs.kv.store import MAX_BULK_ITEMS, Entry, batches
from intentedge_jobs.kv.sync import plan, publish_config, sync
from intentedge_jobs.kv.targets import open_store

from .fake_cloudflare import ACCOUNT, NAMESPACE, TOKEN, FakeCloudflare

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"slots": {"hero": {}}, "fragments": {"f": {"html": "<b>hi</b>"}}, "rules": []}


@pytest.fixture
def fake():
    return FakeCloudflare()


class Sleeps(list):
    """An injected sleep: records each delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def remote(fake: FakeCloudflare, sleeps: Sleeps | None = None, **options) -> CloudflareKV:
    return CloudflareKV(ACCOUNT, NAMESPACE, TOKEN, base_url=fake.url, transport=fake,
                        sleep=sleeps if sleeps is not None else Sleeps(), random_=lambda: 1.0, **options)


def profiles(count: int, *, size: int = 40, salt: bytes = b"") -> list[Entry]:
    return [Entry(f"profile/{i:032x}", salt + bytes([i % 256]) * size + b"\x00\xff") for i in range(count)]


def console() -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(out, err, tty=False), out, err


# -- batching -------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 400), max_size=40), max_items=st.integers(1, 9),
       max_bytes=st.integers(800, 3000))
def test_batches_keep_order_and_stay_within_both_limits(sizes, max_items, max_bytes):
    entries = [Entry(f"k/{i}", b"x" * size) for i, size in enumerate(sizes)]
    seen = []
    for batch, body in batches(entries, max_items=max_items, max_bytes=max_bytes):
        assert 1 <= len(batch) <= max_items
        assert len(body) <= max_bytes
        assert [item["key"] for item in json.loads(body)] == [entry.key for entry in batch]
        seen += batch
    assert seen == entries


def test_an_item_larger_than_a_request_is_refused_before_any_write():
    with pytest.raises(ValueError, match="k/big.*exceeds the request limit"):
        list(batches([Entry("k/small", b"x"), Entry("k/big", b"x" * 5000)], max_bytes=1000))


@pytest.mark.parametrize("kwargs, message", [
    ({"key": "", "value": b"x"}, "non-empty string"),
    ({"key": "k" * 513, "value": b"x"}, "longer than 512 bytes"),
    ({"key": "k", "value": "text"}, "value must be bytes"),
    ({"key": "k", "value": b"x", "expiration_ttl": 59}, "expiration_ttl must be an integer >= 60"),  # KV's minimum
    ({"key": "k", "value": b"x", "expiration_ttl": True}, "expiration_ttl must be"),
], ids=["empty-key", "long-key", "str-value", "short-ttl", "bool-ttl"])
def test_entries_validate_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Entry(**kwargs)


def test_the_default_limit_splits_at_10000_pairs(fake):
    entries = [Entry(f"profile/{i:06d}", b"v") for i in range(MAX_BULK_ITEMS + 1)]
    remote(fake).put_many(entries)
    assert [len(keys) for keys in fake.puts()] == [MAX_BULK_ITEMS, 1]
    assert len(fake.values) == MAX_BULK_ITEMS + 1


def test_bulk_writes_stay_within_the_byte_limit_and_round_trip(fake):
    entries = profiles(30, size=3000) + [Entry("profile/ttl", b"\x00bin\xff", expiration_ttl=3600)]
    store = remote(fake, max_bytes=20_000)
    store.put_many(entries)
    assert len(fake.batches) > 1
    assert all(size <= 20_000 for _, size in fake.batches)
    assert [key for keys in fake.puts() for key in keys] == [entry.key for entry in entries]
    assert fake.values["profile/ttl"] == (b"\x00bin\xff", {"sha256": entries[-1].sha256}, 3600)
    assert store.get("profile/ttl") == b"\x00bin\xff"
    assert store.get("profile/missing") is None


def test_list_follows_the_cursor_through_every_page():
    fake = FakeCloudflare(page_size=3)
    store = remote(fake)
    store.put_many(profiles(10) + [Entry("config/current", b"p")])
    listed = dict(store.list("profile/"))
    assert len(listed) == 10
    assert listed["profile/" + "0" * 32] == {"sha256": profiles(1)[0].sha256}
    assert sum(1 for method, path in fake.requests if path.endswith("/keys")) == 4


def test_keys_with_slashes_and_spaces_are_quoted_in_the_path(fake):
    store = remote(fake)
    store.put_many([Entry("odd/key with space?#", b"v")])
    assert store.get("odd/key with space?#") == b"v"


# -- retries ------------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_backoff_until_success(fake):
    fake.faults = [None, "429", "500", "503", "drop"]  # the listing succeeds, the write meets every fault
    sleeps = Sleeps()
    shown, out, err = console()
    report = sync(remote(fake, sleeps), profiles(5), progress=shown)
    assert sleeps == [3.0, 1.0, 2.0, 4.0]  # Retry-After, then 0.5 * 2**n (jitter pinned at its maximum)
    assert len(fake.values) == 5
    assert report.summary.retries == 4 and report.summary.errors == 0 and report.summary.items == 5
    assert "HTTP 429" in err.getvalue() and "connection failed" in err.getvalue()
    assert "profile/: wrote 5 keys" in out.getvalue()


def test_reads_are_retried_too(fake):
    told = []
    store = remote(fake, on_retry=told.append)
    store.put_many(profiles(2))
    fake.faults = ["drop", "503", "429"]
    assert len(dict(store.list("profile/"))) == 2
    assert len(told) == 3 and told[2].startswith("listing of keys under 'profile/': HTTP 429")
    fake.faults = ["500"]
    assert store.get(profiles(1)[0].key) == profiles(1)[0].value


def test_jitter_spreads_the_backoff(fake):
    fake.faults = ["500", "500"]
    sleeps = Sleeps()
    store = CloudflareKV(ACCOUNT, NAMESPACE, TOKEN, base_url=fake.url, transport=fake, sleep=sleeps,
                         random_=iter([0.5, 0.25]).__next__)
    store.put_many(profiles(1))
    assert sleeps == [0.25, 0.25]  # 0.5 * 0.5, then 1.0 * 0.25


def test_retries_are_bounded(fake):
    fake.faults = [None] + ["503"] * 10  # the listing succeeds, every write fails
    sleeps = Sleeps()
    shown, out, err = console()
    with pytest.raises(WriteFailed) as failure:
        sync(remote(fake, sleeps, retry=RetryPolicy(attempts=3)), profiles(4), progress=shown)
    assert "after 3 attempts: HTTP 503" in str(failure.value)
    assert "wrote 0 of 4 keys" in str(failure.value)
    assert len(sleeps) == 2 and sum(1 for method, _ in fake.requests if method == "PUT") == 3
    assert failure.value.report.summary.errors == 1
    assert "1 error," in out.getvalue()

    fake.faults = ["drop"] * 3
    with pytest.raises(KVUnavailable, match=r"read of 'profile/x' failed after 3 attempts: connection failed"):
        remote(fake, retry=RetryPolicy(attempts=3)).get("profile/x")


def test_a_failure_part_way_keeps_what_was_written_and_a_rerun_finishes(fake):
    store = remote(fake, max_items=2, retry=RetryPolicy(attempts=2))
    entries = profiles(6)
    fake.faults = [None, None, "500", "500"]  # the listing and the first batch land, the second fails twice
    with pytest.raises(WriteFailed, match="wrote 2 of 6 keys"):
        sync(store, entries)
    report = sync(store, entries)
    assert report.plan.counts() == "4 new, 0 changed, 2 unchanged"
    assert len(fake.values) == 6


def test_a_client_error_fails_at_once_with_a_hint(fake):
    sleeps = Sleeps()
    store = CloudflareKV(ACCOUNT, NAMESPACE, "wrong-token", base_url=fake.url, transport=fake, sleep=sleeps)
    with pytest.raises(KVRequestError, match=r"HTTP 403: Authentication error \[10000\].*CLOUDFLARE_API_TOKEN"):
        store.put_many(profiles(1))
    assert sleeps == [] and len(fake.requests) == 1


def test_keys_cloudflare_reports_unsuccessful_are_sent_again(fake):
    fake.faults = ["partial"]
    sleeps = Sleeps()
    remote(fake, sleeps).put_many(profiles(3))
    assert [len(keys) for keys in fake.puts()] == [2, 1]
    assert len(fake.values) == 3 and sleeps == [0.5]


# -- plans: idempotence, dry runs, ordering -------------------------------------------------------------


def test_a_second_run_writes_nothing_and_a_changed_value_is_rewritten(fake):
    store = remote(fake)
    entries = profiles(12)
    first = sync(store, entries)
    assert first.plan.counts() == "12 new, 0 changed, 0 unchanged"
    puts = len(fake.batches)

    shown, out, err = console()
    second = sync(store, entries, progress=shown)
    assert second.plan.counts() == "0 new, 0 changed, 12 unchanged"
    assert len(fake.batches) == puts and second.summary.items == 0
    assert out.getvalue().splitlines()[-1].startswith("profile/: wrote 0 keys, 0 bytes in ")

    entries[3] = Entry(entries[3].key, b"new bytes")
    third = sync(store, entries + [Entry("profile/" + "f" * 32, b"x")])
    assert third.plan.counts() == "1 new, 1 changed, 11 unchanged"
    assert sorted(fake.puts()[-1]) == sorted([entries[3].key, "profile/" + "f" * 32])


def test_plan_lists_only_the_entries_prefix(fake):
    store = remote(fake)
    store.put_many([Entry("config/current", b"x")])
    assert plan(store, profiles(2)).counts() == "2 new, 0 changed, 0 unchanged"
    with pytest.raises(ValueError, match="not under the prefix"):
        plan(store, profiles(2), prefix="config/")
    with pytest.raises(ValueError, match="appears twice"):
        plan(store, profiles(2) + profiles(1))


def test_a_dry_run_prints_the_plan_and_writes_nothing(fake):
    store = remote(fake)
    sync(store, profiles(2))
    shown, out, err = console()
    entries = profiles(2, salt=b"changed") + [Entry("profile/" + "e" * 32, b"n")]
    report = sync(store, entries, dry_run=True, progress=shown)
    assert report.dry_run and report.summary.items == 0
    assert len(fake.batches) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "profile/: would write 1 new, 2 changed, 0 unchanged"
    assert f"  new       profile/{'e' * 32} (1 bytes)" in lines
    assert sum(line.startswith("  changed   profile/") for line in lines) == 2


def test_on_a_terminal_the_console_draws_a_bar_and_still_prints_the_summary(fake):
    out, err = io.StringIO(), io.StringIO()
    sync(remote(fake, max_items=2), profiles(5), progress=Console(out, err, tty=True))
    assert "profile/: 0/5 keys" not in err.getvalue()  # no plain lines: click's bar (hidden off a real terminal)
    assert out.getvalue().splitlines()[-1].startswith("profile/: wrote 5 keys")


def test_publishing_a_config_writes_the_bundle_then_the_pointer_and_only_once(fake):
    store = remote(fake)
    reports = publish_config(store, CONFIG, written_at=1_790_000_000, producer="test")
    bundle_key = reports[0].plan.new[0].key
    assert fake.puts() == [[bundle_key], ["config/current"]]
    assert pointer_target(fake.values["config/current"][0]) == bundle_key

    again = publish_config(store, CONFIG, written_at=1_790_000_100, producer="test")
    assert [r.plan.counts() for r in again] == ["0 new, 0 changed, 1 unchanged"] * 2
    assert len(fake.batches) == 2

    other = publish_config(store, {**CONFIG, "rules": [{"id": "r"}]}, written_at=1_790_000_200, producer="test")
    assert [r.plan.counts() for r in other] == ["1 new, 0 changed, 0 unchanged", "0 new, 1 changed, 0 unchanged"]
    assert fake.puts()[2:] == [[other[0].plan.new[0].key], ["config/current"]]


def test_a_pointer_is_not_written_when_its_bundle_fails(fake):
    fake.faults = [None, None, "echo"]  # list, get pointer, then the bundle write is refused
    with pytest.raises(WriteFailed, match="config bundle"):
        publish_config(remote(fake), CONFIG, written_at=1, producer="test")
    assert fake.values == {}


def test_a_config_dry_run_writes_nothing(fake):
    shown, out, err = console()
    publish_config(remote(fake), CONFIG, written_at=1, producer="test", dry_run=True, progress=shown)
    assert fake.batches == []
    assert "config pointer: would write 1 new" in out.getvalue()


# -- the token stays secret ---------------------------------------------------------------------------


@pytest.mark.parametrize("faults, error", [
    (["echo"], WriteFailed),             # the server repeats the Authorization header in its message
    (["500", "echo"], WriteFailed),      # ... after a retry was reported on the console
    (["drop", "drop"], WriteFailed),     # connection errors
], ids=["echo", "retry-then-echo", "dropped"])
def test_the_token_never_appears_in_errors_reprs_or_output(fake, capsys, faults, error):
    store = remote(fake, retry=RetryPolicy(attempts=2))
    shown, out, err = console()
    fake.faults = [None] + faults  # the listing succeeds, the write fails
    with pytest.raises(error) as failure:
        sync(store, profiles(2), progress=shown)
    captured = capsys.readouterr()
    traceback_text = "".join(traceback.format_exception(failure.value))  # the whole chain, as a crash shows it
    texts = [traceback_text, repr(failure.value), repr(store), str(store), out.getvalue(), err.getvalue(),
             captured.out, captured.err, repr(failure.value.report)]
    assert all(TOKEN not in text for text in texts)
    if "echo" in faults:
        assert "bad request from Bearer [token]" in str(failure.value)


def test_secret_hides_itself():
    secret = Secret(TOKEN)
    assert TOKEN not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == TOKEN


# -- configuration ---------------------------------------------------------------------------------------


def test_from_env_names_every_missing_variable():
    with pytest.raises(KVConfigError, match="CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN"):
        CloudflareKV.from_env({"INTENTEDGE_KV_NAMESPACE_ID": "ns"})


def test_open_store_remote_uses_the_environment(fake, monkeypatch):
    monkeypatch.setattr(cloudflare, "urllib_transport", fake)   # what the store sends goes to the fake
    store = open_store("remote", environ=fake.environ())
    store.put_many(profiles(1))
    assert len(fake.values) == 1
    with pytest.raises(KVConfigError, match="only applies to --local"):
        open_store("remote", persist_to=Path("x"), environ=fake.environ())


@pytest.mark.parametrize("kwargs, message", [
    ({"base_url": "ftp://x"}, r"http\(s\) URL"),
    ({"max_items": 10_001}, "batch limits"),
    ({"account_id": "a/b"}, "without '/'"),
    ({"token": ""}, "token is empty"),
], ids=["scheme", "items", "account", "token"])
def test_cloudflare_kv_validates_itself(kwargs, message):
    args = {"account_id": ACCOUNT, "namespace_id": NAMESPACE, "token": TOKEN, **kwargs}
    with pytest.raises(KVConfigError, match=message):
        CloudflareKV(args.pop("account_id"), args.pop("namespace_id"), args.pop("token"), **args)


# -- wrangler's local KV, for real ----------------------------------------------------------------------------


def test_local_store_round_trips_bytes_metadata_and_ttl(tmp_path):
    """Four miniflare starts: the plan's listing, one bulk write, a listing, the reads.

    Listing in pages of 2 follows the cursor, which `wrangler kv key list --local` never does
    (it stops after its first page of 1000 keys)."""
    store = LocalKV(ROOT, tmp_path / "state", page_size=2)
    entries = profiles(4) + [Entry("profile/ttl", bytes(range(256)), expiration_ttl=3600)]
    first = sync(store, entries)
    assert first.plan.counts() == "5 new, 0 changed, 0 unchanged" and first.summary.items == 5

    listed = dict(store.list("profile/"))
    assert listed == {entry.key: {"sha256": entry.sha256} for entry in entries}
    assert store.get_many([entry.key for entry in entries] + ["profile/missing"]) == {
        **{entry.key: entry.value for entry in entries}, "profile/missing": None}


def test_open_store_local_reads_the_namespace_id_from_wrangler_toml(tmp_path):
    store = open_store("local", persist_to=tmp_path / "state", project=ROOT)
    assert isinstance(store, LocalKV) and store.namespace_id == "intentedge-local"
    assert store.persist_to == (tmp_path / "state").resolve()
