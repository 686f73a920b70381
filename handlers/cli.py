"""The ``todobot`` command line: chat in the terminal, migrate, serve, one scheduler sweep,
the model usage report, Telegram helpers, the Slack token key."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``todobot`` console script."""
    parser = argparse.ArgumentParser(prog="todobot", description="Todobot, your chat to-do list.")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default=None, help="local user name (default: your login)")
    commands.add_parser("migrate", help="bring the database schema up to date (alembic)")
    serve = commands.add_parser("serve", help="run the local webhook server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    scheduler = commands.add_parser("scheduler", help="the scheduler's work")
    scheduler_actions = scheduler.add_subparsers(dest="scheduler_command", required=True)
    scheduler_actions.add_parser(
        "run", help="one sweep: send due reminders and digests, retry unsent replies, prune")
    usage = commands.add_parser(
        "usage", help="model tokens per user and the estimated cost (from LLM_PRICES)")
    usage.add_argument("--since", type=_day, default=None, metavar="YYYY-MM-DD",
                       help="count only the users' local days from this one on")
    _add_telegram_commands(commands)
    slack = commands.add_parser("slack", help="Slack installations (OAuth mode)")
    slack_actions = slack.add_subparsers(dest="slack_command", required=True)
    slack_actions.add_parser(
        "new-key", help="print a fresh TODOBOT_ENCRYPTION_KEY (it seals workspace tokens)")
    slack_actions.add_parser(
        "rotate-key", help="reseal every stored token with the first key of "
                           "TODOBOT_ENCRYPTION_KEY (\"new,old\"), then drop the old one")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "migrate":
        return _migrate()
    if args.command == "chat":
        return _chat(args.user)
    if args.command == "serve":
        return _serve(args.host, args.port)
    if args.command == "telegram":
        return _telegram(args)
    if args.command == "scheduler":
        return _scheduler_run()
    if args.command == "usage":
        return _usage(args.since)
    if args.command == "slack":
        return _slack(args.slack_command)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _add_telegram_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    telegram = commands.add_parser("telegram", help="Telegram webhook and polling helpers")
    actions = telegram.add_subparsers(dest="telegram_command", required=True)
    set_webhook = actions.add_parser(
        "set-webhook", help="point Telegram at URL (with the secret token) and set the menu")
    set_webhook.add_argument("url", help="public https URL ending in /telegram/webhook")
    set_webhook.add_argument("--drop-pending-updates", action="store_true",
                             help="forget updates Telegram kept while no webhook was reachable")
    poll = actions.add_parser("poll", help="run the bot by long polling (no public URL needed)")
    poll.add_argument("--once", action="store_true",
                      help="process the updates waiting now, then exit")
    poll.add_argument("--delete-webhook", action="store_true",
                      help="remove a webhook first (Telegram refuses polling while one is set)")


def _telegram(args: argparse.Namespace) -> int:
    from handlers.telegram import cli as telegram_cli

    logging.getLogger("handlers").setLevel(logging.INFO)
    if args.telegram_command == "set-webhook":
        return telegram_cli.set_webhook(args.url, drop_pending_updates=args.drop_pending_updates)
    return telegram_cli.poll(once=args.once, delete_webhook=args.delete_webhook)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _usage(since: date | None) -> int:
    """Per-user model usage and its estimated cost, read from the root's database."""
    from sqlmodel import Session

    from bot_core.usage_report import format_report, user_totals
    from handlers import composition

    root = composition.root()
    with Session(root.engine) as session:
        totals = user_totals(session, since)
    print(format_report(totals, root.settings.llm_prices, since))
    return 0


def _slack(command: str) -> int:
    from models.sealed import TokenCipher

    if command == "new-key":
        print(TokenCipher.new_key())
        return 0
    from handlers import composition
    from handlers.slack.installations import reseal_tokens

    root = composition.root()
    resealed = reseal_tokens(root.engine, root.token_cipher)
    print(f"Resealed {resealed} stored Slack token(s) with the first key; the other keys "
          "can now be removed from TODOBOT_ENCRYPTION_KEY.")
    return 0


def _migrate() -> int:
    from bot_core.settings import get_settings
    from models.migrate import upgrade

    upgrade(get_settings().database_url)
    print("Database is up to date.")
    return 0


def _serve(host: str, port: int) -> int:
    import uvicorn

    from handlers import composition
    from handlers.http_app import QueryFreeAccessLog, build_app

    logging.getLogger("uvicorn.access").addFilter(QueryFreeAccessLog())
    uvicorn.run(build_app(composition.root(), local=True), host=host, port=port,
                log_level="info")
    return 0


def _scheduler_run() -> int:
    from handlers import composition
    from handlers.sweep import sweep
    from handlers.terminal.sender import TerminalSender, registered

    root = composition.root()
    with registered(root, TerminalSender(sys.stdout)):  # the terminal's reminders print here
        report = sweep(root)
    print(f"Sweep done: {report.retried} replies retried ({report.still_unsent} still unsent), "
          f"{report.reminded} reminders and {report.digests} digests due, "
          f"{report.dropped_stale} stale dropped, {report.pruned_rows} outbox rows and "
          f"{report.pruned_claims} delivery claims pruned.")
    return 0


def _chat(user: str | None, *, sweep_every: float | None = None) -> int:
    """The terminal conversation on the process's root; the reminders of tasks made here are
    printed above the prompt as they fall due (a sweep every ``sweep_every`` seconds)."""
    from bot_core.inbound import Inbound
    from handlers import composition
    from handlers.terminal.console import Console
    from handlers.terminal.sender import PLATFORM, TerminalSender, chat_target, registered
    from handlers.terminal.sweeper import EVERY_SECONDS, BackgroundSweep

    # One person at their own terminal: the per-minute limit (a public bot's guard) would only
    # swallow lines pasted or piped in a burst. Set the variable to have it anyway.
    os.environ.setdefault("MESSAGES_PER_MINUTE_PER_USER", "0")
    root = composition.root()
    settings = root.settings
    service = root.service
    name = user or getpass.getuser()
    target = chat_target(name)
    console = Console(sys.stdout)
    brain = "LLM " + settings.openai_model if settings.llm_configured else "offline rules"
    console.line(f"Todobot ({brain}). Type /help for commands, Ctrl-D to quit.")
    with registered(root, TerminalSender(console, user=name)), \
            BackgroundSweep(root, every=sweep_every or EVERY_SECONDS):
        while True:
            try:
                line = console.ask("you> ")
            except (EOFError, KeyboardInterrupt):
                console.line()
                return 0
            if not line.strip():
                continue
            inbound = Inbound(platform=PLATFORM, chat_id="terminal", external_user_id=name,
                              display_name=name, text=line, private=True)
            try:
                result = service.handle(inbound, chat_target=target)
            except Exception as error:  # noqa: BLE001 - keep the chat alive, say what happened
                console.say(f"Something went wrong ({type(error).__name__}); nothing was saved.")
                continue
            if result.reply is not None:
                console.say(result.reply.as_plain_text())
                for file in result.reply.files:  # /export: the files land where you are
                    path = Path.cwd() / file.name
                    path.write_text(file.content, encoding="utf-8")
                    console.line(f"     saved {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
