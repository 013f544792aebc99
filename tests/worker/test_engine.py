"""The intent engine in the running Worker: session cookie, rule chain, profiles, holdouts, bots, trace."""

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from intentedge.contract import keys, schema
from intentedge.bucketing import hash_value
from intentedge.profile import Profile, profile_to_payload

from .conftest import CONFIG, ROOT

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
HERO = re.compile(r'data-personalized-region="hero" class="a" data-pz-rule="([^"]+)" data-pz-variant="([^"]+)">(.*?)</header>')


def hero(reply) -> tuple[str, str, str]:
    """(rule, variant, content) of the first hero slot on the home page."""
    match = HERO.search(reply.text)
    assert match, reply.text
    return match.groups()


def set_cookie(reply) -> str:
    values = reply.headers.get_all("set-cookie") or []
    assert len(values) == 1, values
    return values[0]


def test_first_visit_gets_onboarding_and_a_signed_cookie(worker):
    reply = worker.get("/", headers={"User-Agent": BROWSER})
    assert hero(reply)[:2] == ("onboarding", "hero-onboarding")
    cookie = set_cookie(reply)
    assert re.fullmatch(r"pz=dev1\.[\w-]+\.[\w-]{43}; Path=/; Max-Age=\d+; HttpOnly; SameSite=Lax", cookie), cookie
    assert len(cookie.split(";")[0]) <= 1024


def test_the_cookie_carries_the_session_to_the_next_page(worker):
    first = worker.get("/products/camera.html", headers={"User-Agent": BROWSER})
    cookie = set_cookie(first).split(";")[0]
    # second page: no longer a new visitor; the viewed product is remembered and shown once
    second = worker.get("/", headers={"User-Agent": BROWSER, "Cookie": cookie})
    assert hero(second)[0] == "fallback"
    assert '<i class="pz">viewed Camera &lt;Pro&gt; &amp; Co</i>' in second.text
    cookie = set_cookie(second).split(";")[0]
    third = worker.get("/", headers={"User-Agent": BROWSER, "Cookie": cookie})
    assert "viewed Camera" not in third.text          # frequency cap: once per session


@pytest.mark.parametrize("tamper", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),      # MAC changed
    lambda v: v.replace("dev1.", "dev1.A", 1),                       # body changed
    lambda v: v.replace("dev1.", "zzz9.", 1),                        # unknown key id
    lambda v: "garbage",
    lambda v: v + "." + "x" * 2000,                                  # oversized
], ids=["mac", "body", "key-id", "garbage", "oversized"])
def test_a_tampered_cookie_is_a_new_visitor(worker, mint_cookie, tamper):
    genuine = mint_cookie(cart_value=500.0, cart_items=1)
    assert hero(worker.get("/", headers={"Cookie": genuine}))[0] == "premium"
    name, value = genuine.split("=", 1)
    reply = worker.get("/", headers={"Cookie": f"{name}={tamper(value)}"})
    assert hero(reply)[:2] == ("onboarding", "hero-onboarding")
    assert set_cookie(reply).split(";")[0] != genuine


def test_rule_chain_first_match_wins(worker, mint_cookie):
    premium = worker.get("/", headers={"Cookie": mint_cookie(cart_value=249.5, cart_items=1)})
    assert hero(premium) == ("premium", "hero-premium", '<b class="pz">premium 249.50</b>')
    plain = worker.get("/", headers={"Cookie": mint_cookie(cart_value=20.0, cart_items=1)})
    assert hero(plain)[0] == "fallback"


def _side_of_holdout(want_held_out: bool) -> str:
    for i in range(1000):
        visitor = f"profile-visitor-{i:08d}"
        if (hash_value("loyalty", visitor, 2) < 0.5) == want_held_out:
            return visitor
    raise AssertionError("no visitor id found")


@pytest.mark.parametrize("held_out", [False, True], ids=["treatment", "control"])
def test_profile_from_kv_drives_the_loyalty_rule_with_a_holdout(worker, local_kv, mint_cookie, dev_secrets, held_out):
    visitor = _side_of_holdout(held_out)
    key = keys.profile_key(visitor, dev_secrets["PROFILE_SALT"].encode())
    profile = Profile(updated_at=int(time.time()), sessions=4, pages=30, purchases=3, last_seen=int(time.time()))
    local_kv.put(key, schema.encode(schema.PROFILE, profile_to_payload(profile), written_at=0, producer="test"))
    cookie = mint_cookie(visitor, pages=3)
    anonymous = worker.get("/", headers={"Cookie": cookie})
    assert hero(anonymous)[0] == "fallback"                    # not logged in
    reply = worker.get("/", headers={"Cookie": cookie + "; logged_in=1"})
    if held_out:
        assert hero(reply) == ("loyalty", "control", '<em class="pz">default hero</em>')
    else:
        assert hero(reply) == ("loyalty", "hero-loyalty", '<b class="pz">loyalty</b>')


def test_a_corrupt_profile_is_ignored(worker, local_kv, mint_cookie, dev_secrets):
    visitor = "corrupt-profile-0000001"
    local_kv.put(keys.profile_key(visitor, dev_secrets["PROFILE_SALT"].encode()), b"\xc1garbage")
    mark = worker.log_mark()
    reply = worker.get("/", headers={"Cookie": mint_cookie(visitor) + "; logged_in=1"})
    assert hero(reply)[0] == "fallback"
    worker.wait_for_log('"event":"profile_unusable"', since=mark)


def test_template_parameters_from_the_request_are_escaped(worker, mint_cookie):
    reply = worker.get("/?hello=1&name=%3Cscript%3Ealert(1)%3C/script%3E", headers={"Cookie": mint_cookie()})
    assert hero(reply)[2] == '<b class="pz">hello &lt;script&gt;alert(1)&lt;/script&gt;</b>'
    assert "<script>alert(1)" not in reply.text


def test_a_missing_template_parameter_falls_back(worker, mint_cookie):
    reply = worker.get("/?hello=1", headers={"Cookie": mint_cookie()})   # no `name` parameter
    assert hero(reply)[0] == "fallback"


@pytest.mark.parametrize("agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
])
def test_crawlers_get_defaults_and_no_cookie(worker, mint_cookie, agent):
    reply = worker.get("/", headers={"User-Agent": agent, "Cookie": mint_cookie(cart_value=900.0, cart_items=1)})
    assert hero(reply)[:2] == ("fallback", "hero-default")
    assert reply.headers.get_all("set-cookie") is None


def test_each_decision_is_logged_as_one_json_line(worker, mint_cookie):
    mark = worker.log_mark()
    worker.get("/products/camera.html", headers={"Cookie": mint_cookie(cart_value=300.0, cart_items=1)})
    worker.wait_for_log('"event":"decision","path":"/products/camera.html","score":', since=mark)
    line = next(line for line in worker.log()[mark:].splitlines() if '"event":"decision"' in line)
    assert '"fired":{"premium":["hero"]' not in line          # the page rule outranks the chain
    assert '"product-hero":["hero"]' in line
    assert "slot taken by 'product-hero'" in line
    assert "test-visitor" not in line                         # no visitor ids in logs


def test_profiles_built_from_events_and_published_reach_the_worker(worker, kv_dir, tmp_path, mint_cookie):
    """build-profiles -> publish --local --profiles -> the running Worker reads the profile."""
    visitor = _side_of_holdout(False)
    now = int(time.time())
    batches = [
        {"userId": visitor, "sessionId": f"s{i}", "events": [
            {"type": "page_view", "url": "/products/camera.html", "timestamp": now - 3600 * (5 - i)},
            {"type": "cart_add", "productId": "camera", "value": 120.0, "timestamp": now - 3600 * (5 - i) + 30},
            {"type": "purchase", "value": 120.0, "timestamp": now - 3600 * (5 - i) + 90}]}
        for i in range(3)
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(batch) + "\n" for batch in batches) + "not json\n")
    profiles = tmp_path / "profiles.jsonl"
    cli = [str(Path(sys.executable).with_name("intentedge"))]
    built = subprocess.run(cli + ["build-profiles", str(events), "--config", str(CONFIG), "--out", str(profiles)],
                           cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert "json: 1 (lines 4)" in built.stdout                      # the malformed line is reported
    published = subprocess.run(cli + ["publish", "--local", "--persist-to", str(kv_dir), "--profiles", str(profiles)],
                               cwd=ROOT, capture_output=True, text=True)
    assert published.returncode == 0, published.stderr
    reply = worker.get("/", headers={"Cookie": mint_cookie(visitor, pages=3) + "; logged_in=1"})
    assert hero(reply) == ("loyalty", "hero-loyalty", '<b class="pz">loyalty</b>')


def test_local_time_comes_from_the_visitors_timezone(worker, mint_cookie):
    before = time.time()
    reply = worker.get("/?clock=1", headers={"Cookie": mint_cookie()})
    after = time.time()
    match = re.search(r'data-pz-rule="clock" data-pz-variant="promo-clock">([^|<]+)\|(\d+)\|(\d)<', reply.text)
    assert match, reply.text
    zone = ZoneInfo(match.group(1))        # request.cf's timezone (wrangler's placeholder offline)
    expected = {(datetime.fromtimestamp(t, zone).hour, datetime.fromtimestamp(t, zone).weekday()) for t in (before, after)}
    assert (int(match.group(2)), int(match.group(3))) in expected
