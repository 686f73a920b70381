"""``make offline`` without a queue (no ``TODOBOT_OFFLINE_QUEUE_URL``): the functions get no
``TODOBOT_QUEUE_URL``, so a webhook runs the whole turn through the in-process queue and
answers after the reply was sent, as outside Lambda. Configured by the environment alone (no
SSM), as a developer's shell would: the suite's second ``osls offline`` process, on the same
database and fakes as the first."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode

import pytest

from tests.conftest import count
from tests.fakes.slack_oauth import FakeWorkspace
from tests.offline.conftest import (
    TELEGRAM_SECRET,
    Database,
    Fakes,
    Stacks,
    empty_tables,
    reset_fakes,
)
from tests.offline.stack import OfflineStack
from tests.offline.test_offline_slack import FORM, send, slash_command
from tests.offline.test_offline_telegram import SECRET_HEADER, command
from tests.slack.oauth_harness import STATE_COOKIE, Page, consent

GRID_WORKSPACE = FakeWorkspace("T111", "Test", enterprise_id="E111", enterprise_name="Org Name")
"""The workspace of Bolt's slash-command fixture (in an Enterprise Grid org)."""


@pytest.fixture
def clean(stacks: Stacks, database: Database, fakes: Fakes) -> OfflineStack:
    """The no-queue stack, empty tables, fresh fakes."""
    empty_tables(database.engine)
    reset_fakes(fakes)
    return stacks.no_queue


def test_the_telegram_webhook_answers_after_the_reply(clean: OfflineStack, database: Database,
                                                      fakes: Fakes) -> None:
    update = command("/add buy milk")

    reply = clean.post("/telegram/webhook", json.dumps(update).encode(),
                       {"Content-Type": "application/json", SECRET_HEADER: TELEGRAM_SECRET})

    assert reply.status == 200, clean.log_tail()
    # Already sent when the webhook answered: no queue, no worker.
    (sent,) = fakes.telegram.calls_to("sendMessage")
    assert sent["text"] == "Added #1: buy milk"
    assert sent.at < reply.answered_at
    assert count(database.engine, "tasks", "title = 'buy milk'") == 1
    assert count(database.engine, "outbox", "sent_at IS NOT NULL") == 1
    assert "(λ: worker)" not in clean.log()
    assert "Offline SQS" not in clean.log()  # serverless-offline-sqs not even loaded


def _get(stack: OfflineStack, path: str, cookie: str | None = None) -> Page:
    """A browser's GET through serverless-offline's HTTP API (no redirect followed)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        body = response.read().decode()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    return Page(response.status, body, headers)


def test_a_workspace_installs_the_app_then_its_slash_command_is_answered_before_the_ack(
        clean: OfflineStack, database: Database, fakes: Fakes) -> None:
    """The OAuth flow through serverless-offline's HTTP API emulation (payload 2.0: the query
    and the cookie as API Gateway passes them), then the workspace's own token at work."""
    fakes.slack.installs.redirect_url = f"{clean.url}/slack/oauth_redirect"
    fakes.slack.installs.add(GRID_WORKSPACE)
    page = _get(clean, "/slack/install")
    assert page.status == 200, clean.log_tail()
    state = page.state_cookie()
    status, query = consent(page.authorize_url())
    assert status == 302 and query["state"] == state
    done = _get(clean, f"/slack/oauth_redirect?{urlencode(query)}", f"{STATE_COOKIE}={state}")
    assert done.status == 200 and "Todobot is in Org Name" not in done.html
    assert "Todobot is in Test" in done.html, done.html[:300]
    assert count(database.engine, "slack_bots", "team_id = 'T111'") == 1
    hook = fakes.slack.hook_url()

    reply = send(clean, slash_command(hook, "add buy bread"), FORM)

    assert reply.status == 200, clean.log_tail()
    assert [post.message["text"] for post in fakes.slack.hook_posts] == ["Added #1: buy bread"]
    (token,) = fakes.slack.installs.live_tokens("T111")
    assert [call.token for call in fakes.slack.calls_to("auth.test")] == [token, token]
