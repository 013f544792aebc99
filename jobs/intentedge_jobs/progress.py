"""How every job shows its progress: click's bar on a terminal, plain lines anywhere else.

    with Progress(total, label="visitors", show_pos=True) as progress:
        for done in range(1, total + 1):
            ...
            progress.update(done, f"  {done}/{total} visitors")

On a terminal the bar follows `update`'s position and the lines are not shown. In a log, a
pipe or CI a redrawn bar is noise, so each update's line is printed instead, at most one every
LINE_SECONDS, and always the one that reaches the end. `note` prints a line that always shows.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

import click

LINE_SECONDS = 5.0


class Progress:
    """Progress towards `length` on `file` (default: stderr); `hidden` shows nothing at all."""

    def __init__(self, length: int, *, label: str = "", file: TextIO | None = None, tty: bool | None = None,
                 show_pos: bool = False, hidden: bool = False, clock: Callable[[], float] = time.monotonic):
        self.length = length
        self.file = file if file is not None else sys.stderr
        self.hidden = hidden
        self.position = 0
        self._clock = clock
        self._next_line = clock() + LINE_SECONDS
        self._bar = None
        if not hidden and (isatty(self.file) if tty is None else tty):
            self._bar = click.progressbar(length=length, label=label, file=self.file, show_pos=show_pos)
            self._bar.__enter__()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, position: int, line: str = "") -> None:
        """Move on to `position`: the bar follows it, or else `line` is printed when it is time for one."""
        if self._bar is not None:
            if position > self.position:
                self._bar.update(position - self.position)
        elif line and not self.hidden:
            reaches_the_end = self.position < self.length <= position
            if reaches_the_end or self._clock() >= self._next_line:
                self._next_line = self._clock() + LINE_SECONDS
                click.echo(line, file=self.file)
        self.position = max(self.position, position)

    def note(self, message: str) -> None:
        """A line that always shows (a retry, a warning); on a terminal it starts below the bar."""
        if not self.hidden:
            click.echo(("\n" if self._bar is not None else "") + message, file=self.file)

    def close(self) -> None:
        """End the bar where it stands (it is not filled: a failed job stops short)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
