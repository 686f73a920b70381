"""What users see, through ``handler()`` and the real python-telegram-bot against the fake Bot
API (which validates HTML, lengths and callback_data the way Telegram does)."""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.telegram_api import BLOCKED
from tests.telegram.conftest import (
    USER_ID,
    TelegramBot,
    button_press,
    gated,
    private_text,
    wait_until,
)


def _list_and_press(tg: TelegramBot, label: str, *, user_id: int = USER_ID) -> dict[str, Any]:
    """Send /list, then press the button called ``label`` under it; the list message."""
    tg.post(private_text("/list", user_id=user_id))
    listed = tg.api.sent[-1]
    buttons = [b for row in listed["reply_markup"]["inline_keyboard"] for b in row]
    (button,) = [b for b in buttons if b["text"] == label]
    tg.api.clear()
    tg.post(button_press(button["callback_data"], message_id=listed["message_id"],
                         user_id=user_id))
    return listed


def test_task_titles_are_escaped_in_html(tg: TelegramBot) -> None:
    tg.post(private_text("/add <script>alert(1)</script> & <b>not bold</b>"))
    tg.post(private_text("/list"))

    listed = tg.api.calls_to("sendMessage")[-1]
    assert listed["parse_mode"] == "HTML"
    assert "☐ <b>#1</b> &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;not bold&lt;/b&gt;" \
        in listed["text"]
    assert tg.api.sent[-1]["text"].endswith("☐ #1 <script>alert(1)</script> & <b>not bold</b>")


def test_a_list_longer_than_4096_arrives_in_several_messages_keyboard_on_the_last(
        tg: TelegramBot) -> None:
    for n in range(1, 31):
        tg.post(private_text(f"/add {n:02d} " + "long title " * 17))
    tg.api.clear()

    tg.post(private_text("/list"))

    sent = tg.api.calls_to("sendMessage")
    assert len(sent) == 2  # the fake refuses anything over 4096
    assert "reply_markup" not in sent[0].params
    assert len(sent[1]["reply_markup"]["inline_keyboard"]) == 30
    lines = "\n".join(m["text"] for m in tg.api.sent).split("\n")
    assert lines[0] == "Your open tasks:"
    assert [line.split(" ", 2)[1] for line in lines[1:]] == [f"#{n}" for n in range(1, 31)]


def test_refused_entities_fall_back_to_plain_text(tg: TelegramBot) -> None:
    tg.api.reject_html = True

    tg.post(private_text("/add Fish & chips <now>"))

    first, second = tg.api.calls_to("sendMessage")
    assert first["parse_mode"] == "HTML"
    assert "parse_mode" not in second.params
    assert second["text"] == "Added #1: Fish & chips <now>"
    assert tg.api.sent[-1]["text"] == "Added #1: Fish & chips <now>"


def test_refused_entities_fall_back_to_plain_text_when_editing(tg: TelegramBot) -> None:
    tg.post(private_text("/add Fish & chips"))
    tg.api.reject_html = True

    _list_and_press(tg, "Done #1")

    first, second = tg.api.calls_to("editMessageText")
    assert first["parse_mode"] == "HTML"
    assert "parse_mode" not in second.params
    assert second["text"].startswith("Done: #1 Fish & chips\n")


def test_a_button_press_is_answered_and_edits_the_list_in_place(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    tg.post(private_text("/add Call mom"))

    listed = _list_and_press(tg, "Done #1")

    assert tg.api.methods() == ["answerCallbackQuery", "editMessageText"]
    (answer,) = tg.api.calls_to("answerCallbackQuery")
    assert answer["text"] == "Done: #1 Buy milk"
    (edit,) = tg.api.calls_to("editMessageText")
    assert (edit["chat_id"], int(edit["message_id"])) == (str(USER_ID), listed["message_id"])
    assert edit["text"] == "Done: #1 Buy milk\nYour open tasks:\n☐ <b>#2</b> Call mom"
    assert [[b["text"] for b in row] for row in edit["reply_markup"]["inline_keyboard"]] == [
        ["Done #2", "Delete #2"]]
    assert tg.rows("tasks", "completed = true") == 1
    assert tg.user_messages()[-1] == "/done 1"


def test_reopen_and_delete_buttons_under_a_list_of_done_tasks(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    tg.post(private_text("/done 1"))
    tg.post(private_text("/list done"))
    listed = tg.api.sent[-1]
    labels = [b["text"] for row in listed["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Reopen #1", "Delete #1"]
    reopen = listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.api.clear()

    tg.post(button_press(reopen, message_id=listed["message_id"]))

    (edit,) = tg.api.calls_to("editMessageText")
    assert edit["text"] == "Reopened #1: Buy milk\nNo completed tasks yet."
    assert tg.rows("tasks", "completed = false") == 1


def test_the_last_task_deleted_leaves_a_list_without_buttons(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))

    _list_and_press(tg, "Delete #1")

    (edit,) = tg.api.calls_to("editMessageText")
    assert "reply_markup" not in edit.params
    assert tg.rows("tasks") == 0


def test_an_unchanged_list_is_fine(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    tg.api.fail_next("editMessageText", 400, "Bad Request: message is not modified: specified "
                                             "new message content and reply markup are exactly "
                                             "the same")

    _list_and_press(tg, "Done #1")

    assert tg.api.methods() == ["answerCallbackQuery", "editMessageText"]


def test_a_list_that_cannot_be_edited_any_more_is_sent_anew(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    tg.api.fail_next("editMessageText", 400, "Bad Request: message to edit not found")

    _list_and_press(tg, "Done #1")

    assert tg.api.methods() == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert tg.api.sent[-1]["text"].startswith("Done: #1 Buy milk")


def test_the_same_button_press_redelivered_is_answered_once(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    tg.post(private_text("/list"))
    listed = tg.api.sent[-1]
    press = button_press(listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
                         message_id=listed["message_id"])
    tg.api.clear()

    for _ in range(3):
        assert tg.post(press)["statusCode"] == 200

    assert tg.api.methods() == ["answerCallbackQuery", "editMessageText"]


def test_free_text_shows_typing_before_the_answer(tg: TelegramBot) -> None:
    tg.post(private_text("add buy milk"))

    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.api.calls_to("sendChatAction")[0]["action"] == "typing"
    assert tg.api.sent_texts() == ["Added #1: buy milk"]


def test_commands_do_not_show_typing(tg: TelegramBot) -> None:
    tg.post(private_text("/add Buy milk"))
    assert tg.api.methods() == ["sendMessage"]


def test_free_text_redelivered_asks_the_model_once_and_shows_typing_once(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    llm.default = says("Noted.")
    update = private_text("the plumber comes at 3")

    assert [tg.post(update)["statusCode"] for _ in range(3)] == [200] * 3

    assert len(llm.bodies) == 1
    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.rows("messages") == 2


def test_free_text_redelivered_while_the_model_thinks_is_answered_once(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    """Telegram gave up waiting and delivered the update again while the first delivery's
    model call was still running: the second waits for the first (same conversation), then
    finds the delivery claimed."""
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    update = private_text("the plumber comes at 3")
    first = threading.Thread(target=tg.post, args=(update,))
    first.start()
    wait_until(lambda: len(llm.bodies) == 1, "the model to be thinking")
    again = threading.Thread(target=tg.post, args=(update,))
    again.start()
    gate.set()
    first.join(60)
    again.join(60)

    assert len(llm.bodies) == 1
    assert tg.api.sent_texts() == ["Noted."]
    assert tg.rows("delivery_claims") == 1


def test_a_user_who_blocked_the_bot_does_not_cause_redeliveries(tg: TelegramBot) -> None:
    tg.api.fail_next("sendMessage", *BLOCKED)

    assert tg.post(private_text("/add Buy milk"))["statusCode"] == 200
    assert tg.rows("tasks") == 1  # the turn is stored; only the reply could not be delivered
    (row,) = tg.outbox()
    assert row.failed_at is not None and row.sent_at is None
    assert row.failure == "forbidden: Forbidden: bot was blocked by the user"
