"""Reading a config file (TOML) into validated plain data."""

from __future__ import annotations

import tomllib
from pathlib import Path

from intentedge import ConfigError, Problem, compile_bundle, to_payload


def load_config(path: Path) -> dict:
    """The file's config as the edge reads it, or ConfigError naming the file, the item and the reason."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, [Problem("file", "does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [Problem("file", f"cannot be read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem("TOML", str(exc))]) from None
    compile_bundle(data, source=source)
    return to_payload(data)
