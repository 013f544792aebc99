"""Stage the Worker's upload tree: worker/ + core/ (as `intentedge`) + msgpack's pure-Python modules.

wrangler 3.68 uploads every .py under the directory of `main`, so `main` lives in
this staged folder rather than next to tests, virtualenvs or node_modules. Run by
wrangler's [build] command before every `wrangler dev` and `wrangler deploy`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import msgpack

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "worker"
# The modules of msgpack that run without its C extension (msgpack falls back to them).
MSGPACK_MODULES = ("__init__.py", "exceptions.py", "ext.py", "fallback.py")


def build(out: Path = OUT, source: Path = ROOT) -> Path:
    """Stage `source`'s worker/ and core/ (another checkout's, for bench/ab.py) in `out`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for module in sorted((source / "worker").glob("*.py")):
        shutil.copy2(module, out / module.name)
    shutil.copytree(source / "core", out / "intentedge", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    msgpack_dir = Path(msgpack.__file__).parent
    (out / "msgpack").mkdir()
    for name in MSGPACK_MODULES:
        shutil.copy2(msgpack_dir / name, out / "msgpack" / name)
    return out


def main() -> None:
    out = build()
    count = sum(1 for _ in out.rglob("*.py"))
    print(f"intentedge: staged {count} Python modules in {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
