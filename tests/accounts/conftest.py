"""Both apps on one database: the Telegram webhook and the Slack app side by side, as one
person uses them (the fixtures of tests/telegram and tests/slack, sharing ``db_url``)."""

from tests.slack.conftest import _session_slack, fake_slack, slack  # noqa: F401
from tests.telegram.conftest import telegram_api, tg_any_db  # noqa: F401
