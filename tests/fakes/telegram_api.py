"""A fake Telegram Bot API on 127.0.0.1, for the real python-telegram-bot ``Bot`` to talk to.

Point ``TELEGRAM_API_BASE_URL`` at :attr:`FakeTelegram.url`. Every call is recorded (method and
decoded parameters). Answers have the Bot API's shape (``{"ok": true, "result": ...}``), and
the fake enforces the limits our code must respect, answering 400 the way Telegram does: HTML
it cannot parse ("can't parse entities"), messages over 4096 characters, callback_data over 64
bytes, empty texts. ``reject_html`` makes every HTML message fail as if Telegram refused its
entities.

It also fails the way the Bot API does, scripted per method for its next calls
(:meth:`FakeTelegram.fail_next`, :meth:`FakeTelegram.stall_next`): 429 with
``parameters.retry_after``, 5xx with a JSON or an HTML (nginx) body, 403 "bot was blocked by
the user", 400 "chat not found", and answers held past the client's read timeout (the call
taking effect first, as when Telegram did the work but the answer was late, or not at all).
Every call records when it arrived (:attr:`ApiCall.at`, ``time.monotonic()``) and the status it
was answered with (:meth:`FakeTelegram.status_of`); :attr:`FakeTelegram.sent` holds only the
messages that took effect.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest

DEFAULT_TOKEN = "6067617432:TEST-token-for-the-fake"
DEFAULT_USERNAME = "ai999_bot"
JSON_PARAMS = {"reply_markup", "reply_parameters", "link_preview_options", "allowed_updates",
               "commands", "entities", "scope"}
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "span", "tg-spoiler", "blockquote", "tg-emoji"}
_BAD_AMPERSAND = re.compile(r"&(?!(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)")


@dataclass(frozen=True)
class ApiCall:
    """One Bot API call as the fake received it (``at``: ``time.monotonic()`` on arrival;
    ``index``: a number no other call of this fake has, in the order of arrival)."""

    method: str
    params: dict[str, Any]
    at: float = 0.0
    index: int = 0

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


class EntityError(ValueError):
    pass


class _TelegramHTML(HTMLParser):
    """Telegram's HTML subset: known tags, balanced, no stray ``<``, ``>`` or ``&``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            raise EntityError(f'Unmatched end tag "{tag}"')

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            raise EntityError("Unexpected < or > in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user would see; raises :class:`EntityError` where Telegram would."""
    if (parse_mode or "").upper() != "HTML":
        return text
    if _BAD_AMPERSAND.search(text):
        raise EntityError("Character '&' is reserved and must be escaped")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"')
    return "".join(parser.text)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer to a call (see :meth:`FakeTelegram.fail_next`).

    ``status`` 200 with a ``delay``: the call is answered normally but only after ``delay``
    seconds; with ``processed`` it takes effect first (a message is sent), else the answer,
    when it finally comes, is a 504 and nothing happened. ``status`` None: answered normally
    at once (a call let through before the scripted failures).
    """

    status: int | None
    description: str = ""
    retry_after: int | None = None
    html: bool = False
    delay: float = 0.0
    processed: bool = True


HTML_ERROR_PAGE = ("<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
                   "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0"
                   "</center>\r\n</body>\r\n</html>\r\n")
DEFAULT_DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                        404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
                        502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
BLOCKED = (403, "Forbidden: bot was blocked by the user")
CHAT_NOT_FOUND = (400, "Bad Request: chat not found")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram:
    """The fake server. Use as a context manager; :attr:`calls` holds every call in order."""

    def __init__(self, token: str = DEFAULT_TOKEN, username: str = DEFAULT_USERNAME) -> None:
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Todobot",
                         "username": username, "can_join_groups": True,
                         "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.calls: list[ApiCall] = []
        self.sent: list[dict[str, Any]] = []  # the messages sendMessage created, in order
        self.documents: list[UploadedFile] = []  # what sendDocument received, in order
        self.reject_html = False
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self._scripts: dict[str, list[Scripted]] = {}
        self._statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1000)
        self._call_ids = itertools.count()
        self.server = LoopbackServer(self._route)

    @property
    def url(self) -> str:
        return self.server.url

    # -- what the tests look at -----------------------------------------------------------

    def methods(self) -> list[str]:
        with self._lock:
            return [call.method for call in self.calls]

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def sent_texts(self) -> list[str]:
        return [call["text"] for call in self.calls_to("sendMessage")]

    def status_of(self, call: ApiCall) -> int:
        """The HTTP status ``call`` was (or is being) answered with."""
        with self._lock:
            return self._statuses[call.index]

    def succeeded(self, method: str) -> list[ApiCall]:
        """Calls of ``method`` that took effect (answered 200, even if the answer came too
        late for the client)."""
        with self._lock:
            return [call for call in self.calls
                    if call.method == method and self._statuses.get(call.index) == 200]

    def clear(self) -> None:
        """Forget the calls (and sent messages) so far."""
        with self._lock:
            self.calls.clear()
            self.sent.clear()
            self._statuses.clear()

    def reset(self) -> None:
        """Back to a fresh server (one server can serve a whole test session)."""
        with self._lock:
            self.calls.clear()
            self.sent.clear()
            self.documents.clear()
            self._statuses.clear()
            self._scripts.clear()
            self.updates.clear()
            self.webhook = {"url": ""}
            self.reject_html = False

    def fail_next(self, method: str, status: int, description: str | None = None, *,
                  retry_after: int | None = None, html: bool = False, times: int = 1,
                  after: int = 0) -> None:
        """The next ``times`` calls of ``method`` (after letting ``after`` calls through)
        answer ``status`` the way the Bot API does: ``{"ok": false, "error_code": status,
        "description": ...}``; for 429, with ``parameters.retry_after`` (required) and the
        description "Too Many Requests: retry after N"; ``html``: the body is the HTML error
        page of the proxy in front of the Bot API instead (502, 504...). Scripts add up in
        the order they were made."""
        if status == 429:
            if retry_after is None:
                raise ValueError("a 429 from the Bot API always carries retry_after")
            description = description or f"Too Many Requests: retry after {retry_after}"
        elif retry_after is not None:
            raise ValueError("only a 429 carries retry_after")
        failure = Scripted(status, description or DEFAULT_DESCRIPTIONS.get(status, "Error"),
                           retry_after=retry_after, html=html)
        self._script(method, failure, times, after)

    def stall_next(self, method: str, seconds: float, *, processed: bool = True,
                   times: int = 1, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` are answered only after ``seconds`` (longer
        than the client's read timeout, it gives up first). ``processed``: the call takes
        effect before the answer is held (Telegram sent the message; only the answer was
        lost), else nothing happens and the late answer is a 504."""
        self._script(method, Scripted(200, delay=seconds, processed=processed), times, after)

    def _script(self, method: str, answer: Scripted, times: int, after: int) -> None:
        with self._lock:
            script = self._scripts.setdefault(method, [])
            script.extend([Scripted(None)] * after)
            script.extend([answer] * times)

    # -- the server -----------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> FakeResponse:
        match = _PATH.match(request.path.split("?")[0])
        if request.method != "POST" or match is None:
            return _error(404, "Not Found")
        if match["token"] != self.token:
            return _error(401, "Unauthorized")
        method = match["method"]
        params = _decode(request)
        with self._lock:
            call = ApiCall(method, params, at=time.monotonic(), index=next(self._call_ids))
            self.calls.append(call)
            script = self._scripts.get(method)
            scripted = script.pop(0) if script else None
        response = self._answer(call, scripted)
        with self._lock:
            self._statuses[call.index] = response.status
        return response

    def _answer(self, call: ApiCall, scripted: Scripted | None) -> FakeResponse:
        if scripted is not None and scripted.status not in (None, 200):
            return _error(scripted.status, scripted.description,
                          retry_after=scripted.retry_after, html=scripted.html)
        if scripted is not None and scripted.delay and not scripted.processed:
            response = _error(504, "Gateway Timeout", html=True)
            response.delay = scripted.delay
            return response
        handler = getattr(self, f"_m_{call.method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            response = FakeResponse(body={"ok": True, "result": handler(call.params)})
        except _ApiError as error:
            response = _error(error.status, error.description)
        if scripted is not None:
            response.delay = scripted.delay
        return response

    def _m_getme(self, _params: dict[str, Any]) -> Any:
        return self.bot_user

    def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        shown = self._check_text(params)
        message = self._message(params, next(self._message_ids), shown)
        with self._lock:
            self.sent.append(message)
        return message

    def _m_senddocument(self, params: dict[str, Any]) -> Any:
        document = params.get("document")
        if not isinstance(document, UploadedFile):
            raise _ApiError(400, "Bad Request: there is no document in the request")
        if not document.content:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        message = self._message(params, next(self._message_ids), "")
        message.pop("text")
        message["document"] = {"file_id": f"BQAC{message['message_id']}",
                               "file_unique_id": f"AgAD{message['message_id']}",
                               "file_name": document.filename,
                               "file_size": len(document.content)}
        with self._lock:
            self.documents.append(document)
        return message

    def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        shown = self._check_text(params)
        return self._message(params, int(params["message_id"]), shown,
                             edit_date=int(time.time()))

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        if len(str(params.get("text", ""))) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _m_sendchataction(self, _params: dict[str, Any]) -> Any:
        return True

    def _m_setmycommands(self, _params: dict[str, Any]) -> Any:
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {"url": params["url"], "allowed_updates": params.get("allowed_updates")}
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        return True

    def _m_deletewebhook(self, _params: dict[str, Any]) -> Any:
        self.webhook = {"url": ""}
        return True

    def _m_getwebhookinfo(self, _params: dict[str, Any]) -> Any:
        return {"url": self.webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook["url"]:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active;"
                                 " use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset", 0) or 0)
        with self._lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            limit = int(params.get("limit", 100) or 100)
            return list(self.updates[:limit])

    # -- helpers --------------------------------------------------------------------------

    def _check_text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        if self.reject_html and (parse_mode or "").upper() == "HTML":
            raise _ApiError(400, "Bad Request: can't parse entities: Unsupported start tag "
                                 "\"x\" at byte offset 0")
        try:
            shown = visible_text(text, parse_mode)
        except EntityError as error:
            raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from error
        if not shown.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if _utf16(shown) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return shown

    def _message(self, params: dict[str, Any], message_id: int, shown: str,
                 **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "Someone"} if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "A group"}
        )
        message: dict[str, Any] = {"message_id": message_id, "from": self.bot_user, "chat": chat,
                                   "date": int(time.time()), "text": shown, **extra}
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Telegram gives back an inline keyboard only; a reply keyboard (the "share
            # location" button) is the client's, not part of the message it returns.
            message["reply_markup"] = markup
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        return message

    def __enter__(self) -> FakeTelegram:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str, *, retry_after: int | None = None,
           html: bool = False) -> FakeResponse:
    """An error answer as the Bot API (or, ``html``, the nginx in front of it) gives it."""
    if html:
        from http import HTTPStatus

        page = HTML_ERROR_PAGE.format(status=status, phrase=HTTPStatus(status).phrase)
        return FakeResponse(status=status, body=page.encode(),
                            headers={"Content-Type": "text/html"})
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return FakeResponse(status=status, body=body)


def _decode(request: RecordedRequest) -> dict[str, Any]:
    """Form fields (what python-telegram-bot sends), JSON-typed fields decoded."""
    content_type = request.headers.get("Content-Type", request.headers.get("content-type", ""))
    if "json" in content_type:
        loaded = request.json()
        return dict(loaded) if isinstance(loaded, dict) else {}
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, request.body)
    params: dict[str, Any] = {}
    for key, value in parse_qsl(request.body.decode(), keep_blank_values=True):
        params[key] = json.loads(value) if key in JSON_PARAMS else value
    return params


@dataclass(frozen=True)
class UploadedFile:
    """A file a call uploaded (multipart/form-data, as python-telegram-bot sends files)."""

    filename: str
    content: bytes


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body; a file field becomes an :class:`UploadedFile`."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if not isinstance(name, str):
            continue
        if filename:
            params[name] = UploadedFile(filename, bytes(payload))
        else:
            value = bytes(payload).decode()
            params[name] = json.loads(value) if name in JSON_PARAMS else value
    return params
