"""`build-profiles`, run through click's test runner on small generated files: the profiles it writes,
the malformed lines it counts (exact reasons and line numbers), reproducible output, and its errors."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner

from intentedge.contract import schema
from intentedge_jobs import build_profiles as job, progress
from intentedge_jobs.build_profiles import build_profiles, read_profiles
from intentedge_jobs.configfile import read_config_file
from intentedge.contract.keys import profile_key
from intentedge.profile import Profile, profile_from_payload

SALT = "test-salt-0123456789abcdef"
NOW = 1_790_000_000
CONFIG = """
[signals]
stages = ["browse", "product", "cart", "checkout", "purchase"]

[[signals.pages]]
pattern = '^/products/(?P<product>[a-z0-9-]+)/'
stage = "product"

[[signals.pages]]
pattern = '^/checkout/'
stage = "checkout"

[products.alpha-pro]
price = 249
category = "cameras"
"""


def batch(user: str, session: str, *events: dict) -> dict:
    return {"userId": user, "sessionId": session, "events": list(events)}


def page(ts: int, url: str = "/products/alpha-pro/") -> dict:
    return {"type": "page_view", "url": url, "timestamp": NOW + ts}


# Three visitors; ann's second session arrives in two batches, the later one first.
GOOD = [
    batch("ann@example.com", "a1", page(0, "/"), page(40), {"type": "cart_add", "productId": "alpha-pro",
                                                            "quantity": 2, "timestamp": NOW + 50}),
    batch("bob", "b1", page(10), {"type": "search", "query": "lens", "timestamp": NOW + 12},
          {"type": "scroll", "timestamp": NOW + 13}),
    batch("ann@example.com", "a2", page(3700, "/checkout/"),
          {"type": "purchase", "value": 498, "timestamp": NOW + 3720}),
    batch("ann@example.com", "a2", page(3600), {"type": "cta_click", "timestamp": "2026-09-21T15:13:30Z"}),
    batch("cy", "c1", {"type": "trial_start", "timestamp": NOW + 5}, {"type": "hover", "timestamp": NOW}),
]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def write_lines(path: Path, lines: list) -> Path:
    data = b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


def run(events: Path, config: Path, out: Path, *args: str, env: dict | None = None):
    return CliRunner(env=env).invoke(build_profiles, [str(events), "--config", str(config), "--out", str(out),
                                                      *args], catch_exceptions=False)


def built(events: Path, config: Path, out: Path, *args: str):
    result = run(events, config, out, "--salt", SALT, "--written-at", str(NOW), *args)
    assert result.exit_code == 0, result.output
    return result


def profiles(out: Path) -> dict[str, Profile]:
    found = {}
    for key, value, _ in read_profiles(out):
        envelope = schema.decode(schema.PROFILE, value)
        assert (envelope.written_at, envelope.producer) == (NOW, job.PRODUCER)
        found[key] = profile_from_payload(envelope.payload)
    return found


def key(user: str) -> str:
    return profile_key(user, SALT.encode())


def test_builds_one_profile_per_visitor(tmp_path, config):
    out = tmp_path / "profiles.jsonl"
    result = built(write_lines(tmp_path / "events.jsonl", GOOD), config, out)
    found = profiles(out)
    assert list(found) == sorted(found) == sorted(key(u) for u in ("ann@example.com", "bob", "cy"))
    ann = found[key("ann@example.com")]
    assert ann == Profile(
        updated_at=NOW, sessions=2, pages=4, dwell_avg=70.0,      # gaps of 40 s and 100 s, one per session
        interactions=2, searches=0, stage=4, categories={"cameras": 5.0}, purchases=1,
        cart_value=0.0, cart_items=0, trial=False, last_seen=NOW + 3720)
    assert found[key("bob")].searches == 1 and found[key("bob")].interactions == 1
    assert found[key("cy")].trial and found[key("cy")].pages == 0
    assert [ttl for _, _, ttl in read_profiles(out)] == [job.DEFAULT_TTL] * 3
    assert "5 batches, 10 events" in result.output
    assert "ignored  2 events of unknown types (hover 1, scroll 1)" in result.output
    assert "wrote    3 profiles" in result.output
    assert "events/s" in result.output and "malformed" not in result.output


def test_no_raw_id_reaches_the_output_or_the_spill_files(tmp_path, config, monkeypatch):
    spilled = []
    real = job._fold_partition

    def spy(spill, *args):
        spilled.append(spill.read_bytes())
        return real(spill, *args)

    monkeypatch.setattr(job, "_fold_partition", spy)
    out = tmp_path / "profiles.jsonl"
    built(write_lines(tmp_path / "events.jsonl", GOOD), config, out, "--partitions", "2")
    decoded = b"".join(value for _, value, _ in read_profiles(out))
    for secret in (b"ann@example.com", b"bob", b"a1", b"lens"):
        assert secret not in out.read_bytes() and secret not in decoded
        assert all(secret not in data for data in spilled)
    records = []
    for data in spilled:
        unpacker = msgpack.Unpacker()
        unpacker.feed(data)
        records += list(unpacker)
    assert len(spilled) == 2 and len(records) == len(GOOD)
    assert all(record[0].startswith("profile/") for record in records)    # (key, session hash, events)


def test_output_is_identical_across_runs_partitions_and_compression(tmp_path, config):
    plain = write_lines(tmp_path / "events.jsonl", GOOD)
    packed = write_lines(tmp_path / "events.jsonl.gz", GOOD)
    outputs = []
    for events, args in ((plain, ()), (plain, ()), (plain, ("--partitions", "7")), (packed, ())):
        out = tmp_path / f"out-{len(outputs)}.jsonl"
        built(events, config, out, *args)
        outputs.append(out.read_bytes())
    assert outputs[0] and all(output == outputs[0] for output in outputs)


def test_the_clock_decides_updated_at_and_written_at(tmp_path, config):
    events = write_lines(tmp_path / "events.jsonl", GOOD)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    built(events, config, first)
    built(events, config, second, "--written-at", str(NOW + 60))     # the last --written-at wins
    assert first.read_bytes() != second.read_bytes()
    assert {p.updated_at for p in profiles(first).values()} == {NOW}


# Line by line: what each malformed line is, and the reason it is counted under.
HOSTILE = [
    GOOD[0],                                                           # 1
    b'{"userId": "x", "sessionId": "s", "events": [',                  # 2 truncated JSON
    b"",                                                               # 3 blank: not malformed
    batch("bob", "b9", {"type": "purchase", "value": float("nan"), "timestamp": NOW}),      # 4 NaN
    b'{"userId": "u", "sessionId": "s", "events": [{"type": "purchase", "timestamp": 1, "value": 1e999}]}',  # 5 inf
    b'{"userId": "u", "sessionId": "s", "events": [], "n": ' + b"9" * 5000 + b"}",         # 6 5000 digits
    b"[" * 2000 + b"]" * 2000,                                         # 7 nested beyond the recursion limit
    batch(12345, "s", page(0)),                                        # 8 numeric user id
    [GOOD[1]],                                                         # 9 an array, not a batch
    b'{"userId": "\\ud800", "sessionId": "s", "events": []}',         # 10 lone surrogate
    b'{"userId": "caf\xe9", "sessionId": "s", "events": []}',          # 11 not UTF-8: not JSON
    batch("bob", "b9", {"type": "page_view", "timestamp": True}),      # 12 boolean timestamp
    batch("bob", "b9", {"type": "page_view", "timestamp": NOW, "url": {"a": [[[]]]}}),  # 13 junk url
    batch("bob", "b9", {"type": "cart_add", "timestamp": NOW, "quantity": 10**40}),     # 14 huge quantity
    b'{"userId": "x", "sessionId": "s", "events": ' + b"[" * 200 + b"]" * 200 + b"}",   # 15 junk events
    b"x" * 9000,                                                       # 16 longer than the limit
    GOOD[2],                                                           # 17
    b"   ",                                                            # 18 blank
    batch("dee", "d1", {"type": "mystery", "timestamp": "never"}),     # 19 only unknown types: fine
    GOOD[3],                                                           # 20
]


def test_malformed_lines_are_counted_by_reason_with_line_numbers(tmp_path, config, monkeypatch):
    monkeypatch.setattr(job, "MAX_LINE_BYTES", 8192)
    out, clean_out = tmp_path / "profiles.jsonl", tmp_path / "clean.jsonl"
    report_path = tmp_path / "report.json"
    result = built(write_lines(tmp_path / "events.jsonl", HOSTILE), config, out, "--report", str(report_path))
    report = json.loads(report_path.read_text())
    assert report["malformed"] == {
        "event": {"count": 1, "lines": [15]},
        "id": {"count": 2, "lines": [8, 10]},
        "json": {"count": 4, "lines": [2, 6, 7, 11]},
        "number": {"count": 3, "lines": [4, 5, 14]},
        "shape": {"count": 1, "lines": [9]},
        "string": {"count": 1, "lines": [13]},
        "timestamp": {"count": 1, "lines": [12]},
        "too_long": {"count": 1, "lines": [16]},
    }
    assert (report["lines"], report["blank_lines"], report["batches"], report["events"]) == (20, 2, 4, 7)
    assert (report["unknown_events"], report["unknown_types"], report["visitors"]) == (1, {"mystery": 1}, 1)
    assert "skipped  14 malformed lines:" in result.output
    assert "    json: 4 (lines 2, 6, 7, 11)" in result.output
    # the malformed lines took nothing from the good ones
    built(write_lines(tmp_path / "clean.jsonl", [GOOD[0], GOOD[2], GOOD[3]]), config, clean_out)
    assert out.read_bytes() == clean_out.read_bytes()


def test_only_the_first_line_numbers_of_a_reason_are_kept(tmp_path, config):
    result = built(write_lines(tmp_path / "events.jsonl", [b"{"] * 25 + [GOOD[1]]), config, tmp_path / "out.jsonl")
    assert f"    json: 25 (lines {', '.join(str(n) for n in range(1, 21))}, ...)" in result.output
    assert "wrote    1 profiles" in result.output


def test_unknown_types_are_named_up_to_a_bound(tmp_path, config):
    lines = [batch("eve", "e1", *({"type": f"t{n:02d}"} for n in range(30)), page(0))]
    report_path = tmp_path / "report.json"
    built(write_lines(tmp_path / "events.jsonl", lines), config, tmp_path / "out.jsonl", "--report", str(report_path))
    types = json.loads(report_path.read_text())["unknown_types"]
    assert len(types) == job.REPORTED_TYPES + 1 and types["(other)"] == 30 - job.REPORTED_TYPES


def test_ttl(tmp_path, config):
    events = write_lines(tmp_path / "events.jsonl", GOOD[:1])
    out = tmp_path / "out.jsonl"
    built(events, config, out, "--ttl", "120")
    assert [ttl for _, _, ttl in read_profiles(out)] == [120]
    result = run(events, config, out, "--salt", SALT, "--ttl", "59")
    assert result.exit_code == 2 and "--ttl" in result.output          # KV's minimum is 60 s


def test_salt_comes_from_the_option_the_environment_or_dev_vars(tmp_path, config, monkeypatch):
    events = write_lines(tmp_path / "events.jsonl", GOOD[1:2])
    project = tmp_path / "project"
    project.mkdir()
    (project / "wrangler.toml").write_text('name = "x"\n')
    monkeypatch.chdir(project)
    out = tmp_path / "out.jsonl"
    no_env = {"PROFILE_SALT": None}
    result = run(events, config, out, env=no_env)
    assert result.exit_code == 1
    assert ("Error: no profile salt: pass --salt, set $PROFILE_SALT, or add it to the project's .dev.vars"
            in result.output)
    (project / ".dev.vars").write_text('PROFILE_SALT="from-dev-vars-000000"\n')
    assert run(events, config, out, env=no_env).exit_code == 0
    assert [k for k, _, _ in read_profiles(out)] == [profile_key("bob", b"from-dev-vars-000000")]
    assert run(events, config, out, env={"PROFILE_SALT": "from-env-0000000000"}).exit_code == 0
    assert [k for k, _, _ in read_profiles(out)] == [profile_key("bob", b"from-env-0000000000")]


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, config, monkeypatch):
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    result = built(write_lines(tmp_path / "events.jsonl", GOOD), config, tmp_path / "out.jsonl", "--partitions", "2")
    assert f"build-profiles: read {(tmp_path / 'events.jsonl').stat().st_size:,} of" in result.stderr
    assert "build-profiles: folding partition 2 of 2" in result.stderr
    assert "build-profiles:" in result.stdout.splitlines()[0]       # the summary goes to stdout


def test_errors_are_one_line_naming_the_file(tmp_path, config):
    out = tmp_path / "out.jsonl"
    missing = tmp_path / "missing.jsonl"
    result = run(missing, config, out, "--salt", SALT)
    assert result.exit_code == 1 and f"Error: {missing}: cannot be read: No such file or directory" in result.output

    truncated = tmp_path / "events.jsonl.gz"
    truncated.write_bytes(gzip.compress(b"".join(json.dumps(b).encode() + b"\n" for b in GOOD * 50))[:-30])
    result = run(truncated, config, out, "--salt", SALT)
    assert result.exit_code == 1 and f"Error: {truncated}: cannot be read after line" in result.output

    not_gzip = write_lines(tmp_path / "plain.jsonl.gz", [])
    not_gzip.write_bytes(b"{}\n")
    result = run(not_gzip, config, out, "--salt", SALT)
    assert result.exit_code == 1 and "Not a gzipped file" in result.output

    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[[signals.pages]]\npattern = "("\n')
    result = run(write_lines(tmp_path / "e.jsonl", GOOD), bad_config, out, "--salt", SALT)
    assert result.exit_code == 1 and f"Error: {bad_config}: signals.pages[0]: pattern is not" in result.output

    result = run(tmp_path / "e.jsonl", config, tmp_path / "no" / "such" / "out.jsonl", "--salt", SALT)
    assert result.exit_code == 1 and "out.jsonl.partial: cannot be written: No such file" in result.output


def test_a_progress_bar_on_a_terminal(tmp_path, config):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    events = write_lines(tmp_path / "events.jsonl", GOOD)
    terminal = Terminal()
    report = job.build(events, tmp_path / "out.jsonl", bundle=read_config_file(config).bundle, salt=SALT.encode(),
                       written_at=NOW, partitions=3, progress_file=terminal)
    assert report.visitors == 3 and report.partitions == 3
    assert "build-profiles  [####################################]  100%" in terminal.getvalue()


def test_what_the_bounds_kept_out_is_in_the_summary_and_the_report(tmp_path, config):
    forged = [batch("mallory", "m1", *({"type": "purchase", "value": 999_999, "timestamp": NOW - 60}
                                        for _ in range(10)))]
    report_path = tmp_path / "report.json"
    result = built(write_lines(tmp_path / "events.jsonl", forged + GOOD), config, tmp_path / "out.jsonl",
                   "--report", str(report_path))
    bounded = json.loads(report_path.read_text())["bounded"]
    assert bounded["purchases"] == 10 - 3 and "bounded  7 purchases not counted" in result.stdout
    assert profiles(tmp_path / "out.jsonl")[key("mallory")].purchases == 3


def test_clean_traffic_reports_nothing_bounded(tmp_path, config):
    report_path = tmp_path / "report.json"
    result = built(write_lines(tmp_path / "events.jsonl", GOOD), config, tmp_path / "out.jsonl",
                   "--report", str(report_path))
    assert json.loads(report_path.read_text())["bounded"] == {"purchases": 0, "carts": 0}
    assert "bounded" not in result.stdout
