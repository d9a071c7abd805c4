"""Fetch a pinned sdist from PyPI with pip (hash-checked), cache it, and unpack it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("INTEROP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "amqpd-interop")


class SuiteUnavailable(RuntimeError):
    """The pinned suite could not be downloaded or does not contain what the runner needs."""


def download_sdist(project: str, version: str, sha256: str) -> Path:
    """The sdist file of project==version; downloads it with pip unless a verified copy is cached."""
    dest = CACHE / "sdists"
    dest.mkdir(parents=True, exist_ok=True)
    norm = project.replace("-", "_").lower()
    cached = dest / f"{norm}-{version}.tar.gz"
    if cached.exists() and _sha256(cached) == sha256:
        return cached
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "req.txt"
        req.write_text(f"{project}=={version} --hash=sha256:{sha256}\n")
        # --no-binary for this project only: its build dependencies may still come as wheels, and pip
        # stops after preparing metadata (the sdist itself is not built).
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", project, "--require-hashes",
               "-r", str(req), "-d", tmp, "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        files = [p for p in Path(tmp).iterdir() if p.name.endswith(".tar.gz")]
        if proc.returncode != 0 or not files:
            raise SuiteUnavailable(f"could not download the {project}=={version} sdist from the package index "
                                   f"(pip exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
        files[0].replace(cached)
    if _sha256(cached) != sha256:
        raise SuiteUnavailable(f"{cached}: sha256 mismatch")
    return cached


def unpack(sdist: Path, into: Path) -> Path:
    """Unpacks into `into` (fresh each run) and returns the sdist's top directory."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tf:
        tf.extractall(into, filter="data")
        top = {m.name.split("/")[0] for m in tf.getmembers()}
    if len(top) != 1:
        raise SuiteUnavailable(f"{sdist.name}: unexpected layout {sorted(top)}")
    return into / top.pop()


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
