"""``todobot telegram set-webhook URL`` and ``todobot telegram poll``.

set-webhook: registers the webhook with the secret token Telegram will send back in
``X-Telegram-Bot-Api-Secret-Token``, only the update kinds the bot handles (``message``,
``callback_query``: edits and membership changes are not even sent), optionally dropping what
piled up while no webhook was set, and registers the command menu (setMyCommands).

poll: long polling for trying the bot without a public URL. Each update goes through exactly
the processing the webhook uses, outside Lambda (the whole turn before the next update).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from handlers import event_loop

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "callback_query")
COMMAND_MENU = (
    ("add", "Add a task: /add Call mom friday 5pm"),
    ("list", "Open tasks (/list all, /list done)"),
    ("today", "Overdue and due today"),
    ("upcoming", "Due in the next 7 days"),
    ("done", "Mark a task done: /done 3"),
    ("undo", "Reopen a task: /undo 3"),
    ("edit", "Rename a task: /edit 3 New title"),
    ("delete", "Delete a task: /delete 3"),
    ("timezone", "Your timezone: /timezone Berlin"),
    ("digest", "A morning summary: /digest 08:00 (or off)"),
    ("usage", "Your AI tokens today and this month"),
    ("new", "Start a fresh conversation (tasks stay)"),
    ("link", "One list in Telegram and Slack: /link, then /link CODE"),
    ("export", "Your data as files (/export all adds conversations)"),
    ("forget", "Delete everything I keep about you"),
    ("help", "What I can do"),
)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
RETRY_PAUSE_SECONDS = 5.0


def set_webhook(url: str, *, drop_pending_updates: bool) -> int:
    """Register the webhook and the command menu; prints what was done (never the secret)."""
    from telegram import BotCommand

    from handlers import composition

    root = composition.root()
    secret = root.settings.telegram_webhook_secret
    if secret is None or not _SECRET_TOKEN.match(secret.get_secret_value()):
        print("TELEGRAM_WEBHOOK_SECRET must be set to 1-256 characters of A-Z, a-z, 0-9, _ "
              "and - (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`).",
              file=sys.stderr)
        return 2
    if not url.startswith("https://"):
        print("Note: Telegram only delivers to https:// URLs.", file=sys.stderr)
    bot = root.telegram_client.bot
    event_loop.run(bot.set_webhook(
        url, secret_token=secret.get_secret_value(), allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=drop_pending_updates,
    ), timeout=60)
    event_loop.run(bot.set_my_commands([BotCommand(name, text) for name, text in COMMAND_MENU]),
                   timeout=60)
    dropped = " Pending updates were dropped." if drop_pending_updates else ""
    print(f"Webhook set to {url} for {', '.join(ALLOWED_UPDATES)}.{dropped}")
    print(f"Command menu registered ({len(COMMAND_MENU)} commands).")
    return 0


def poll(*, once: bool, delete_webhook: bool) -> int:
    """Long polling until Ctrl-C (``once``: process what is waiting, then stop)."""
    from telegram.error import Conflict, NetworkError

    from handlers import composition
    from handlers.telegram.client import LONG_POLL_SECONDS

    root = composition.root()
    bot = root.telegram_client.bot
    if delete_webhook:
        event_loop.run(bot.delete_webhook(drop_pending_updates=False), timeout=60)
    offset: int | None = None
    print("Polling Telegram for updates (Ctrl-C stops).", file=sys.stderr)
    try:
        while True:
            try:
                updates = _get_updates(bot, offset, timeout=0 if once else LONG_POLL_SECONDS)
            except Conflict:
                print("A webhook is set for this bot, so Telegram will not hand out updates "
                      "by polling. Run `todobot telegram poll --delete-webhook` to remove it "
                      "(and `todobot telegram set-webhook URL` to restore it later).",
                      file=sys.stderr)
                return 1
            except NetworkError as error:
                log.warning("getUpdates failed (%s); retrying", error)
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            for update in updates:
                try:
                    delivery = root.telegram_webhook.delivery_of(update)
                    if delivery is not None:
                        root.queue.enqueue(delivery)
                except Exception:  # the same update is fetched again after a pause (logged)
                    log.exception("update %s failed; retrying", update.get("update_id"))
                    time.sleep(RETRY_PAUSE_SECONDS)
                    break
                offset = int(update["update_id"]) + 1
            if once and not updates:
                return 0
            if once:
                # Confirm what was processed so that Telegram forgets it, then stop.
                _get_updates(bot, offset, timeout=0)
                return 0
    except KeyboardInterrupt:
        return 0


def _get_updates(bot: Bot, offset: int | None, *, timeout: int) -> list[dict[str, Any]]:
    """Raw update dicts: an update python-telegram-bot cannot parse must not stop polling (the
    webhook's processing logs and skips it), so ``Bot.get_updates``, which parses the whole
    batch, is not used; PTB's hint to use it is silenced."""
    import warnings

    from telegram.warnings import PTBUserWarning

    warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'",
                            category=PTBUserWarning)

    kwargs: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
    if offset is not None:
        kwargs["offset"] = offset
    result = event_loop.run(bot.do_api_request("getUpdates", api_kwargs=kwargs,
                                                        read_timeout=timeout + 10),
                            timeout=timeout + 30)
    return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
