"""The one progress reporter of every job: click's bar on a terminal, otherwise a plain line every
LINE_SECONDS and always the one that reaches the end; notes always show; hidden shows nothing."""

from __future__ import annotations

import io

from intentedge_jobs import progress
from intentedge_jobs.progress import Progress


class Clock:
    """An injected clock: tests move it instead of sleeping."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_line_every_few_seconds_and_the_last_one():
    out, clock = io.StringIO(), Clock()
    with Progress(4, label="keys", file=out, clock=clock) as shown:
        shown.update(1, "1 of 4")                       # too soon after the start
        clock.now = progress.LINE_SECONDS
        shown.update(2, "2 of 4")
        shown.update(3, "3 of 4")                       # too soon after the previous line
        shown.update(4, "4 of 4")                       # the end always shows
    assert out.getvalue().splitlines() == ["2 of 4", "4 of 4"]


def test_the_end_shows_once_and_an_update_without_a_line_prints_nothing():
    out = io.StringIO()
    with Progress(2, file=out, clock=Clock()) as shown:
        shown.update(2, "done")
        shown.update(2, "done")
        shown.update(1)
    assert out.getvalue() == "done\n"


def test_on_a_terminal_the_bar_follows_and_lines_are_not_printed():
    terminal = Terminal()
    with Progress(10, label="build", file=terminal) as shown:
        shown.update(5, "half way")
        shown.update(3, "going back is ignored")
        shown.update(10, "done")
    text = terminal.getvalue()
    assert "build  [####################################]  100%" in text
    assert "half way" not in text and "done" not in text


def test_a_note_always_shows_below_the_bar():
    terminal, plain = Terminal(), io.StringIO()
    with Progress(3, file=terminal) as on_terminal, Progress(3, file=plain) as off_terminal:
        on_terminal.note("retrying in 1.0 s")
        off_terminal.note("retrying in 1.0 s")
    assert "\nretrying in 1.0 s\n" in terminal.getvalue()
    assert plain.getvalue() == "retrying in 1.0 s\n"


def test_hidden_shows_nothing():
    terminal = Terminal()
    with Progress(1, label="quiet", file=terminal, hidden=True) as shown:
        shown.update(1, "done")
        shown.note("a note")
    assert terminal.getvalue() == ""
