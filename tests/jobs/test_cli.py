"""The `intentedge` command, run through click's test runner: exit codes and what it prints."""

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from intentedge.context import RequestContext, RequestData
from intentedge_jobs.cli import cli
from intentedge_jobs.configfile import load_config
from intentedge.preview import Preview, requested_preview, token_is_valid
from intentedge.session import SessionKeys

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "demo" / "config.toml"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


# A valid slot, fragment and rule, for cases that add one bad line to the rule.
RULE = '[slots.s]\n[fragments.f]\nhtml = "x"\n[[rules]]\nid = "r1"\nslot = "s"\nfragment = "f"\n'


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_accepts_the_demo_config():
    result = run("validate", DEMO_CONFIG)
    assert result.exit_code == 0, result.output
    assert f"{DEMO_CONFIG}: ok" in result.output


@pytest.mark.parametrize("text, expected", [
    ('[[rules]]\nid = "r1"\nslot = "hero"\nfragment = "f"\npath_prefix = "/"\n',
     "rule 'r1': slot 'hero' is not declared"),
    ('[slots.hero]\nfallback = "nope"\n',
     "slot 'hero': fallback 'nope' is not a known fragment"),
    ('[fragments.f]\nhtml = "<b>"\ntext = "b"\n',
     "fragment 'f': needs exactly one of 'html' or 'text'"),
    ('[fragments.f]\nhtml = "<b>"\nop = "explode"\n',
     "fragment 'f': unknown op 'explode'"),
    ('[fragments.f]\nhtml = "x"\n[slots.hero]\nfalback = "f"\n',  # a typo is an unknown key
     "slot 'hero': unknown key 'falback'"),
    ('slots = [1, 2]\n', "slots: must be a table, found an array"),
    ('[slots.hero\n', "TOML: "),  # syntax error: the message carries tomllib's line and column
    (RULE + 'when = { "cart.value" = { "$gtt" = 150 } }\n',
     "rule 'r1': when: cart.value: unknown operator \"$gtt\""),
    (RULE + 'when = { "request.path" = { "$regex" = "(" } }\n', "rule 'r1': when: request.path.$regex: "),
    ('[fragments.f]\nhtml = "<b>{city</b>"\n', "fragment 'f': template: unclosed '{' at offset 3"),
    ('[fragments.f]\nhtml = "{nope.x}"\n', "fragment 'f': template parameter {nope...} names nothing"),
    (RULE.replace('fragment = "f"', 'fragment = "g"'), "rule 'r1': fragment 'g' is not a known fragment"),
    (RULE.replace('slot = "s"', 'slot = "t"'), "rule 'r1': slot 't' is not declared"),
    (RULE + 'schedule = { start = 2026-01-02T00:00:00 }\n',
     "rule 'r1': schedule start: a date-time without an offset needs schedule.timezone"),
], ids=["undeclared-slot", "unknown-fallback", "html-and-text", "unknown-op", "typo", "wrong-type", "toml-syntax",
        "unknown-operator", "bad-regex", "template-syntax", "template-root", "unknown-fragment", "unknown-slot",
        "naive-schedule"])
def test_validate_names_file_item_and_reason(tmp_path, text, expected):
    path = write(tmp_path, text)
    result = run("validate", path)
    assert result.exit_code == 1
    assert f"Error: {path}: {expected}" in result.output


def test_validate_reports_every_problem_of_every_file(tmp_path):
    first = write(tmp_path, '[slots.a]\nfallback = "x"\n[slots.b]\nfallback = "y"\n', "first.toml")
    second = write(tmp_path, '[fragments.f]\nop = "inner"\n', "second.toml")
    result = run("validate", first, second)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: {first}: slot 'a': fallback 'x' is not a known fragment (hint: declare it under [fragments])",
        f"Error: {first}: slot 'b': fallback 'y' is not a known fragment (hint: declare it under [fragments])",
        f"Error: {second}: fragment 'f': needs exactly one of 'html' or 'text' "
        "(hint: 'html' is inserted as markup, 'text' is escaped)",
        "Error: 3 problem(s) in 2 file(s)",
    ]


def test_validate_missing_file(tmp_path):
    result = run("validate", tmp_path / "nope.toml")
    assert result.exit_code == 1
    assert f"Error: {tmp_path / 'nope.toml'}: file: does not exist" in result.output


def test_publish_dry_run_plans_bundle_then_pointer(tmp_path):
    result = run("publish", "--local", "--persist-to", tmp_path / "state", "--dry-run", DEMO_CONFIG)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "config bundle: would write 1 new, 0 changed, 0 unchanged"
    assert re.fullmatch(r"  new\s+config/[0-9a-f]{64} \(\d+ bytes\)", lines[1])
    assert lines[2] == "config pointer: would write 1 new, 0 changed, 0 unchanged"
    assert re.fullmatch(r"  new\s+config/current \(\d+ bytes\)", lines[3])
    again = run("publish", "--local", "--persist-to", tmp_path / "state", "--dry-run", DEMO_CONFIG)
    assert again.output == result.output        # the dry run wrote nothing


def test_publish_refuses_an_invalid_config_before_writing(tmp_path):
    result = run("publish", "--local", write(tmp_path, '[slots.hero]\nfallback = "x"\n'))
    assert result.exit_code == 1
    assert "plan" not in result.output and "wrote" not in result.output


def test_publish_without_a_target_is_a_usage_error():
    result = run("publish", DEMO_CONFIG)
    assert result.exit_code == 2
    assert "say where to publish: --local or --remote" in result.output


def test_publish_turns_schedules_into_epoch_seconds(tmp_path):
    # msgpack cannot hold a TOML date-time: the payload carries UTC epoch seconds instead
    path = write(tmp_path, RULE + 'schedule = { start = 2026-11-27T00:00:00, end = 2026-11-28T00:00:00+01:00, '
                                  'timezone = "America/New_York" }\n')
    config = load_config(path)
    assert config["rules"][0]["schedule"] == {"start": 1795755600, "end": 1795820400}
    assert run("publish", "--local", "--persist-to", tmp_path / "state", "--dry-run", path).exit_code == 0


def test_publish_persist_to_is_local_only(tmp_path):
    result = run("publish", "--remote", "--persist-to", tmp_path, DEMO_CONFIG)
    assert result.exit_code == 2
    assert "--persist-to goes with --local" in result.output


# -- preview-token ----------------------------------------------------------------------------

DEV_KEYS = "k7:" + "d" * 40
OTHER_KEYS = "k9:" + "o" * 40


@pytest.fixture
def dev_keys(tmp_path, monkeypatch) -> SessionKeys:
    """A project folder with .dev.vars as the current directory, and no $SESSION_KEYS: its keys."""
    (tmp_path / "wrangler.toml").write_text('name = "t"\n')
    (tmp_path / ".dev.vars").write_text(f'PROFILE_SALT="salt"\nSESSION_KEYS="{DEV_KEYS}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSION_KEYS", raising=False)
    return SessionKeys.parse(DEV_KEYS)


def minted(*args: str) -> tuple[str, float, float]:
    """(output, clock before, clock after) of a successful preview-token run."""
    before = time.time()
    result = run("preview-token", *args)
    after = time.time()
    assert result.exit_code == 0, result.output
    return result.output.strip(), before, after


def test_a_bare_token_verifies_with_the_dev_vars_keys(dev_keys):
    token, _, after = minted()
    assert token.startswith("k7.") and "\n" not in token
    assert token_is_valid(token, dev_keys, now=after)
    assert not token_is_valid(token, SessionKeys.parse("k7:" + "o" * 40), now=after)   # same id, other secret


@pytest.mark.parametrize("where", ["option", "environment"])
def test_keys_from_the_option_or_environment_win_over_dev_vars(dev_keys, monkeypatch, where):
    args = ("--keys", OTHER_KEYS) if where == "option" else ()
    if where == "environment":
        monkeypatch.setenv("SESSION_KEYS", OTHER_KEYS)
    token, _, after = minted(*args)
    assert token_is_valid(token, SessionKeys.parse(OTHER_KEYS), now=after)
    assert not token_is_valid(token, dev_keys, now=after)


@pytest.mark.parametrize(
    "ttl, seconds",
    [
        pytest.param(None, 3600, id="default-1h"),
        pytest.param("30m", 1800, id="minutes"),
        pytest.param("2h", 7200, id="hours"),
        pytest.param("1d", 86400, id="days"),
        pytest.param("90", 90, id="plain-seconds"),
        pytest.param("90s", 90, id="seconds"),
        pytest.param("7d", 7 * 86400, id="the-maximum"),
    ],
)
def test_ttl(dev_keys, ttl, seconds):
    token, before, after = minted(*(("--ttl", ttl) if ttl else ()))
    expires = int(token.split(".")[1])
    assert int(before + seconds) <= expires <= after + seconds


@pytest.mark.parametrize(
    "ttl",
    [
        pytest.param("", id="empty"),
        pytest.param("h", id="unit-only"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("-1h", id="negative"),
        pytest.param("1w", id="unknown-unit"),
        pytest.param("1H", id="unit-is-lower-case"),
        pytest.param("1 h", id="space"),
        pytest.param("\u00b2h", id="superscript-digit"),      # str.isdigit() takes it, int() does not
        pytest.param("\u0661h", id="arabic-indic-digit"),
    ],
)
def test_a_bad_ttl_is_a_usage_error(dev_keys, ttl):
    result = run("preview-token", "--ttl", ttl)
    assert result.exit_code == 2, result.output
    assert "is not a duration like 30m, 2h or 1d" in result.output


@pytest.mark.parametrize("ttl", [pytest.param("8d", id="8d"), pytest.param("604801", id="7d-and-a-second"),
                                 pytest.param("0", id="zero")])
def test_a_ttl_outside_1s_to_7d_is_refused(dev_keys, ttl):
    result = run("preview-token", "--ttl", ttl)
    assert result.exit_code == 1
    assert "Error: a preview token lives between 1 second and 7 days" in result.output


def test_without_keys_the_command_fails(dev_keys):
    (Path.cwd() / ".dev.vars").write_text("PROFILE_SALT=x\n")
    result = run("preview-token")
    assert result.exit_code == 1
    assert "Error: SESSION_KEYS must be" in result.output


def test_a_preview_link_is_accepted_at_the_edge_with_the_forced_values(dev_keys):
    link, _, after = minted("--url", "https://shop.example/products/?color=red", "--tier", "high",
                            "--rule", "spring-sale", "--set", "request.country=DE", "--set", "session.pages=3",
                            "--set", "request.utm.campaign=a b&c")
    assert link.startswith("https://shop.example/products/?color=red&pz_preview=k7.")
    query = RequestContext(RequestData(link, headers={}, cf={}, now=after)).query
    assert query["color"] == "red"
    assert requested_preview(query, dev_keys, now=after) == Preview(
        "high", "spring-sale",
        ((("request", "country"), "DE"), (("session", "pages"), 3), (("request", "utm", "campaign"), "a b&c")))
    assert requested_preview(query, SessionKeys.parse(OTHER_KEYS), now=after) is None


def test_a_link_without_forcing_only_asks_for_the_trace(dev_keys):
    link, _, after = minted("--url", "https://shop.example/")
    query = RequestContext(RequestData(link, headers={}, cf={}, now=after)).query
    assert set(query) == {"pz_preview"}
    assert requested_preview(query, dev_keys, now=after) == Preview()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--tier", "high"), id="tier"),
        pytest.param(("--rule", "spring-sale"), id="rule"),
        pytest.param(("--set", "request.country=DE"), id="set"),
    ],
)
def test_forcing_without_url_is_a_usage_error(dev_keys, args):
    result = run("preview-token", *args)
    assert result.exit_code == 2
    assert "--tier, --rule and --set go into a link: add --url" in result.output


@pytest.mark.parametrize(
    "sets",
    [
        pytest.param(("request.country",), id="no-equals"),
        pytest.param(("=DE",), id="no-attribute"),
        pytest.param(("request.country=DE", "request.country=FR"), id="attribute-twice"),
    ],
)
def test_a_malformed_set_is_a_usage_error(dev_keys, sets):
    args = [arg for item in sets for arg in ("--set", item)]
    result = run("preview-token", "--url", "https://shop.example/", *args)
    assert result.exit_code == 2
    assert "use ATTRIBUTE=VALUE, each attribute once" in result.output


def test_an_empty_set_value_is_an_empty_string(dev_keys):
    link, _, after = minted("--url", "https://shop.example/", "--set", "request.country=")
    query = RequestContext(RequestData(link, headers={}, cf={}, now=after)).query
    assert requested_preview(query, dev_keys, now=after).overrides == ((("request", "country"), ""),)
