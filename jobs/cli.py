"""The `intentedge` command: validate and publish configs for the edge.

Jobs raise; only `main` turns errors into exit codes (1 failure, 2 usage) and one
`Error: ...` line per problem on stderr.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from intentedge import ConfigError, __version__
from intentedge.bundles import publication

from intentedge.session import COOKIE_NAME, SessionKeyError

from . import cookies
from .configfile import load_config
from .wranglerkv import WranglerKV, WranglerError, find_project

PRODUCER = f"intentedge-cli/{__version__}"

_config_files = click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))


class ConfigProblems(click.ClickException):
    """Every problem of every file, one line each."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__(f"{sum(len(e.problems) for e in errors)} problem(s) in {len(errors)} file(s)")

    def show(self, file=None) -> None:
        for error in self.errors:
            for problem in error.problems:
                click.echo(f"Error: {error.source}: {problem}", err=True)
        click.echo(f"Error: {self.message}", err=True)


@click.group()
@click.version_option(__version__, prog_name="intentedge")
def cli() -> None:
    """Backend jobs for intentedge: validate and publish the config bundle the Worker reads."""


@cli.command()
@_config_files
def validate(files: tuple[Path, ...]) -> None:
    """Check config files; print every problem with its file, item and reason."""
    _load_all(files)
    for path in files:
        click.echo(f"{path}: ok")


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--local", "target", flag_value="local", help="Write to the local KV that `wrangler dev` reads.")
@click.option("--remote", "target", flag_value="remote",
              help="Write to the namespace of wrangler.toml in your Cloudflare account, through wrangler.")
@click.option("--persist-to", type=click.Path(path_type=Path, file_okay=False),
              help="wrangler's local state folder (default: the project's .wrangler/state).")
@click.option("--dry-run", is_flag=True, help="Print the writes without making them.")
def publish(file: Path, target: str | None, persist_to: Path | None, dry_run: bool) -> None:
    """Validate FILE and publish it: the content-addressed bundle, then the pointer."""
    if target is None:
        raise click.UsageError("say where to publish: --local or --remote")
    (config,) = _load_all((file,))
    writes = publication(config, written_at=int(time.time()), producer=PRODUCER)
    kv = WranglerKV(find_project(), persist_to, remote=target == "remote")
    for key, value in writes:
        if dry_run:
            click.echo(f"would write {key} ({len(value)} bytes)")
            continue
        try:
            kv.put(key, value)
        except WranglerError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"wrote {key} ({len(value)} bytes)")


@cli.command()
@click.option("--keys", help="SESSION_KEYS ('id:secret,...'); default: $SESSION_KEYS, then .dev.vars.")
@click.option("--visitor-id", default="demo-visitor-000000001", show_default=True, help="16-32 characters.")
@click.option("--idle", default=5, show_default=True, help="Seconds since the previous page (over 1800: a new session).")
@click.option("--pages", default=1, show_default=True, help="Pages viewed this session so far.")
@click.option("--visits", default=1, show_default=True, help="Sessions so far, this one included.")
@click.option("--stage", default="browse", show_default=True, help="Furthest funnel stage: a name or an index.")
@click.option("--cart", "cart_value", default=0.0, show_default=True, help="Cart value.")
@click.option("--items", "cart_items", default=0, show_default=True, help="Items in the cart.")
@click.option("--category", "categories", multiple=True, help="A recently viewed category (repeatable).")
@click.option("--product", "products", multiple=True, help="A recently viewed product id (repeatable).")
@click.option("--searches", default=0, show_default=True, help="Searches this session.")
@click.option("--purchases", default=0, show_default=True, help="Purchases seen at the edge.")
def cookie(keys: str | None, visitor_id: str, idle: int, stage: str, **signals) -> None:
    """Print a signed session cookie (`pz=...`) for a made-up visitor, for curl or a browser."""
    if not 16 <= len(visitor_id) <= 32:
        raise click.BadParameter("must be 16-32 characters", param_hint="--visitor-id")
    try:
        session_keys = cookies.session_keys(keys, find_project())
        value = cookies.mint(session_keys, now=time.time(), visitor_id=visitor_id, idle=idle,
                             stage=cookies.stage_index(stage), **signals)
    except (SessionKeyError, ValueError, WranglerError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{COOKIE_NAME}={value}")


def _load_all(files: tuple[Path, ...]) -> list[dict]:
    configs, errors = [], []
    for path in files:
        try:
            configs.append(load_config(path))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigProblems(errors)
    return configs


def main() -> None:
    cli(prog_name="intentedge")


if __name__ == "__main__":
    main()
