"""Reading a config file (TOML): compiled once, and the payload `publish` writes to KV.

Every job that takes `--config` reads it here and gets the compiled `Bundle`, the same the edge
compiles from the payload, so no job interprets the TOML on its own.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from intentedge import Bundle, ConfigError, Problem, compile_bundle, to_payload


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    bundle: Bundle     # compiled once, strictly: a file with any problem raises ConfigError
    payload: dict      # the config as the edge reads it (what `publish` writes)


def read_config_file(path: Path) -> ConfigFile:
    """The file compiled, or ConfigError naming the file, the item and the reason."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, [Problem("file", "does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [Problem("file", f"cannot be read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("TOML", str(exc))]) from None
    return ConfigFile(path, compile_bundle(data, source=source), to_payload(data))


def load_config(path: Path) -> dict:
    """The file's config as the edge reads it (the payload of read_config_file)."""
    return read_config_file(path).payload
