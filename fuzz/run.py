"""Run the fuzz targets with many generated inputs each; print counts, rates and failures.

    .venv/bin/python -m fuzz.run [--examples 100000] [--target NAME]... [--jobs N]

Each target prints one line (inputs run, seconds, inputs per second, failures) and, if it
failed, hypothesis's shrunk failing example with its traceback; the run goes on with the
next target. Exit status 1 if any target failed. Progress goes to stderr.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass

import click

from fuzz.targets import RUNS, TARGETS, fuzz_settings

PROGRESS_SECONDS = 30


@dataclass(frozen=True)
class Result:
    name: str
    count: int              # inputs run, shrinking included
    seconds: float
    failure: str | None     # the formatted exception, with hypothesis's failing example


@contextmanager
def progress(name: str, examples: int):
    """A line on stderr every PROGRESS_SECONDS while target `name` runs."""
    done = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not done.wait(PROGRESS_SECONDS):
            click.echo(f"  ... {name}: {RUNS[name]:,} of {examples:,} inputs, "
                       f"{time.monotonic() - started:.0f} s", err=True)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def run_target(name: str, examples: int) -> Result:
    RUNS[name] = 0
    failure = None
    started = time.perf_counter()
    with progress(name, examples):
        try:
            TARGETS[name].test(fuzz_settings(examples))()
        except Exception as error:   # the target's failure, shrunk by hypothesis
            failure = "".join(traceback.format_exception(error))
    return Result(name, RUNS[name], time.perf_counter() - started, failure)


def print_result(result: Result, examples: int) -> None:
    verdict = "0 failures" if result.failure is None else "FAILED"
    rate = result.count / result.seconds if result.seconds else 0.0
    click.echo(f"{result.name:<24} {result.count:>9,} inputs {result.seconds:8.1f} s {rate:9,.0f}/s   {verdict}")
    if result.failure is None and result.count < examples:
        click.echo(f"  hypothesis stopped at {result.count:,} of {examples:,} inputs")
    if result.failure is not None:
        click.echo(result.failure, nl=False)
        click.echo(f"  ({result.count:,} inputs, counting those run while shrinking)")


def run_all(names: list[str], examples: int, jobs: int) -> list[Result]:
    """Run the targets, `jobs` at a time in separate processes; print each result as it comes."""
    results = []
    if jobs == 1:
        for name in names:
            results.append(run_target(name, examples))
            print_result(results[-1], examples)
        return results
    with ProcessPoolExecutor(jobs) as pool:
        for future in as_completed([pool.submit(run_target, name, examples) for name in names]):
            results.append(future.result())
            print_result(results[-1], examples)
    return results


@click.command()
@click.option("--examples", "-n", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Generated inputs per target.")
@click.option("--target", "names", multiple=True, type=click.Choice(list(TARGETS)),
              help="Run only this target (repeatable). Default: all of them.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Targets run at the same time, each in its own process.")
def main(examples: int, names: tuple[str, ...], jobs: int) -> None:
    """Fuzz intentedge's decoders and compilers with hypothesis."""
    started = time.perf_counter()
    results = run_all(list(names or TARGETS), examples, jobs)
    failed = [r.name for r in results if r.failure is not None]
    total = sum(r.count for r in results)
    click.echo(f"{len(results)} targets, {total:,} inputs in {time.perf_counter() - started:.0f} s; "
               + (f"failed: {', '.join(failed)}" if failed else "no failures"))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
