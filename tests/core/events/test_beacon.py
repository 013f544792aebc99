"""The beacon's source as the Worker inlines it: small, valid JavaScript, safe inside a <script> element.
What it does in a browser is tested in tests/browser/test_beacon_browser.py."""

import shutil
import subprocess

import pytest

from intentedge.events.beacon import SOURCE

MAX_BYTES = 1536


def test_fits_the_size_budget():
    assert len(SOURCE.encode()) <= MAX_BYTES


def test_node_parses_it(tmp_path):
    node = shutil.which("node")
    assert node, "node is not on PATH (make setup needs it for wrangler too)"
    script = tmp_path / "beacon.js"
    script.write_text(SOURCE)
    done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("needle", [
    pytest.param("eval(", id="eval"),
    pytest.param("Function(", id="function-constructor"),
    pytest.param("document.write", id="document.write"),
    # Inline in HTML: these would end the script element or change how the parser reads it.
    pytest.param("</", id="end-tag"),
    pytest.param("<!--", id="comment-open"),
    pytest.param("\n", id="newline"),
])
def test_has_no(needle):
    assert needle not in SOURCE


def test_is_ascii():
    assert SOURCE.isascii()


def test_runs_in_its_own_scope():
    assert SOURCE.startswith("(()=>{") and SOURCE.endswith("})()")
    assert "window.pz=" in SOURCE
