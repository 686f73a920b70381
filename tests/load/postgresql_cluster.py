"""Restarting this machine's PostgreSQL (the Debian cluster the tests use), for fault tests.

The cluster is ours: the tests' server on 127.0.0.1:5432. A test that restarts it must leave it
running whatever happens, so :func:`ensure_running` belongs in a ``finally``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

HOST, PORT = "127.0.0.1", "5432"
READY_TIMEOUT_SECONDS = 60


def controllable() -> bool:
    """True where the cluster can be restarted from here (Debian's pg_ctlcluster, root)."""
    return (shutil.which("pg_ctlcluster") is not None and shutil.which("pg_isready") is not None
            and Path("/etc/postgresql").is_dir() and os.geteuid() == 0)


def _cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", HOST, "-p", PORT],
                          check=False).returncode == 0


def wait_ready() -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("PostgreSQL did not come back")
        time.sleep(0.1)


def restart(mode: str) -> None:
    """``pg_ctlcluster … restart`` in ``mode`` (fast: connections terminated, a clean
    checkpoint; immediate: as after a crash, recovery from the WAL on start), then wait until
    it accepts connections again."""
    subprocess.run([*_cluster(), "restart", "-m", mode], check=True, timeout=120,
                   capture_output=True)
    wait_ready()


def ensure_running() -> None:
    """Start the cluster if it is not accepting connections (a failed restart)."""
    if ready():
        return
    subprocess.run([*_cluster(), "start"], check=False, timeout=120, capture_output=True)
    wait_ready()
