"""The pages a person sees while installing the app: "Add to Slack", then success or what went
wrong and what to do next.

Self-contained HTML: no script, no font, no image from anywhere (the Slack mark is inline
SVG), and a Content-Security-Policy that forbids loading anything, so the pages work behind any
firewall and leak nothing (the install link carries a one-time state). Everything that comes
from Slack (the workspace's name) is escaped.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "img-src data:; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'"),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
"""Every page's headers: nothing cached (the install link holds a state), nothing loaded."""

SCOPE_REASONS = {
    "app_mentions:read": "see messages that mention @Todobot, to answer in their thread",
    "chat:write": "send you its answers and reminders",
    "commands": "add the /todo command and the “Add as task” shortcut",
    "files:write": "send you your own data as files when you ask for it (/todo export)",
    "im:write": "open a direct message with you, for those files",
    "im:history": "read what you write in its Messages tab",
    "users:read": "read your timezone, so that “5pm” means your 5pm",
}

_SLACK_MARK = (
    '<svg aria-hidden="true" width="20" height="20" viewBox="0 0 122.8 122.8">'
    '<path fill="#e01e5a" d="M25.8 77.6a12.9 12.9 0 1 1-12.9-12.9h12.9zm6.5 0a12.9 12.9 0 0 1 '
    '25.8 0v32.3a12.9 12.9 0 1 1-25.8 0z"/><path fill="#36c5f0" d="M45.2 25.8a12.9 12.9 0 1 1 '
    '12.9-12.9v12.9zm0 6.5a12.9 12.9 0 0 1 0 25.8H12.9a12.9 12.9 0 1 1 0-25.8z"/>'
    '<path fill="#2eb67d" d="M97 45.2a12.9 12.9 0 1 1 12.9 12.9H97zm-6.5 0a12.9 12.9 0 0 1-25.8 '
    '0V12.9a12.9 12.9 0 1 1 25.8 0z"/><path fill="#ecb22e" d="M77.6 97a12.9 12.9 0 1 1-12.9 '
    '12.9V97zm0-6.5a12.9 12.9 0 0 1 0-25.8h32.3a12.9 12.9 0 1 1 0 25.8z"/></svg>'
)

_STYLE = """
body{font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;color:#1d1c1d;
background:#f8f8f8;margin:0}
main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:0 0 1rem}
.button{display:inline-flex;align-items:center;gap:.5rem;padding:.6rem 1.1rem;border:1px solid
#ddd;border-radius:4px;color:#1d1c1d;font-weight:700;text-decoration:none;background:#fff}
.button:hover{background:#f4f4f4}
li{margin:.25rem 0}
.note{color:#616061;font-size:.9rem}
"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


def install_page(authorize_url: str, scopes: list[str], minutes: int = 10) -> str:
    """What ``GET /slack/install`` shows: what Todobot is, what it asks for, the button."""
    reasons = "".join(
        f"<li><code>{escape(scope)}</code>: {escape(SCOPE_REASONS.get(scope, scope))}</li>"
        for scope in scopes)
    return _page("Add Todobot to Slack", (
        "<h1>Add Todobot to your Slack workspace</h1>"
        "<p>Todobot keeps your to-do list in Slack: write to it, use <code>/todo</code>, "
        "and it reminds you when something is due. Only you see your tasks.</p>"
        f"<p>Slack will ask you to allow Todobot to:</p><ul>{reasons}</ul>"
        f'<p><a class="button" id="add-to-slack" href="{escape(authorize_url)}">'
        f"{_SLACK_MARK}Add to Slack</a></p>"
        f'<p class="note">The button works once, within {minutes} minutes. If it has '
        "expired, reload this page.</p>"))


def success_page(team_name: str | None, team_id: str | None, app_id: str | None,
                 enterprise: bool) -> str:
    """After a good install: where to find the bot, and how to start."""
    where = escape(team_name or "your workspace")
    if enterprise:
        where = escape(team_name or "your organisation")
    link = ""
    if team_id and app_id:
        href = f"slack://app?team={quote(team_id)}&id={quote(app_id)}"
        link = f'<p><a class="button" id="open-slack" href="{escape(href)}">{_SLACK_MARK}' \
               "Open Todobot in Slack</a></p>"
    return _page("Todobot is installed", (
        f"<h1>Todobot is in {where}</h1>"
        "<p>What to do next:</p><ul>"
        "<li>Find <b>Todobot</b> under <i>Apps</i> in Slack's sidebar and write to it, "
        "for example “buy milk tomorrow at 5pm”.</li>"
        "<li>Or type <code>/todo help</code> in any channel; only you see the answer.</li>"
        "<li>Mention <b>@Todobot</b> in a channel to add a task from there.</li></ul>"
        f"{link}<p class=\"note\">You can close this page.</p>"))


_FAILURES = {
    "access_denied": (
        "Nothing was installed",
        "You cancelled on Slack's page, so Todobot was not added. You can start again "
        "whenever you like."),
    "invalid_browser": (
        "This install link can't be used here",
        "The link was started in another browser, or it was already used. Start again from "
        "this browser."),
    "invalid_state": (
        "This install link has expired",
        "Install links work once, for a few minutes. Start again to get a fresh one."),
    "missing_code": (
        "Slack did not send a sign-in code",
        "Start again from the install page."),
    "invalid_code": (
        "Slack did not accept the sign-in",
        "The sign-in code was refused or had already been used. Start again from the install "
        "page."),
    "team_not_allowed": (
        "This Todobot is not open to your workspace",
        "Its administrator lets only some workspaces use it, and yours is not one of them. "
        "Nothing was kept, and the access Slack granted was given back."),
    "storage_error": (
        "Todobot could not save the installation",
        "Please try again in a minute."),
}


def failure_page(reason: str) -> str:
    """What went wrong, in words, with a way back to the install page."""
    title, text = _FAILURES.get(reason, (
        "The installation did not finish", "Something went wrong; nothing was installed."))
    return _page(title, (
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
        f'<p><a class="button" id="start-again" href="{INSTALL_PATH}">Start again</a></p>'
        f'<p class="note">Reason: <code>{escape(reason)}</code></p>'))


def not_installable_page() -> str:
    """``GET /slack/install`` where this deployment serves one workspace (no client id)."""
    return _page("Installing is off", (
        "<h1>This Todobot serves one workspace</h1>"
        "<p>It was set up with a single bot token, so it can't be added to other "
        "workspaces. Ask its administrator, or see <code>infra/slack.md</code>.</p>"))
