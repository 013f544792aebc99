"""Console: what `publish` prints while it syncs, the plan and the summary on stdout, progress on stderr."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from ..progress import Progress, isatty
from .sync import Plan, Reporter, Summary, human_bytes


class Console(Reporter):
    """The plan and the summary on `out`; progress and retries on `err`.

    Progress is progress.Progress: click's bar when `err` is a terminal, otherwise a plain line
    every few seconds and one when the write is done. A dry run lists every key with its verdict.
    """

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, tty: bool | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tty = isatty(self.err) if tty is None else tty
        self._progress: Progress | None = None
        self._label = ""
        self._total = (0, 0)
        self._done = (0, 0)

    def plan(self, label: str, plan: Plan, *, dry_run: bool) -> None:
        prefix = "would write" if dry_run else "plan"
        click.echo(f"{label}: {prefix} {plan.counts()}", file=self.out)
        if dry_run:
            for line in plan.lines():
                click.echo(f"  {line}", file=self.out)

    def start(self, label: str, items: int, nbytes: int) -> None:
        self._label, self._total, self._done = label, (items, nbytes), (0, 0)
        self._progress = Progress(items, label=label, file=self.err, tty=self.tty, show_pos=True)

    def advance(self, items: int, nbytes: int) -> None:
        self._done = (self._done[0] + items, self._done[1] + nbytes)
        if self._progress is not None:
            self._progress.update(self._done[0], f"{self._label}: {self._done[0]}/{self._total[0]} keys, "
                                                 f"{human_bytes(self._done[1])}/{human_bytes(self._total[1])}")

    def retry(self, message: str) -> None:
        if self._progress is not None:
            self._progress.note(message)
        else:
            click.echo(message, file=self.err)   # a read's retry, outside any write

    def finish(self, label: str, summary: Summary) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        click.echo(f"{label}: {summary}", file=self.out)
