"""Slack: the Bolt app (``handlers.slack.handler``: ``POST /slack/events``), payload
translation, rendering and sending."""

from handlers.lazy_entry import lazy_handler

__getattr__ = lazy_handler(__name__, "handlers.slack.function")
