"""Fixed texts the bot says, kept in one place."""

HELP_TEXT = (
    "I keep your to-do list. Just tell me, e.g. \"remind me to call mom\", "
    "\"what's pending?\", \"done with 3\" — or use commands:\n"
    "/add <title> — add a task\n"
    "/list — open tasks (/list all, /list done)\n"
    "/done <n> — mark task n done (/undo <n> reopens it)\n"
    "/edit <n> <new title> — rename task n\n"
    "/delete <n> — delete task n\n"
    "/new — start a fresh conversation (tasks stay)\n"
    "/help — this message"
)

WELCOME_TEXT = "Hi{name}! I'm Todobot. " + HELP_TEXT

NEW_CONVERSATION_TEXT = (
    "Started a fresh conversation. Your tasks are still here — /list shows them."
)

EMPTY_LIST_TEXTS = {
    "open": "Nothing open — nice! Add a task with /add <title>.",
    "done": "No completed tasks yet.",
    "all": "Your list is empty. Add a task with /add <title>.",
}

LIST_HEADERS = {
    "open": "Your open tasks:",
    "done": "Completed tasks:",
    "all": "All your tasks:",
}
