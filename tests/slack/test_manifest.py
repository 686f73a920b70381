"""The app manifest asks Slack for exactly what the code handles, on the one route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from handlers.slack.app import SHORTCUT_CALLBACK_ID

MANIFEST = Path(__file__).resolve().parents[2] / "infra" / "slack-manifest.yaml"
URL = "https://YOUR-API/slack/events"


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def test_everything_goes_to_the_one_route() -> None:
    manifest = _manifest()
    settings, features = manifest["settings"], manifest["features"]
    assert settings["event_subscriptions"]["request_url"] == URL
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    (command,) = features["slash_commands"]
    assert (command["command"], command["url"], command["should_escape"]) == ("/todo", URL, False)
    assert settings["socket_mode_enabled"] is False


def test_events_shortcut_home_and_minimal_scopes() -> None:
    manifest = _manifest()
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened", "app_mention", "app_uninstalled", "message.im", "tokens_revoked"]
    (shortcut,) = manifest["features"]["shortcuts"]
    assert (shortcut["name"], shortcut["type"], shortcut["callback_id"]) == (
        "Add as task", "message", SHORTCUT_CALLBACK_ID)
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert home["messages_tab_read_only_enabled"] is False
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "app_mentions:read", "chat:write", "commands", "files:write", "im:history", "im:write",
        "users:read"]
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_the_install_asks_for_the_manifests_scopes_and_redirects_to_the_route() -> None:
    from bot_core.settings import Settings
    from handlers.slack.oauth import scopes_of
    from handlers.slack.pages import REDIRECT_PATH, SCOPE_REASONS

    manifest = _manifest()
    bot_scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert scopes_of(Settings()) == bot_scopes
    assert set(SCOPE_REASONS) == set(bot_scopes)  # the install page explains each one
    assert manifest["oauth_config"]["redirect_urls"] == [f"https://YOUR-API{REDIRECT_PATH}"]
    assert manifest["settings"]["org_deploy_enabled"] is True
    assert manifest["settings"]["token_rotation_enabled"] is False
