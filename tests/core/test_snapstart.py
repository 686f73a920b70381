"""SnapStart's hooks: registered once through AWS's snapshot_restore_py when the runtime has
it; before the snapshot the pooled connections are closed, after a restore randomness is
reseeded and connections are made anew."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.settings import Settings
from handlers.aws import snapstart
from handlers.composition import Root


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[Callable[..., Any],
                                                                            tuple[Any, ...]]]]:
    """A stand-in for the Lambda runtime's snapshot_restore_py, recording registrations."""
    hooks: dict[str, list[tuple[Callable[..., Any], tuple[Any, ...]]]] = {
        "before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = (  # type: ignore[attr-defined]
        lambda func, *args: hooks["before"].append((func, args)))
    module.register_after_restore = (  # type: ignore[attr-defined]
        lambda func, *args: hooks["after"].append((func, args)))
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setattr(snapstart, "_registered", False)
    return hooks


def test_hooks_are_registered_once_and_do_their_job(
        runtime_hooks: dict[str, list[tuple[Callable[..., Any], tuple[Any, ...]]]],
        db_url: str, engine: Engine) -> None:
    root = Root(Settings(database_url=db_url))  # its own engine, so the pool is its own
    assert snapstart.register(lambda: root)
    assert snapstart.register(lambda: root)  # a second function module: no second hooks
    assert [len(v) for v in runtime_hooks.values()] == [1, 1]

    with root.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert root.engine.pool.checkedin() >= 1
    (before, args), = runtime_hooks["before"]
    before(*args)
    assert root.engine.pool.checkedin() == 0  # nothing open goes into the snapshot

    random.seed(1234)
    cloned = random.random()
    random.seed(1234)
    (after, args), = runtime_hooks["after"]
    after(*args)
    assert random.random() != cloned  # every restored copy draws its own numbers
    with root.engine.connect() as conn:  # and connects anew
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    root.close()


def test_without_the_runtime_library_nothing_is_registered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    monkeypatch.setattr(snapstart, "_registered", False)
    assert snapstart.register(lambda: None) is False  # type: ignore[arg-type, return-value]
