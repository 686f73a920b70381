"""Load and fault tests reuse the platform test kits as they are: the Telegram bot fixtures
(fake Bot API, handler() on a test database) and the Slack harness (fake Web API, signed
requests, fake Lambda for the lazy path). Imported here so that pytest offers them in this
folder too."""

from __future__ import annotations

from tests.slack.conftest import (  # noqa: F401 - fixtures
    _session_lambda,
    _session_slack,
    fake_lambda,
    fake_slack,
    reset_slack,
    slack,
)
from tests.telegram.conftest import telegram_api, tg, tg_any_db  # noqa: F401 - fixtures
