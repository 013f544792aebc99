"""The `intentedge` command, run through click's test runner: exit codes and what it prints."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from intentedge.jobs.cli import cli
from intentedge.jobs.configfile import load_config

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
