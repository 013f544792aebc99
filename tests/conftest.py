"""Fixtures shared across the test folders: the real-browser ones (tests/browser/fixtures.py), used by
tests/browser/ and by the Worker's browser test in tests/worker/.

A SIGTERM (a CI timeout, `kill`) ends the run as Ctrl-C does, so the session's fixtures still stop
the servers they started (wrangler, workerd, origins) instead of leaving them behind.
"""

import signal

pytest_plugins = ["tests.browser.fixtures"]


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _interrupt)
