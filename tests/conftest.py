"""Fixtures shared across the test folders: the real-browser ones (tests/browser/fixtures.py), used by
tests/browser/ and by the Worker's browser test in tests/worker/."""

pytest_plugins = ["tests.browser.fixtures"]
