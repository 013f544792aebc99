"""The `intentedge` command: validate and publish configs for the edge, and the jobs around them.

Each subcommand lives in its own module and is registered here (`cli.add_command`).

Jobs raise; only `main` turns errors into exit codes (1 failure, 2 usage) and one
`Error: ...` line per problem on stderr.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from intentedge import ConfigError, __version__

from intentedge.contract import PROFILE_PREFIX
from intentedge import mint_token, preview_url
from intentedge import COOKIE_NAME, SessionKeyError

from . import cookies
from .build_profiles import build_profiles, read_profiles
from .collector import collector_command
from .configfile import ConfigFile, read_config_file
from .inspect_kv import inspect
from .kv.console import Console
from .kv.errors import KVError
from .kv.store import Entry
from .kv.sync import publish_config, sync
from .kv.targets import open_store
from .report import report
from .traffic import traffic_command
from .wrangler import find_project

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
    """Backend jobs for intentedge: validate and publish the config bundle and the profiles the Worker
    reads, and the local tools around it (event collector, synthetic traffic, KPI report)."""


@cli.command()
@_config_files
def validate(files: tuple[Path, ...]) -> None:
    """Check config files; print every problem with its file, item and reason."""
    _read_all(files)
    for path in files:
        click.echo(f"{path}: ok")


@cli.command()
@click.argument("config_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--profiles", "profiles_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A build-profiles output file to publish too.")
@click.option("--local", "target", flag_value="local", help="Write to the local KV that `wrangler dev` reads.")
@click.option("--remote", "target", flag_value="remote",
              help="Write to your account's namespace through Cloudflare's API (CLOUDFLARE_ACCOUNT_ID, "
                   "INTENTEDGE_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN).")
@click.option("--persist-to", type=click.Path(path_type=Path, file_okay=False),
              help="With --local: wrangler's state folder (default: the project's .wrangler/state).")
@click.option("--dry-run", is_flag=True, help="Print what would change without writing.")
def publish(config_file: Path | None, profiles_file: Path | None, target: str | None, persist_to: Path | None,
            dry_run: bool) -> None:
    """Publish a config (CONFIG_FILE, validated first) and/or profiles (--profiles) to KV.

    A config goes in two writes, the content-addressed bundle, then the pointer.
    Keys whose bytes KV already holds are skipped, so a re-run writes nothing.
    """
    if target is None:
        raise click.UsageError("say where to publish: --local or --remote")
    if persist_to is not None and target == "remote":
        raise click.UsageError("--persist-to goes with --local")
    if config_file is None and profiles_file is None:
        raise click.UsageError("give a config file, --profiles FILE, or both")
    config = _read_all((config_file,))[0].payload if config_file is not None else None
    console = Console()
    try:
        store = open_store(target, persist_to=persist_to, on_retry=console.retry)
        if profiles_file is not None:
            entries = [Entry(key, value, expiration_ttl=ttl) for key, value, ttl in read_profiles(profiles_file)]
            sync(store, entries, prefix=PROFILE_PREFIX, dry_run=dry_run, progress=console, label="profiles")
        if config is not None:
            publish_config(store, config, written_at=int(time.time()), producer=PRODUCER, dry_run=dry_run,
                           progress=console)
    except KVError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{profiles_file}: not a build-profiles output ({exc})") from None


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
    except (SessionKeyError, ValueError, KVError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{COOKIE_NAME}={value}")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    """`90s`, `30m`, `2h`, `7d` or plain seconds."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _DURATION_UNITS else (text, "s")
    if not (number.isascii() and number.isdigit()):   # isdigit() alone takes "²" and "١"
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 2h or 1d", param_hint="--ttl")
    return int(number) * _DURATION_UNITS[unit]


@cli.command("preview-token")
@click.option("--keys", help="SESSION_KEYS ('id:secret,...'); default: $SESSION_KEYS, then .dev.vars.")
@click.option("--ttl", default="1h", show_default=True, help="How long it works: 30m, 2h, 1d (at most 7d).")
@click.option("--url", help="Print this page's preview link instead of the bare token.")
@click.option("--tier", help="With --url: force this intent tier.")
@click.option("--rule", help="With --url: force this rule onto its slots.")
@click.option("--set", "overrides", multiple=True, metavar="ATTRIBUTE=VALUE",
              help="With --url: force an attribute, e.g. request.country=DE (repeatable).")
def preview_token(keys: str | None, ttl: str, url: str | None, tier: str | None, rule: str | None,
                  overrides: tuple[str, ...]) -> None:
    """Mint a signed, expiring preview token: with it, ?pz_preview= shows the decision trace
    (X-PZ-Trace header) and pz_tier, pz_rule and pz_set.* force a context."""
    pairs: dict[str, str] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or not name or name in pairs:
            raise click.BadParameter(f"{item!r}: use ATTRIBUTE=VALUE, each attribute once", param_hint="--set")
        pairs[name] = value
    if url is None and (tier or rule or pairs):
        raise click.UsageError("--tier, --rule and --set go into a link: add --url")
    try:
        token = mint_token(cookies.session_keys(keys, find_project()), now=time.time(), ttl=_seconds(ttl))
    except (SessionKeyError, ValueError, KVError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(preview_url(url, token, tier=tier, rule=rule, overrides=pairs) if url else token)


cli.add_command(build_profiles)
cli.add_command(collector_command)
cli.add_command(inspect)
cli.add_command(report)
cli.add_command(traffic_command)


def _read_all(files: tuple[Path, ...]) -> list[ConfigFile]:
    """Every file compiled, or ConfigProblems with every problem of every file."""
    configs, errors = [], []
    for path in files:
        try:
            configs.append(read_config_file(path))
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigProblems(errors)
    return configs


def main() -> None:
    cli(prog_name="intentedge")


if __name__ == "__main__":
    main()
