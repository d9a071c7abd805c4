"""The fast subset of the interop suites (interop/): real clients' own test suites and real applications
against a private amqpd. A test here fails on any failure that is neither a RabbitMQ 3.10 baseline failure
(interop/baseline/) nor a recorded amqpd deviation (interop/known/), when a suite cannot be downloaded,
or when the broker cannot be reached -- never a silent skip.

The runners need the pinned client libraries of interop/requirements.txt. When this interpreter does not
have them, a venv with them is built once under ~/.cache/amqpd-interop (keyed by the requirements) and
the runners run there, while amqpd itself runs with this interpreter (AMQPD_PYTHON).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INTEROP = REPO / "interop"
REQUIREMENTS = INTEROP / "requirements.txt"
CACHE = Path(os.environ.get("INTEROP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
             / "amqpd-interop")
SUITES = ["aiormq", "aio-pika", "celery", "kombu", "pika", "amqpstorm"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, ver = line.split("==")
            pins[name.strip()] = ver.strip()
    return pins


def _has_pins(python: str) -> bool:
    code = ("import sys\nfrom importlib.metadata import version\n"
            f"pins = {_pins()!r}\n"
            "try:\n    ok = all(version(k) == v for k, v in pins.items())\nexcept Exception:\n    ok = False\n"
            "sys.exit(0 if ok else 1)")
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def interop_python() -> str:
    if _has_pins(sys.executable):
        return sys.executable
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    env_dir = CACHE / f"venv-{key}"
    python = str(env_dir / "bin" / "python")
    if not (Path(python).exists() and _has_pins(python)):
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        proc = subprocess.run([python, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"could not install the interop requirements into {env_dir}:\n"
                        f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}", pytrace=False)
    return python


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suite", SUITES)
def test_interop_fast(suite, interop_python, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("AMQP_URL", "PYTHONPATH")}
    env.update(AMQPD_PYTHON=sys.executable, INTEROP_RESULTS=str(tmp_path))
    script = INTEROP / f"run_{suite.replace('-', '_')}.py"
    proc = subprocess.run([interop_python, str(script), "--fast"], capture_output=True, text=True, env=env,
                          timeout=570)
    lines = proc.stdout.strip().splitlines()
    closing = lines[-1] if lines else ""
    assert closing.startswith(f"{suite}: "), f"no closing line from {script.name}:\n{proc.stdout[-5000:]}" \
                                             f"\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{closing}\n" + "\n".join(
        ln for ln in lines if not ln.startswith(("PASSED", "SKIPPED")))[-8000:]
    print(closing)
