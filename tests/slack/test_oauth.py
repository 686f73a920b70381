"""Any workspace through OAuth, on the Lambda handler: the install flow, each workspace answered
with its own token, the state's security, uninstall and re-install, token rotation before a
reminder, Enterprise Grid org-wide installs. The fake Slack checks every call's token
(tests/fakes/slack_oauth.py)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from tests.conftest import count
from tests.fakes.clock import SetClock
from tests.fakes.slack_oauth import BOT_SCOPES, FakeWorkspace
from tests.slack.harness import SlackHarness
from tests.slack.oauth_harness import (
    REDIRECT_URL,
    STATE_COOKIE,
    consent,
    dm,
    get,
    install,
    uninstalled,
)

ACME = FakeWorkspace("T0ACME", "Acme", bot_user_id="UACMEBOT", bot_id="BACME")
BETA = FakeWorkspace("T0BETA", "Beta <&> Co", bot_user_id="UBETABOT", bot_id="BBETA")
GRID = FakeWorkspace("T0GRIDA", "Grid A", enterprise_id="E0GRID", enterprise_name="Gridco",
                     org_install=True, bot_user_id="UGRIDBOT", bot_id="BGRID")
INSTALL_TABLES = ("slack_installations", "slack_bots")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def rows(engine: Engine) -> dict[str, int]:
    return {table: count(engine, table)
            for table in (*INSTALL_TABLES, "slack_oauth_states", "users", "tasks", "outbox")}


def posts_to(harness: SlackHarness, key: str) -> list[Any]:
    """The messages Slack accepted with a token of workspace ``key``."""
    return [call for call in harness.fake.accepted("chat.postMessage")
            if harness.fake.installs.team_of(call.token) == key]


def said(call: Any) -> str:
    """A message's text and its blocks' (a list's items are in its blocks)."""
    return str(call.params.get("text") or "") + json.dumps(call.params.get("blocks") or [])


# -- the flow ---------------------------------------------------------------------------------


def test_the_install_flow_end_to_end_on_the_lambda_handler(oauth: SlackHarness,
                                                           engine: Engine) -> None:
    oauth.fake.installs.add(ACME)
    page = get(oauth, "/slack/install")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    state = page.state_cookie()
    assert state and "HttpOnly" in page.set_cookie and "Secure" in page.set_cookie
    url = page.authorize_url()
    assert url.startswith(oauth.fake.url + "/oauth/v2/authorize?")
    asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
    assert asked == {"state": state, "client_id": "1111.2222", "user_scope": "",
                     "scope": BOT_SCOPES,
                     "redirect_uri": REDIRECT_URL}
    assert "Add to Slack" in page.html
    assert not any(tag in page.html for tag in ("<script", " src=", "<link", "@import"))
    assert rows(engine)["slack_oauth_states"] == 1

    status, query = consent(url)
    assert status == 302 and query["state"] == state
    callback = get(oauth, "/slack/oauth_redirect", query, [f"{STATE_COOKIE}={state}"])

    assert callback.status == 200
    assert "Todobot is in Acme" in callback.html and "/todo help" in callback.html
    assert "slack://app?team=T0ACME&amp;id=ATODOBOT1" in callback.html
    assert f"{STATE_COOKIE}=deleted" in callback.set_cookie
    assert rows(engine) | {"users": 0} == {"slack_installations": 1, "slack_bots": 1,
                                           "slack_oauth_states": 0, "users": 0, "tasks": 0,
                                           "outbox": 0}
    exchange = oauth.fake.calls_to("oauth.v2.access")
    assert len(exchange) == 1 and exchange[0].params["redirect_uri"] == REDIRECT_URL
    assert exchange[0].token is not None and exchange[0].token.startswith("Basic ")
    with engine.connect() as conn:
        bot = conn.execute(text("SELECT team_id, team_name, bot_user_id, bot_id, "
                                "is_enterprise_install FROM slack_bots")).one()
    assert tuple(bot) == ("T0ACME", "Acme", "UACMEBOT", "BACME", False)


def test_one_workspace_mode_has_no_install_page(slack: SlackHarness, engine: Engine) -> None:
    page = get(slack, "/slack/install")
    assert page.status == 404 and "serves one workspace" in page.html
    assert get(slack, "/slack/oauth_redirect", {"code": "c", "state": "s"}).status == 404
    assert rows(engine)["slack_oauth_states"] == 0


def test_two_workspaces_each_answered_with_its_own_token(oauth: SlackHarness,
                                                         engine: Engine) -> None:
    for workspace in (ACME, BETA):
        oauth.fake.installs.add(workspace)
        assert install(oauth, workspace).callback.status == 200
    assert "Todobot is in Beta &lt;&amp;&gt; Co" in install(oauth, BETA).callback.html

    # the same user id in both workspaces is two people
    assert dm(oauth, ACME, "add buy milk", user="U1")["statusCode"] == 200
    assert dm(oauth, BETA, "add pay rent", user="U1")["statusCode"] == 200
    assert dm(oauth, ACME, "list", user="U1")["statusCode"] == 200
    assert dm(oauth, BETA, "list", user="U1")["statusCode"] == 200

    acme, beta = posts_to(oauth, "T0ACME"), posts_to(oauth, "T0BETA")
    assert [c.params["text"].splitlines()[0] for c in acme][:1] == ["Added #1: buy milk"]
    assert [c.params["text"].splitlines()[0] for c in beta][:1] == ["Added #1: pay rent"]
    assert "buy milk" in said(acme[-1]) and "pay rent" not in said(acme[-1])
    assert "pay rent" in said(beta[-1]) and "buy milk" not in said(beta[-1])
    # every call of the turns was made with a token Slack issued (none refused)
    assert all(e.ok for e in oauth.fake.exchanges_with("chat.postMessage"))
    auth_tests = {oauth.fake.installs.team_of(c.token) for c in oauth.fake.calls_to("auth.test")}
    assert auth_tests == {"T0ACME", "T0BETA"}
    with engine.connect() as conn:
        identities = conn.execute(text(
            "SELECT workspace, external_user_id FROM chat_identities ORDER BY workspace")).all()
    assert [tuple(i) for i in identities] == [("T0ACME", "U1"), ("T0BETA", "U1")]


# -- the state ----------------------------------------------------------------------------------


def _started(harness: SlackHarness, workspace: FakeWorkspace) -> tuple[str, dict[str, str]]:
    harness.fake.installs.add(workspace)
    harness.fake.installs.consenting = workspace.key
    page = get(harness, "/slack/install")
    state = page.state_cookie()
    assert state is not None
    status, query = consent(page.authorize_url())
    assert status == 302
    return state, query


REFUSALS = {
    "forged state": (lambda state, q: ({**q, "state": "f0rged"}, ["slack-app-oauth-state=f0rged"]),
                     401, "This install link has expired"),
    "no state": (lambda state, q: ({"code": q["code"]}, [f"{STATE_COOKIE}={state}"]), 400,
                 "be used here"),
    "another browser": (lambda state, q: (q, []), 400, "be used here"),
    "cookie of another state": (lambda state, q: (q, [f"{STATE_COOKIE}=other"]), 400,
                                "be used here"),
    "forged code": (lambda state, q: ({**q, "code": "code-999-T0ACME"},
                                      [f"{STATE_COOKIE}={state}"]), 401,
                    "did not accept the sign-in"),
}


@pytest.mark.parametrize("attempt", list(REFUSALS))
def test_a_bad_callback_is_refused_and_stores_nothing(oauth: SlackHarness, engine: Engine,
                                                      attempt: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    state, query = _started(oauth, ACME)
    tamper, status, words = REFUSALS[attempt]
    tampered_query, cookies = tamper(state, query)

    with caplog.at_level(logging.INFO):  # the functions' level (slack_sdk's DEBUG logs bodies)
        page = get(oauth, "/slack/oauth_redirect", tampered_query, cookies)

    codes = {query.get("code"), tampered_query.get("code")} - {None}
    assert not any(code in caplog.text for code in codes if code)  # one-time codes not logged
    assert page.status == status and words in page.html and "Start again" in page.html
    assert count(engine, "slack_installations") == count(engine, "slack_bots") == 0
    assert oauth.fake.accepted("oauth.v2.access") == []


def test_a_used_state_is_refused_the_second_time(oauth: SlackHarness, engine: Engine) -> None:
    state, query = _started(oauth, ACME)
    cookies = [f"{STATE_COOKIE}={state}"]
    assert get(oauth, "/slack/oauth_redirect", query, cookies).status == 200

    replay = get(oauth, "/slack/oauth_redirect", query, cookies)

    assert replay.status == 401 and "expired" in replay.html
    assert count(engine, "slack_installations") == 1
    assert len(oauth.fake.calls_to("oauth.v2.access")) == 1  # the code was not tried again


def test_an_expired_state_is_refused(oauth: SlackHarness, engine: Engine,
                                     install_root: Any) -> None:
    clock = SetClock(NOW)
    install_root(clock=clock)
    state, query = _started(oauth, ACME)
    clock.advance(minutes=10, seconds=1)

    page = get(oauth, "/slack/oauth_redirect", query, [f"{STATE_COOKIE}={state}"])

    assert page.status == 401 and "expired" in page.html
    assert count(engine, "slack_installations") == 0
    assert count(engine, "slack_oauth_states") == 0  # consumed on the way


def test_cancelling_on_slack_installs_nothing(oauth: SlackHarness, engine: Engine) -> None:
    oauth.fake.installs.deny = True
    state, query = _started(oauth, ACME)
    assert query == {"error": "access_denied", "state": state}

    page = get(oauth, "/slack/oauth_redirect", query, [f"{STATE_COOKIE}={state}"])

    assert page.status == 200 and "Nothing was installed" in page.html
    assert count(engine, "slack_installations") == 0


def test_the_scheduler_prunes_states_that_expired(oauth: SlackHarness, engine: Engine,
                                                   install_root: Any) -> None:
    from handlers.sweep import sweep

    clock = SetClock(NOW)
    root = install_root(clock=clock)
    oauth.fake.installs.add(ACME)
    for _ in range(3):
        assert get(oauth, "/slack/install").status == 200
    clock.advance(minutes=11)
    assert get(oauth, "/slack/install").status == 200  # a fresh one

    report = sweep(root)

    assert report.pruned_oauth_states == 3
    assert count(engine, "slack_oauth_states") == 1


# -- uninstall, rotation, org-wide --------------------------------------------------------------


def test_after_app_uninstalled_nothing_is_sent_there_and_a_reinstall_works(
        oauth: SlackHarness, engine: Engine) -> None:
    for workspace in (ACME, BETA):
        oauth.fake.installs.add(workspace)
        install(oauth, workspace)
    dm(oauth, ACME, "add renew passport", user="U1")
    assert len(posts_to(oauth, "T0ACME")) == 1

    assert uninstalled(oauth, ACME)["statusCode"] == 200

    with engine.connect() as conn:
        left = conn.execute(text("SELECT team_id FROM slack_bots UNION ALL "
                                 "SELECT team_id FROM slack_installations")).scalars().all()
    assert left == ["T0BETA", "T0BETA"]
    before = len(oauth.fake.calls)
    dm(oauth, ACME, "add another", user="U1")  # an event still on its way
    assert [c for c in oauth.fake.calls[before:] if c.method == "chat.postMessage"] == []
    assert count(engine, "tasks") == 1
    dm(oauth, BETA, "add still here", user="U2")
    assert len(posts_to(oauth, "T0BETA")) == 1

    assert install(oauth, ACME).callback.status == 200
    dm(oauth, ACME, "list", user="U1")
    # the list survived the uninstall
    assert "renew passport" in said(posts_to(oauth, "T0ACME")[-1])


def test_an_unsent_reply_of_an_uninstalled_workspace_is_dropped(
        oauth: SlackHarness, engine: Engine, install_root: Any) -> None:
    from handlers.sweep import sweep

    clock = SetClock(NOW)
    root = install_root(clock=clock)
    oauth.fake.installs.add(ACME)
    install(oauth, ACME)
    oauth.fake.script("chat.postMessage", *[_server_error()] * 3)
    dm(oauth, ACME, "add something", user="U1")
    assert count(engine, "outbox", "sent_at IS NULL") == 1
    uninstalled(oauth, ACME)
    calls = len(oauth.fake.calls)
    clock.advance(minutes=5)

    report = sweep(root)

    assert report.retried == 1

    assert oauth.fake.calls[calls:] == []
    assert count(engine, "outbox", "sent_at IS NULL AND failed_at IS NULL") == 0


def _server_error() -> Any:
    from tests.fakes.slack_api import server_error

    return server_error(503)


def test_a_rotating_token_is_refreshed_before_a_reminder_is_sent(
        oauth: SlackHarness, engine: Engine, install_root: Any) -> None:
    from handlers.sweep import sweep

    clock = SetClock(NOW)
    root = install_root(clock=clock)
    oauth.fake.installs.rotation = True
    oauth.fake.installs.add(ACME)
    install(oauth, ACME)
    first = oauth.fake.installs.live_tokens("T0ACME")
    dm(oauth, ACME, "add call mom in 1 hour", user="U1")
    assert [c.token for c in posts_to(oauth, "T0ACME")] == first
    # Twelve hours pass: Slack's side (the token expired) and the stored expiry.
    oauth.fake.installs.expire_tokens("T0ACME")
    with engine.begin() as conn:
        conn.execute(text("UPDATE slack_bots SET bot_token_expires_at = :soon"),
                     {"soon": datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5)})
    clock.advance(hours=2)
    calls = len(oauth.fake.calls)

    report = sweep(root)

    assert report.reminded == 1
    methods = [c.method for c in oauth.fake.calls[calls:]]
    assert methods == ["oauth.v2.access", "chat.postMessage"]
    refresh = oauth.fake.calls[calls]
    assert refresh.params["grant_type"] == "refresh_token"
    fresh = oauth.fake.installs.live_tokens("T0ACME")
    assert len(fresh) == 1 and fresh != first
    reminder = oauth.fake.calls[calls + 1]
    assert reminder.token == fresh[0] and "call mom" in said(reminder)
    assert oauth.fake.exchanges_with("chat.postMessage")[-1].ok
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT bot_token FROM slack_bots")).scalar_one()
    assert fresh[0] not in stored


def test_an_org_wide_install_answers_every_workspace_of_the_org(
        oauth: SlackHarness, engine: Engine) -> None:
    oauth.fake.installs.add(GRID)
    run = install(oauth, GRID)
    assert run.callback.status == 200 and "Todobot is in Gridco" in run.callback.html
    with engine.connect() as conn:
        bot = conn.execute(text("SELECT enterprise_id, team_id, is_enterprise_install "
                                "FROM slack_bots")).one()
    assert tuple(bot) == ("E0GRID", None, True)

    dm(oauth, GRID, "add ship the release", user="W1")
    other_team = FakeWorkspace("T0GRIDB", "Grid B", enterprise_id="E0GRID",
                               enterprise_name="Gridco", org_install=True,
                               bot_user_id="UGRIDBOT", bot_id="BGRID")
    dm(oauth, other_team, "list", user="W1")

    posts = posts_to(oauth, "E0GRID")
    assert len(posts) == 2 and "ship the release" in said(posts[1])
    with engine.connect() as conn:
        scope = conn.execute(text("SELECT DISTINCT workspace FROM chat_identities")).scalars()
        assert list(scope) == ["E0GRID"]  # one person across the org's workspaces
    assert uninstalled(oauth, GRID)["statusCode"] == 200
    assert count(engine, "slack_bots") == count(engine, "slack_installations") == 0


def test_the_allow_list_refuses_the_install_of_another_workspace(
        oauth: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        reset_slack: Any) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_TEAMS", "T0BETA")
    reset_slack()
    for workspace in (ACME, BETA):
        oauth.fake.installs.add(workspace)

    refused = install(oauth, ACME).callback

    assert refused.status == 403 and "not open to your workspace" in refused.html
    assert count(engine, "slack_bots") == count(engine, "slack_installations") == 0
    assert oauth.fake.installs.live_tokens("T0ACME") == []  # given back (auth.revoke)
    assert len(oauth.fake.accepted("auth.revoke")) == 1
    assert install(oauth, BETA).callback.status == 200
    assert count(engine, "slack_bots", "team_id = 'T0BETA'") == 1


@pytest.mark.parametrize("first", ["a request", "the scheduler"])
def test_a_token_one_path_refreshed_is_the_one_the_other_uses(
        oauth: SlackHarness, engine: Engine, install_root: Any, first: str) -> None:
    """Slack takes a refresh token once: the request path (Bolt's authorize) and the worker's
    and scheduler's clients must read and write the same row, or the second one to refresh
    uses a spent refresh token and the workspace is locked out."""
    root = install_root()
    oauth.fake.installs.rotation = True
    oauth.fake.installs.first_expires_in = 3600  # under Bolt's 2 hours: the next use refreshes
    oauth.fake.installs.add(ACME)
    install(oauth, ACME)

    if first == "a request":
        dm(oauth, ACME, "add first", user="U1")
        client = root.slack_client_for("T0ACME")
    else:
        client = root.slack_client_for("T0ACME")
        dm(oauth, ACME, "add first", user="U1")
    dm(oauth, ACME, "add second", user="U1")

    refreshes = [c for c in oauth.fake.calls_to("oauth.v2.access")
                 if c.params.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1 and all(e.ok for e in oauth.fake.exchanges_with("oauth.v2.access"))
    live = oauth.fake.installs.newest_token("T0ACME")
    assert client.token == live
    assert [c.token for c in posts_to(oauth, "T0ACME")] == [live, live]


def test_tokens_revoked_removes_every_copy_of_the_bot_token(oauth: SlackHarness,
                                                            engine: Engine) -> None:
    from tests.slack.oauth_harness import event_from, send_event

    oauth.fake.installs.add(ACME)
    install(oauth, ACME)
    oauth.fake.installs.uninstall("T0ACME")

    revoked = event_from(ACME, {"type": "tokens_revoked",
                                "tokens": {"bot": ["UACMEBOT"], "oauth": []}})
    assert send_event(oauth, revoked)["statusCode"] == 200

    with engine.connect() as conn:
        tokens = conn.execute(text("SELECT bot_token FROM slack_bots UNION ALL "
                                   "SELECT bot_token FROM slack_installations")).scalars().all()
    assert [t for t in tokens if t is not None] == []


def test_installs_in_an_enterprise_grid_workspace_by_workspace(
        oauth: SlackHarness, engine: Engine, install_root: Any) -> None:
    """Not org-wide: each workspace of the org installs for itself, with a token of its own,
    while people are the org's (one identity across its workspaces)."""
    from handlers.sweep import sweep

    clock = SetClock(NOW)
    root = install_root(clock=clock)
    one = FakeWorkspace("T0GW1", "Grid One", enterprise_id="E0GW", enterprise_name="Gw Org",
                        bot_user_id="UGW1BOT", bot_id="BGW1")
    two = FakeWorkspace("T0GW2", "Grid Two", enterprise_id="E0GW", enterprise_name="Gw Org",
                        bot_user_id="UGW2BOT", bot_id="BGW2")
    for workspace in (one, two):
        oauth.fake.installs.add(workspace)
        assert install(oauth, workspace).callback.status == 200
    with engine.connect() as conn:
        bots = conn.execute(text("SELECT enterprise_id, team_id, is_enterprise_install "
                                 "FROM slack_bots ORDER BY team_id")).all()
    assert [tuple(b) for b in bots] == [("E0GW", "T0GW1", False), ("E0GW", "T0GW2", False)]

    oauth.fake.zones["W1"] = "Etc/UTC"
    dm(oauth, one, "add plan the offsite at 10am", user="W1")
    dm(oauth, two, "list", user="W1")  # the same person, from the org's other workspace
    clock.advance(hours=2)
    assert sweep(root).reminded == 1

    first, listed, reminder = (oauth.fake.accepted("chat.postMessage"))
    assert oauth.fake.installs.team_of(first.token) == "T0GW1"
    assert oauth.fake.installs.team_of(listed.token) == "T0GW2"
    assert "plan the offsite" in said(listed)
    assert oauth.fake.installs.team_of(reminder.token) == "T0GW1"  # where the task was made
    assert uninstalled(oauth, one)["statusCode"] == 200
    with engine.connect() as conn:
        left = conn.execute(text("SELECT team_id FROM slack_bots")).scalars().all()
    assert left == ["T0GW2"]
