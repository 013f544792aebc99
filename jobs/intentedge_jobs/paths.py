"""Where the repository's own files are: the one place that knows the checkout's layout."""

from pathlib import Path

# jobs/intentedge_jobs/paths.py -> the checkout
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo"
BUILD = ROOT / "build"
