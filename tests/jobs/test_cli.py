"""The `intentedge` command, run through click's test runner: exit codes and what it prints."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from intentedge.jobs.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "demo" / "config.toml"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


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
], ids=["undeclared-slot", "unknown-fallback", "html-and-text", "unknown-op", "typo", "wrong-type", "toml-syntax"])
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


def test_publish_dry_run_lists_bundle_then_pointer():
    result = run("publish", "--local", "--dry-run", DEMO_CONFIG)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("would write config/") and len(lines[0].split()[2]) == len("config/") + 64
    assert lines[1].startswith("would write config/current ")


def test_publish_refuses_an_invalid_config_before_writing(tmp_path):
    result = run("publish", "--local", write(tmp_path, '[slots.hero]\nfallback = "x"\n'))
    assert result.exit_code == 1
    assert "would write" not in result.output and "wrote" not in result.output


def test_publish_without_a_target_is_a_usage_error():
    result = run("publish", DEMO_CONFIG)
    assert result.exit_code == 2
    assert "say where to publish: --local or --remote" in result.output
