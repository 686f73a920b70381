"""The Bolt app: which Slack request runs which listener.

Listeners only translate: payload -> :class:`Inbound` (``slack_inbound``), the core's turn
(``TodoService``), :class:`Reply` -> Block Kit (``slack_render``). Commands, buttons, the App
Home and the message shortcut are answered inside the request; turns that need the LLM
(``needs_brain``) are acknowledged at once and answered by a lazy listener.

Where answers go:
- slash commands, buttons and the shortcut answer through ``response_url`` (or the ack body):
  ephemeral to the user who typed, and it works in channels the bot is not a member of, which
  ``chat.postEphemeral`` does not;
- DMs and mentions are answered with ``chat.postMessage`` (a mention in its thread);
- button presses replace the message they were under (``replace_original``), or re-publish the
  Home tab when pressed there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.middleware.request_verification import RequestVerification
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError

from bot_core.conversations import ChatBusy
from bot_core.inbound import Inbound
from bot_core.reply import Reply
from bot_core.service import needs_brain
from bot_core.settings import Settings
from handlers.slack_inbound import (
    ACTION_ID_PATTERN,
    action_inbound,
    button_owner,
    command_inbound,
    event_inbound,
    fallback_permalink,
    home_inbound,
    reply_thread,
    shortcut_inbound,
    workspace_of,
)
from handlers.slack_lazy import defer_failure
from handlers.slack_render import SlackMessage, render_home, render_reply, render_single

if TYPE_CHECKING:
    from bot_core.service import TodoService

log = logging.getLogger(__name__)

SHORTCUT_CALLBACK_ID = "add_as_task"
DATABASE_TROUBLE = (
    "Sorry, I couldn't reach my database, so nothing was saved. Please try again in a moment."
)
CHAT_BUSY = (
    "I'm still working on your previous message here — please try again in a moment. "
    "Nothing of this one was saved."
)
NOT_YOUR_LIST = "That list belongs to someone else — `/todo list` shows yours."
UNEXPECTED_TROUBLE = (
    "Sorry, something went wrong on my side and nothing was saved. Please try again."
)
_ANY = re.compile(r".*")
VERIFIED = "todobot_verified"
"""Context key set once the request's signature has been verified."""
MALFORMED_PAYLOAD_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)


class SlackNotConfigured(RuntimeError):
    """SLACK_BOT_TOKEN or SLACK_SIGNING_SECRET is missing."""


class SlackGate(RequestVerification):
    """Bolt's signature check (v0 HMAC, 300 s window), then the retry rule.

    A redelivery Slack sent because our answer was late (``X-Slack-Retry-Reason:
    http_timeout``) is acknowledged and not run: the first delivery reached us and is being
    answered. Other retries (we answered 5xx, or the connection failed) run normally; the
    delivery claim on event_id keeps them from running twice. Takes an optional clock so that
    Slack's documented example (timestamp 1531420618) can be verified.
    """

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        super().__init__(signing_secret)
        self._clock = clock or Clock()

    @property
    def verifier(self) -> SignatureVerifier:
        if self._verifier is None:
            self._verifier = SignatureVerifier(self._signing_secret, clock=self._clock)
        return self._verifier

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        def next_unless_late_retry() -> BoltResponse:
            req.context[VERIFIED] = True
            if not req.lazy_only and is_timed_out_retry(req.headers):
                log.info("Slack retry after a timeout acknowledged without running again")
                return BoltResponse(status=200, body="")
            return next()

        return super().process(req=req, resp=resp, next=next_unless_late_retry)

    def _debug_log_error(self, signature: Any, timestamp: Any, body: Any) -> None:
        # Bolt's version logs the body, which holds the response_url and the legacy token.
        log.info("rejected a Slack request with an invalid or stale signature (ts=%s)", timestamp)


def is_timed_out_retry(headers: dict[str, Any]) -> bool:
    """True for Slack's redelivery of a request we were too slow to acknowledge."""
    def first(name: str) -> str:
        value = headers.get(name)
        if isinstance(value, list | tuple):
            return str(value[0]) if value else ""
        return str(value or "")

    return bool(first("x-slack-retry-num")) and first("x-slack-retry-reason") == "http_timeout"


class _QuietTokenWarning(logging.Filter):
    """Bolt warns on every cold start that ``SLACK_BOT_TOKEN`` is unused when a client is given;
    we give the client on purpose (it carries ``SLACK_API_BASE_URL``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_bolt_app(settings: Settings, *, clock: Clock | None = None) -> App:
    """The Bolt app, built once per container: no network at start-up (token verification
    off), listeners run before the response (``process_before_response``, as Lambda needs)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    secret = (settings.slack_signing_secret.get_secret_value()
              if settings.slack_signing_secret else "")
    if not token or not secret:  # an empty signing secret would let anyone sign requests
        raise SlackNotConfigured("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set")
    base_url = settings.slack_api_base_url
    client = WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=10,
    )
    bolt_logger = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _QuietTokenWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_QuietTokenWarning())
    app = App(
        name="todobot",
        client=client,
        signing_secret=secret,
        token_verification_enabled=False,
        process_before_response=True,
        request_verification_enabled=False,
        before_authorize=SlackGate(secret, clock),
        raise_error_for_unhandled_request=True,
    )
    app.error(on_error)
    register_listeners(app)
    return app


def on_error(error: Exception, request: BoltRequest) -> BoltResponse | None:
    """Bolt's global error handler: what a verified request that could not be handled is
    answered. Slack retries an event answered with anything but 2xx, and turns event delivery
    off for an app that fails too many, so a retry must be worth it:

    - no listener matches (an envelope type we do not know, such as ``app_rate_limited``):
      200, where Bolt would answer 404;
    - the payload's shape breaks Bolt's middleware or matchers, or our listener (``"event":
      ""``, a number where a type string belongs): 200 and logged; the retry would carry the
      same payload and fail the same way;
    - anything else (the database is down...): Bolt's 500, so that Slack delivers it again.
    """
    if isinstance(error, BoltUnhandledRequestError):
        log.info("acknowledged a Slack request no listener handles")
        return BoltResponse(status=200, body="")
    if request.context.get(VERIFIED) and isinstance(error, MALFORMED_PAYLOAD_ERRORS):
        log.error("a Slack payload of an unexpected shape failed (%s); acknowledged",
                  type(error).__name__, exc_info=error)
        return BoltResponse(status=200, body="")
    log.error("Slack listener or middleware failed: %s", type(error).__name__, exc_info=error)
    return None


def register_listeners(app: App) -> None:
    """First match wins, so the catch-alls come last: anything we do not handle is still
    answered 200 (a 404 would make Slack retry events and show errors for buttons)."""
    command = re.compile(r"^/")
    app.command(command, matchers=[command_is_instant])(answer_command)
    app.command(command)(ack=acknowledge, lazy=[answer_command_later])
    for kind in ("message", "app_mention"):
        app.event(kind, matchers=[event_is_instant_turn])(answer_event)
        app.event(kind, matchers=[event_is_turn])(ack=acknowledge, lazy=[answer_event_later])
    app.event("app_home_opened")(show_home)
    app.event(_ANY)(ignore)
    app.action(ACTION_ID_PATTERN)(press_button)
    app.action(_ANY)(acknowledge)
    app.message_shortcut(SHORTCUT_CALLBACK_ID)(add_message_as_task)
    app.shortcut(_ANY)(acknowledge)


# -- helpers -------------------------------------------------------------------------------


def _service() -> TodoService:
    from handlers.runtime import shared_service

    return shared_service()


def _workspace(context: BoltContext) -> str:
    return workspace_of(context.enterprise_id, context.team_id)


def _event_inbound(body: dict[str, Any], context: BoltContext) -> Inbound | None:
    return event_inbound(body, _workspace(context), context.bot_user_id, context.bot_id)


def _deferred_turn(
    inbound: Inbound, body: dict[str, Any], tell: Callable[[str], None]
) -> Reply | None:
    """Run a lazy (LLM) turn; on failure hand it back for redelivery, or tell the user."""
    try:
        return _service().handle(inbound).reply
    except SQLAlchemyError as error:
        if defer_failure(error, body):
            log.warning("database error in a deferred Slack turn; it will be delivered again")
            return None
        log.exception("database error in a deferred Slack turn")
        tell(DATABASE_TROUBLE)
    except ChatBusy:
        log.warning("deferred Slack turn gave up waiting for the turn ahead of it")
        tell(CHAT_BUSY)
    except Exception:  # the user must hear something; the error is logged
        log.exception("deferred Slack turn failed")
        tell(UNEXPECTED_TROUBLE)
    return None


def _respond(respond: Respond, message: SlackMessage, **extra: Any) -> None:
    response = respond(text=message.text, blocks=message.blocks or None, **extra)
    if response.status_code != 200:
        log.error("response_url answered %s", response.status_code)


def _post(client: WebClient, channel: str, thread: str | None, messages: list[SlackMessage]
          ) -> None:
    for message in messages:
        try:
            client.chat_postMessage(channel=channel, thread_ts=thread, text=message.text,
                                    blocks=message.blocks or None)
        except SlackApiError as error:
            # The turn is stored; a 5xx would only make Slack redeliver a claimed event.
            log.error("chat.postMessage failed: %s", error.response.get("error"))
            return


# -- slash commands ------------------------------------------------------------------------


def command_is_instant(body: dict[str, Any], context: BoltContext) -> bool:
    inbound = command_inbound(body, _workspace(context))
    return inbound is None or not needs_brain(inbound)


def acknowledge(ack: Ack) -> None:
    ack()


def ignore() -> None:
    """Events we do not act on (channel messages, edits, bots...): acknowledged, nothing else."""


def answer_command(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond
                   ) -> None:
    """``/todo add ...``, ``/todo list``... answered in the ack itself when it fits one message
    (no extra request), else through response_url, in order."""
    inbound = command_inbound(body, _workspace(context))
    if inbound is None:
        ack()
        return
    try:
        result = _service().handle(inbound)
    except ChatBusy:
        ack(text=CHAT_BUSY, response_type="ephemeral")
        return
    except SQLAlchemyError:
        log.exception("database error in a Slack command")
        ack(text=DATABASE_TROUBLE, response_type="ephemeral")
        return
    if result.reply is None:
        ack()
        return
    messages = render_reply(result.reply, inbound.external_user_id)
    if len(messages) == 1:
        ack(text=messages[0].text, blocks=messages[0].blocks or None, response_type="ephemeral")
        return
    ack()
    for message in messages:
        _respond(respond, message, response_type="ephemeral")


def answer_command_later(body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    """``/todo <free text>``: the LLM turn, answered ephemerally through response_url."""
    inbound = command_inbound(body, _workspace(context))
    if inbound is None:
        return
    reply = _deferred_turn(inbound, body, lambda text: _respond(
        respond, SlackMessage(text=text), response_type="ephemeral"))
    for message in render_reply(reply, inbound.external_user_id) if reply is not None else []:
        _respond(respond, message, response_type="ephemeral")


# -- DMs and mentions ----------------------------------------------------------------------


def event_is_turn(body: dict[str, Any], context: BoltContext) -> bool:
    return _event_inbound(body, context) is not None


def event_is_instant_turn(body: dict[str, Any], context: BoltContext) -> bool:
    inbound = _event_inbound(body, context)
    return inbound is not None and not needs_brain(inbound)


def answer_event(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """A DM or mention that needs no LLM. A database error propagates: Bolt answers 500 and
    Slack delivers the event again (retries after a 5xx are run; the claim prevents doubles)."""
    inbound = _event_inbound(body, context)
    if inbound is None:
        return
    result = _service().handle(inbound)
    if result.reply is not None:
        _post(client, inbound.chat_id, reply_thread(body),
              render_reply(result.reply, inbound.external_user_id))


def answer_event_later(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """A DM or mention for the LLM, in the lazy listener; event_id claims make it run once."""
    inbound = _event_inbound(body, context)
    if inbound is None:
        return
    thread = reply_thread(body)
    reply = _deferred_turn(inbound, body, lambda text: _post(
        client, inbound.chat_id, thread, [SlackMessage(text=text)]))
    if reply is not None:
        _post(client, inbound.chat_id, thread, render_reply(reply, inbound.external_user_id))


# -- App Home, buttons, shortcut -----------------------------------------------------------


def show_home(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    """The Home tab shows the user's open tasks with their buttons."""
    inbound = home_inbound(body, _workspace(context))
    if inbound is None:
        return
    _publish_home(client, inbound.external_user_id, _service().overview(inbound))


def _publish_home(client: WebClient, user_id: str, reply: Reply) -> None:
    try:
        client.views_publish(user_id=user_id, view=render_home(reply, user_id))
    except SlackApiError as error:
        log.error("views.publish failed: %s", error.response.get("error"))


def press_button(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond,
                 client: WebClient) -> None:
    """Done / Reopen / Delete under a list: the same command code, then the list redrawn in
    place (the message via response_url, or the Home tab)."""
    ack()
    inbound = action_inbound(body, _workspace(context))
    if inbound is None:
        return
    in_home = (body.get("container") or {}).get("type") == "view"
    if button_owner(body) != inbound.external_user_id:
        # A list shown in a channel thread is its owner's: nobody else may act on it (nor
        # have their own task of the same number changed by it).
        _respond(respond, SlackMessage(text=NOT_YOUR_LIST), response_type="ephemeral",
                 replace_original=False)
        return
    try:
        result = _service().handle(inbound)
    except (ChatBusy, SQLAlchemyError) as error:
        if not isinstance(error, ChatBusy):
            log.exception("database error on a Slack button")
        if not in_home:
            trouble = CHAT_BUSY if isinstance(error, ChatBusy) else DATABASE_TROUBLE
            _respond(respond, SlackMessage(text=trouble), response_type="ephemeral",
                     replace_original=False)
        return
    if result.reply is None:
        return
    if in_home:
        _publish_home(client, inbound.external_user_id, result.reply)
    else:
        _respond(respond, render_single(result.reply, inbound.external_user_id),
                 replace_original=True)


def add_message_as_task(ack: Ack, body: dict[str, Any], context: BoltContext,
                        respond: Respond, client: WebClient) -> None:
    """The "Add as task" message shortcut: a task titled after the message, linking back."""
    ack()
    permalink = _permalink(client, body)
    inbound = shortcut_inbound(body, _workspace(context), permalink)
    if inbound is None:
        return
    try:
        result = _service().handle(inbound)
    except ChatBusy:
        _respond(respond, SlackMessage(text=CHAT_BUSY), response_type="ephemeral")
        return
    except SQLAlchemyError:
        log.exception("database error in the Slack message shortcut")
        _respond(respond, SlackMessage(text=DATABASE_TROUBLE), response_type="ephemeral")
        return
    if result.reply is not None:
        for message in render_reply(result.reply, inbound.external_user_id):
            _respond(respond, message, response_type="ephemeral")


def _permalink(client: WebClient, body: dict[str, Any]) -> str:
    channel = str((body.get("channel") or {}).get("id") or "")
    ts = str((body.get("message") or {}).get("ts") or body.get("message_ts") or "")
    try:
        response = client.chat_getPermalink(channel=channel, message_ts=ts)
        link = response.get("permalink")
        if isinstance(link, str) and link:
            return link
    except SlackApiError as error:
        log.warning("chat.getPermalink failed (%s); using the documented link shape",
                    error.response.get("error"))
    return fallback_permalink(body)
