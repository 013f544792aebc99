"""The Debian programs the benchmarks drive (nginx, wrk), installed with apt-get when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def ensure_debian(program: str, package: str | None = None) -> str:
    """The path of `program`, installing its Debian package with apt-get when it is missing."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return found
    package = package or program
    print(f"{program} is missing: apt-get install -y {package}", file=sys.stderr)
    apt = ["apt-get"] if is_root() else ["sudo", "-n", "apt-get"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (apt + ["update"], apt + ["install", "-y", package]):
        subprocess.run(command, check=False, env=env, stdout=subprocess.DEVNULL, timeout=600)
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found is None:
        raise SystemExit(f"{program} is not installed and apt-get could not install {package}")
    return found


def is_root() -> bool:
    return os.geteuid() == 0
