"""Fixtures for the deployment tests: moto's SSM on 127.0.0.1 and a restorable environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from handlers.aws import secrets


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server (SSM, KMS, ...) on an ephemeral loopback port for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def environ() -> Iterator[os._Environ[str]]:
    """``os.environ``, put back exactly as it was afterwards (the loader adds variables), with
    the secrets loader forgotten before and after."""
    saved = dict(os.environ)
    secrets.reset()
    try:
        yield os.environ
    finally:
        os.environ.clear()
        os.environ.update(saved)
        secrets.reset()
