"""The process's one event loop, for the async HTTP clients (python-telegram-bot's httpx).

Why a loop on its own thread rather than ``asyncio.run`` per call: an httpx client belongs to
the loop it first ran on, and ``asyncio.run`` closes its loop, so a client kept for the next
(warm) Lambda invocation would fail with "Event loop is closed". One long-lived loop, started on
first use, serves every invocation of a container, and every thread of the local server; the
database work stays synchronous on the calling thread. Lambda freezes the thread with the rest
of the process between invocations; nothing runs on it then.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def container_loop() -> asyncio.AbstractEventLoop:
    """The running loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="todobot-loop", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the container loop and wait for its result (from any other thread)."""
    loop = container_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run() called from the container loop itself; await instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def start(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Start ``coro`` on the container loop without waiting (cancel the future to stop it)."""
    return asyncio.run_coroutine_threadsafe(coro, container_loop())
