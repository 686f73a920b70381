"""Fixed texts the bot says, kept in one place."""

HELP_TEXT = (
    "I keep your to-do list. Just tell me, e.g. \"remind me to call mom\", "
    "\"what's pending?\", \"done with 3\" — or use commands:\n"
    "/add <title> — add a task\n"
    "/list — open tasks (/list all, /list done)\n"
    "/today — overdue and due today; /upcoming — the next 7 days\n"
    "/done <n> — mark task n done (/undo <n> reopens it)\n"
    "/edit <n> <new title> — rename task n\n"
    "/delete <n> — delete task n\n"
    "/timezone <city or zone> — so times are yours; /digest 08:00 — a morning summary\n"
    "/new — start a fresh conversation (tasks stay)\n"
    "/usage — the AI tokens you used today and this month\n"
    "/link — one list in Telegram and Slack (/unlink undoes it)\n"
    "/export — your data as files; /forget — delete everything I keep about you\n"
    "/help — this message"
)

WELCOME_TEXT = "Hi{name}! I'm Todobot. " + HELP_TEXT

NEW_CONVERSATION_TEXT = (
    "Started a fresh conversation. Your tasks are still here — /list shows them."
)

EMPTY_LIST_TEXTS = {
    "today": "Nothing due today.",
    "upcoming": "Nothing due in the next 7 days.",
    "open": "Nothing open — nice! Add a task with /add <title>.",
    "done": "No completed tasks yet.",
    "all": "Your list is empty. Add a task with /add <title>.",
}

LIST_HEADERS = {
    "today": "Due today and overdue:",
    "upcoming": "Due in the next 7 days:",
    "open": "Your open tasks:",
    "done": "Completed tasks:",
    "all": "All your tasks:",
}

TIMEZONE_USAGE = ("Set it with /timezone <city or zone>, e.g. /timezone Berlin or "
                  "/timezone America/New_York.")
DIGEST_USAGE = "/digest 08:00 sends what is due each morning at 08:00; /digest off stops it."
