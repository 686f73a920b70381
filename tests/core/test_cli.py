"""The ``todobot`` console script, run as a user would: migrate, then chat on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _todobot(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args], input=stdin, text=True,
        capture_output=True, cwd=cwd, env={**env, "PYTHONPATH": str(Path.cwd())}, timeout=60,
        check=False,
    )


def test_migrate_then_chat_offline_on_the_default_sqlite_file(tmp_path: Path) -> None:
    migrated = _todobot("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "todobot.db").exists()
    chat = _todobot("chat", "--user", "tester", cwd=tmp_path,
                    stdin="add buy milk\n/list\ndone 1\nwhat's pending?\n")
    assert chat.returncode == 0, chat.stderr
    out = chat.stdout
    assert "offline rules" in out
    assert "Added #1: buy milk" in out
    assert "☐ #1 buy milk" in out
    assert "Done: #1 buy milk" in out
    assert "Nothing open" in out
