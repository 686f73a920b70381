"""Says outbox rows in Slack through slack_sdk, and tells the outbox how it went.

Where an answer goes is the row's target (``mode``):

- ``post``: ``chat.postMessage`` into the DM or the mention's thread;
- ``respond``: ephemeral through the request's ``response_url`` (slash commands, the message
  shortcut, "not your list"): it works in channels the bot is not a member of;
- ``replace``: the message a button was under, redrawn in place through ``response_url``;
- ``home``: the App Home tab, re-published with ``views.publish``.

A ``response_url`` lasts 30 minutes and takes five posts; one that is gone (404) falls back to
a DM to the same person, so a reply that waited out an outage still arrives. Slack's answers
map onto outcomes: 429 is retried after its ``Retry-After``, 5xx and connection trouble after a
backoff (slack_sdk's own retry handlers try once more at once first); errors such as
``channel_not_found``, ``is_archived`` or ``account_inactive`` are refusals, never retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot_core.outbox import OutboxItem, Refused, RetryLater, SendOutcome, Sent
from bot_core.reply import ReplyFile
from handlers.slack.render import SlackMessage, render_home, render_reply, render_single
from handlers.slack.workspaces import ClientFor, NotInstalled

log = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT_SECONDS = 10
TRANSIENT_ERRORS = frozenset({
    "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
    "team_added_to_org",
})
"""Slack error codes worth another try; every other ``ok: false`` is a refusal."""
GONE_STATUSES = frozenset({404, 410})


def retry_handlers() -> list[Any]:
    """slack_sdk's handlers for one immediate retry of a dropped connection or a 5xx."""
    return [ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1)]


class _Failed(Exception):
    def __init__(self, outcome: SendOutcome) -> None:
        super().__init__(type(outcome).__name__)
        self.outcome = outcome


class _Gone(Exception):
    """The response_url no longer takes messages."""


class SlackReplySender:
    """The outbox's Slack sender; ``client_for`` gives the Web API client of a workspace."""

    def __init__(self, client_for: ClientFor) -> None:
        self._client_for = client_for

    def send(self, item: OutboxItem) -> SendOutcome:
        """Deliver what is left of ``item``."""
        target = json.loads(item.target)
        mode = target.get("mode")
        owner = str(target.get("user") or "")
        done = item.progress
        clients: list[WebClient] = []

        def client() -> WebClient:
            """The workspace's client, looked up (and its token refreshed) only when a call
            needs a token: a response_url needs none."""
            if not clients:
                clients.append(self._client_for(item.workspace, target.get("team"),
                                                bool(target.get("org"))))
            return clients[0]

        try:
            if mode == "home":
                client().views_publish(user_id=owner, view=render_home(item.reply, owner))
                return Sent()
            if mode == "replace":
                messages = [render_single(item.reply, owner)]
            else:
                messages = render_reply(item.reply, owner)
            # Files first (/export, step 0), so the words "here is your data" never come
            # without them; then the messages.
            offset = 1 if item.reply.files else 0
            if offset and done < 1:
                _upload(client(), item.reply.files, target, mode, owner)
                done = 1
            for index, message in enumerate(messages):
                if index + offset < done:
                    continue
                self._send_one(client, target, mode, owner, message)
                done = index + offset + 1
        except NotInstalled:
            log.info("a Slack reply for a workspace without the app was dropped")
            return Refused("app not installed")
        except _Failed as failed:
            outcome = failed.outcome
            if isinstance(outcome, RetryLater):
                return RetryLater(outcome.reason, outcome.after_seconds, progress=done)
            return outcome
        except SlackApiError as error:
            return _api_outcome(error, done)
        except OSError as error:  # connection refused, reset, timed out (after the retries)
            return RetryLater(f"connection: {type(error).__name__}", progress=done)
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        """Slack has no typing indicator for apps in these surfaces."""
        yield

    def _send_one(self, client: Callable[[], WebClient], target: dict[str, Any], mode: Any,
                  owner: str, message: SlackMessage) -> None:
        if mode == "post":
            client().chat_postMessage(channel=str(target.get("channel")),
                                    thread_ts=target.get("thread_ts"), text=message.text,
                                    blocks=message.blocks or None)
            return
        try:
            _respond(str(target.get("response_url") or ""), message,
                     replace_original=mode == "replace")
        except _Gone:
            log.info("response_url expired; answering in a DM instead")
            client().chat_postMessage(channel=owner, text=message.text,
                                    blocks=message.blocks or None)


def _upload(client: WebClient, files: tuple[ReplyFile, ...], target: dict[str, Any], mode: Any,
            owner: str) -> None:
    """The reply's files (``/export``) in one ``files_upload_v2``: into the DM the answer
    went to, else (a slash command, a button) into the person's DM with the app, opened
    with ``conversations.open`` (scope ``im:write``), never into a shared channel."""
    if mode == "post":
        channel, thread = str(target.get("channel")), target.get("thread_ts")
    else:
        opened = client.conversations_open(users=owner)
        channel, thread = str((opened.get("channel") or {}).get("id") or ""), None
        if not channel:
            raise _Failed(Refused("conversations.open gave no channel"))
    client.files_upload_v2(
        channel=channel, thread_ts=thread,
        file_uploads=[{"content": f.content.encode(), "filename": f.name, "title": f.name}
                      for f in files])


def _respond(url: str, message: SlackMessage, *, replace_original: bool) -> None:
    """One post to a response_url; raises :class:`_Gone` or :class:`_Failed`."""
    if not url:
        raise _Gone()
    webhook = WebhookClient(url, timeout=RESPONSE_URL_TIMEOUT_SECONDS,
                            retry_handlers=retry_handlers())
    if replace_original:
        response = webhook.send(text=message.text, blocks=message.blocks or None,
                                replace_original=True)
    else:
        response = webhook.send(text=message.text, blocks=message.blocks or None,
                                response_type="ephemeral", replace_original=False)
    status = response.status_code
    if status == 200:
        return
    if status in GONE_STATUSES:
        raise _Gone()
    if status == 429:
        raise _Failed(RetryLater("429 from response_url", _retry_after(response.headers)))
    if status >= 500:
        raise _Failed(RetryLater(f"response_url answered {status}"))
    raise _Failed(Refused(f"response_url answered {status}: {str(response.body)[:80]}"))


GONE_ERRORS = frozenset({
    "channel_not_found", "is_archived", "account_inactive", "user_not_found", "user_disabled",
    "not_in_channel", "cannot_dm_bot", "messages_tab_disabled", "team_not_found",
})
"""Web API errors that mean the chat will not take a message again (the person left, the
channel was archived): reminders and the digest into it stop."""


def _api_outcome(error: SlackApiError, progress: int) -> SendOutcome:
    response = error.response
    code = str(response.get("error") or "")
    status = int(response.status_code or 0)
    if status == 429 or code == "ratelimited":
        return RetryLater("429 rate limited", _retry_after(response.headers), progress=progress)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return RetryLater(f"{status} {code}".strip(), progress=progress)
    return Refused(code or f"HTTP {status}", gone=code in GONE_ERRORS)


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return float(str(raw))
            except ValueError:
                return None
    return None
