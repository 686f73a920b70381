"""Benchmarks: scripts that print ratios measured in one run (``python -m tests.bench``).

They send one chat's messages far faster than a person would, so the per-minute rate limit is
off for them unless the environment sets it."""

import os

os.environ.setdefault("MESSAGES_PER_MINUTE_PER_USER", "0")
