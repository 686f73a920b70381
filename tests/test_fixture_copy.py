"""The vendored fixtures are the shared ones, byte for byte (when the shared folder is there)."""

from __future__ import annotations

import filecmp

import pytest

from tests.conftest import FIXTURES, SHARED_FIXTURES


def test_vendored_fixtures_match_the_shared_ones() -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("no ../shared/fixtures beside this clone; the vendored copy is used as is")
    for platform in ("telegram", "slack"):
        shared = sorted(p.name for p in (SHARED_FIXTURES / platform).iterdir())
        vendored = sorted(p.name for p in (FIXTURES / platform).iterdir())
        assert vendored == shared, platform
        _, mismatch, errors = filecmp.cmpfiles(SHARED_FIXTURES / platform, FIXTURES / platform,
                                               shared, shallow=False)
        assert mismatch == [] and errors == [], (platform, mismatch, errors)
