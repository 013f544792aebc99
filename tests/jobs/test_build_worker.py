"""The staged Worker tree holds exactly what the edge runs, and nothing from tests, jobs or venvs."""

import ast
from pathlib import Path

from intentedge_jobs.build_worker import build

ROOT = Path(__file__).resolve().parents[2]


def test_stage_holds_worker_core_and_pure_msgpack(tmp_path):
    out = build(tmp_path / "worker")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    worker = sorted(p.name for p in (ROOT / "worker").glob("*.py"))
    core = sorted(str(p.relative_to(ROOT / "core")) for p in (ROOT / "core" / "intentedge").rglob("*.py"))
    msgpack = ["msgpack/__init__.py", "msgpack/exceptions.py", "msgpack/ext.py", "msgpack/fallback.py"]
    assert files == sorted(worker + core + msgpack)
    assert (out / "entry.py").read_text() == (ROOT / "worker" / "entry.py").read_text()


def test_core_never_imports_the_js_runtime():
    for module in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] in ("js", "pyodide") for name in names), module
