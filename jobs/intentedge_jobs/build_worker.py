"""Stage the Worker's upload tree: worker/ + core/intentedge/ + msgpack's pure-Python modules.

wrangler 3.68 uploads every .py under the directory of `main`, so `main` lives in
this staged folder rather than next to tests, virtualenvs or node_modules. Run by
wrangler's [build] command before every `wrangler dev` and `wrangler deploy`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import msgpack

from .paths import BUILD, ROOT

OUT = BUILD / "worker"
# The modules of msgpack that run without its C extension (msgpack falls back to them).
MSGPACK_MODULES = ("__init__.py", "exceptions.py", "ext.py", "fallback.py")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def build(out: Path = OUT, source: Path = ROOT) -> Path:
    """Stage `source`'s worker/ and core/intentedge/ in `out` (another checkout's for bench/ab.py;
    a checkout from before core/intentedge/ existed keeps the package's modules in core/ itself)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for module in sorted((source / "worker").glob("*.py")):
        shutil.copy2(module, out / module.name)
    package = source / "core" / "intentedge"
    shutil.copytree(package if package.is_dir() else source / "core", out / "intentedge", ignore=_SKIP)
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
