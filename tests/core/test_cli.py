"""The ``todobot`` console script, run as a user would: migrate, then chat on stdin."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path


def _todobot(*args: str, cwd: Path, stdin: str = "", unset: tuple[str, ...] = ()
             ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "DATABASE_URL")) and k not in unset}
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


def test_export_in_the_terminal_saves_the_files_where_it_runs(tmp_path: Path) -> None:
    import csv
    import json

    assert _todobot("migrate", cwd=tmp_path).returncode == 0
    chat = _todobot("chat", "--user", "tester", cwd=tmp_path,
                    stdin="add buy milk tomorrow at 5pm\nadd call mom\n/export all\n")
    assert chat.returncode == 0, chat.stderr
    assert "Here is your data: 2 task(s) and 4 message(s)" in chat.stdout
    data = json.loads((tmp_path / "todobot-export.json").read_text())
    assert [t["title"] for t in data["tasks"]] == ["buy milk", "call mom"]
    assert data["tasks"][0]["due_date"].startswith("20")
    rows = list(csv.DictReader((tmp_path / "todobot-tasks.csv").open()))
    assert [r["number"] for r in rows] == ["1", "2"]
    assert f"saved {tmp_path / 'todobot-tasks.csv'}" in chat.stdout


def test_lines_piped_in_a_burst_are_all_answered(tmp_path: Path) -> None:
    """The per-minute limit guards a public bot; at one's own terminal it would drop lines."""
    assert _todobot("migrate", cwd=tmp_path).returncode == 0
    lines = "".join(f"/add item {i}\n" for i in range(1, 41))
    chat = _todobot("chat", "--user", "tester", cwd=tmp_path, stdin=lines,
                    unset=("MESSAGES_PER_MINUTE_PER_USER",))
    assert chat.returncode == 0, chat.stderr
    assert "Added #40: item 40" in chat.stdout and "faster than" not in chat.stdout


def test_scheduler_run_prints_its_counts(tmp_path: Path) -> None:
    assert _todobot("migrate", cwd=tmp_path).returncode == 0
    run = _todobot("scheduler", "run", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Sweep done: 0 replies retried (0 still unsent), 0 reminders "
                                 "and 0 digests due, 0 stale dropped"), run.stdout


def test_the_running_chat_prints_a_reminder_that_falls_due(tmp_path: Path) -> None:
    """A real ``todobot chat`` process with its real clock and 2-second tick: a task made in
    the chat reminds in the chat, above the waiting prompt, once."""
    assert _todobot("migrate", cwd=tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "DATABASE_URL"))}
    chat = subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "chat", "--user", "tester"], cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path.cwd())}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    assert chat.stdin is not None and chat.stdout is not None
    out: list[str] = []
    stdout = chat.stdout

    def read() -> None:  # the prompt has no newline: read what comes, as it comes
        while piece := stdout.read(1):
            out.append(piece)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def wait_for(text_: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text_ not in "".join(out):
            assert chat.poll() is None, "".join(out)
            assert time.monotonic() < deadline, f"no {text_!r} in {''.join(out)!r}"
            time.sleep(0.02)

    try:
        chat.stdin.write("remind me to stretch in 2 hours\n")
        chat.stdin.flush()
        wait_for("Added #1: stretch")
        with sqlite3.connect(tmp_path / "todobot.db") as db:  # as if two hours had passed
            db.execute("UPDATE tasks SET remind_at = '2000-01-01 00:00:00.000000'")
        wait_for("⏰ Reminder: #1 stretch", timeout=15)
        wait_for("[delete 1]\nyou> ")
        chat.stdin.close()  # Ctrl-D
        assert chat.wait(30) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
    reader.join(10)
    assert "".join(out).count("⏰ Reminder: #1 stretch") == 1
