"""The Bolt app: Bolt verifies the signature and routes; every listener translates the payload
into a :class:`QueuedDelivery` (``inbound``), enqueues it and acks — well within Slack's 3 s.
The worker runs the turn and answers (``sender``).

Where answers go (the delivery's target):
- slash commands and the shortcut: ephemeral, through ``response_url``: it works in channels the
  bot is not a member of, which ``chat.postEphemeral`` does not;
- DMs and mentions: ``chat.postMessage`` (a mention in its thread);
- button presses: the message they were under, replaced in place (``replace_original``), or the
  Home tab re-published when pressed there.

The allow-list (``SLACK_ALLOWED_TEAMS``, :mod:`handlers.access`): a request from a team that is
not on it is acknowledged and becomes a ``stranger`` delivery (what they sent does not travel
further): the worker answers each such person once — ephemeral through response_url for a
command, a button or the shortcut, in the DM or thread for a message — and writes nothing
else. The Home tab of a stranger is not drawn.

A retry from Slack, for whatever reason, is enqueued again: the queue's deduplication id and the
delivery claim make it run at most once, and never not at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse, Respond
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.middleware.request_verification import RequestVerification
from slack_bolt.oauth import OAuthFlow
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.signature import Clock, SignatureVerifier

from bot_core.inbound import Inbound
from bot_core.reply import Reply
from bot_core.service import needs_brain
from bot_core.settings import Settings
from handlers.access import Access
from handlers.delivery import Admission, DeliveryKind, QueuedDelivery, group_of
from handlers.slack.inbound import (
    ACTION_ID_PATTERN,
    PLATFORM,
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
from handlers.slack.oauth import register_uninstall_listeners
from handlers.slack.sender import retry_handlers
from models.types import utcnow

log = logging.getLogger(__name__)

Enqueue = Callable[[QueuedDelivery], None]
SHORTCUT_CALLBACK_ID = "add_as_task"
NOT_TAKEN = (
    "Sorry, I couldn't take that just now, so nothing was saved. Please try again in a moment."
)
NOT_YOUR_LIST = "That list belongs to someone else — `/todo list` shows yours."
_ANY = re.compile(r".*")
VERIFIED = "todobot_verified"
"""Context key set once the request's signature has been verified."""
MALFORMED_PAYLOAD_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)


class SlackNotConfigured(RuntimeError):
    """SLACK_SIGNING_SECRET is missing, or both SLACK_BOT_TOKEN and the OAuth client."""


class NotQueued(RuntimeError):
    """An event's delivery could not be queued (with the in-process queue: run). Bolt answers
    500 and Slack delivers it again; never taken for a malformed payload (:func:`on_error`)."""


class SlackGate(RequestVerification):
    """Bolt's signature check (v0 HMAC, 300 s window) with an injectable clock, so that
    Slack's documented example (timestamp 1531420618) can be verified; marks the request as
    verified for :func:`on_error`."""

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        super().__init__(signing_secret)
        self._todobot_verifier = SignatureVerifier(signing_secret, clock=clock or Clock())

    @property
    def verifier(self) -> SignatureVerifier:
        return self._todobot_verifier

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        def verified() -> BoltResponse:
            req.context[VERIFIED] = True
            return next()

        return super().process(req=req, resp=resp, next=verified)

    def _debug_log_error(self, signature: Any, timestamp: Any, body: Any) -> None:
        # Bolt's version logs the body, which holds the response_url and the legacy token.
        log.info("rejected a Slack request with an invalid or stale signature (ts=%s)", timestamp)


class _QuietTokenWarning(logging.Filter):
    """Bolt warns on every cold start that ``SLACK_BOT_TOKEN`` is unused when a client is given;
    we give the client on purpose (it carries ``SLACK_API_BASE_URL``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


@dataclass(frozen=True)
class SlackOAuth:
    """The parts of the any-workspace mode: Bolt's OAuth flow, the authorize that finds each
    request's workspace token in the store (and refreshes it), and the store itself."""

    flow: OAuthFlow
    authorize: Authorize
    store: InstallationStore


def build_bolt_app(settings: Settings, enqueue: Enqueue, *, clock: Clock | None = None,
                   oauth: SlackOAuth | None = None, client: WebClient | None = None) -> App:
    """The Bolt app, built once per container: no network at start-up (token verification
    off), listeners run before the response (``process_before_response``, as Lambda needs).
    With ``oauth`` it serves any workspace that installed it; otherwise the one of
    ``SLACK_BOT_TOKEN``. ``client``: the Web API client without a token (its base URL)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    secret = (settings.slack_signing_secret.get_secret_value()
              if settings.slack_signing_secret else "")
    if not secret:  # an empty signing secret would let anyone sign requests
        raise SlackNotConfigured("SLACK_SIGNING_SECRET must be set")
    if oauth is None and not token:
        raise SlackNotConfigured("SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                                 "SLACK_CLIENT_SECRET (any workspace) must be set")
    base = client or api_client(settings)
    bolt_logger = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _QuietTokenWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_QuietTokenWarning())
    app = App(
        name="todobot",
        client=WebClient(token=(token or None) if oauth is None else None,
                         base_url=base.base_url, timeout=base.timeout,
                         retry_handlers=list(base.retry_handlers)),
        signing_secret=secret,
        token_verification_enabled=False,
        process_before_response=True,
        request_verification_enabled=False,
        before_authorize=SlackGate(secret, clock),
        raise_error_for_unhandled_request=True,
        oauth_flow=oauth.flow if oauth is not None else None,
        # Bolt's annotation wants a plain callable; an Authorize instance is what it documents.
        authorize=cast(Any, oauth.authorize) if oauth is not None else None,
    )
    app.error(on_error)
    if oauth is not None:
        register_uninstall_listeners(app, oauth.store)
    register_listeners(app, Listeners(enqueue, Access.from_settings(settings)))
    return app


def api_client(settings: Settings) -> WebClient:
    """A Web API client on ``SLACK_API_BASE_URL`` with no token (the base of every client)."""
    base_url = settings.slack_api_base_url
    return WebClient(base_url=base_url if base_url.endswith("/") else base_url + "/",
                     timeout=10, retry_handlers=retry_handlers())


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




def register_listeners(app: App, listeners: Listeners) -> None:
    """First match wins, so the catch-alls come last: anything we do not handle is still
    answered 200 (a 404 would make Slack retry events and show errors for buttons)."""
    app.command(re.compile(r"^/"))(listeners.command)
    for kind in ("message", "app_mention"):
        app.event(kind)(listeners.message)
    app.event("app_home_opened")(listeners.home)
    app.event(_ANY)(ignore)
    app.action(ACTION_ID_PATTERN)(listeners.button)
    app.action(_ANY)(acknowledge)
    app.message_shortcut(SHORTCUT_CALLBACK_ID)(listeners.shortcut)
    app.shortcut(_ANY)(acknowledge)


def acknowledge(ack: Ack) -> None:
    ack()


def ignore() -> None:
    """Events we do not act on (channel messages, edits, bots...): acknowledged, nothing else."""


class Listeners:
    """Payload -> delivery -> queue. Events whose delivery could not be queued raise (Bolt
    answers 500 and Slack delivers again); commands and interactions, which Slack does not
    deliver again, tell the user instead."""

    def __init__(self, enqueue: Enqueue, access: Access | None = None) -> None:
        self._enqueue = enqueue
        self._access = access or Access()

    def _admitted(self, context: BoltContext) -> bool:
        return self._access.slack(context.team_id, context.enterprise_id)

    def command(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        """``/todo ...``: queued, acknowledged with nothing to show; the answer comes through
        response_url."""
        inbound = command_inbound(body, _workspace(context))
        if inbound is None:
            ack()
            return
        target = {"mode": "respond", "response_url": _str(body.get("response_url")),
                  "user": inbound.external_user_id}
        delivery = (_delivery("turn", inbound, target) if self._admitted(context)
                    else _stranger(inbound, target))
        if not self._queue(delivery, context):
            ack(text=NOT_TAKEN, response_type="ephemeral")
            return
        ack()

    def message(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        """A DM or a mention: answered in the DM, or in the mention's thread."""
        ack()
        inbound = event_inbound(body, _workspace(context), context.bot_user_id, context.bot_id)
        if inbound is None:
            return
        target = {"mode": "post", "channel": inbound.chat_id, "thread_ts": reply_thread(body),
                  "user": inbound.external_user_id}
        if not self._admitted(context):
            self._queue_event(_stranger(inbound, target), context)
            return
        self._queue_event(_delivery("turn", inbound, target, chat_target=target), context)

    def home(self, ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        """The Home tab shows the user's open tasks with their buttons."""
        ack()
        if not self._admitted(context):
            return  # nothing to show a stranger; they are answered when they write
        inbound = home_inbound(body, _workspace(context))
        if inbound is None:
            return
        target = {"mode": "home", "user": inbound.external_user_id}
        self._queue_event(_delivery("overview", inbound, target), context)

    def button(self, ack: Ack, body: dict[str, Any], context: BoltContext,
               respond: Respond) -> None:
        """Done / Reopen / Delete under a list: the list redrawn in place (the message, or the
        Home tab); a press under someone else's list is refused, to the presser only."""
        ack()
        inbound = action_inbound(body, _workspace(context))
        if inbound is None:
            return
        url = _str(body.get("response_url"))
        presser = inbound.external_user_id
        if not self._admitted(context):
            delivery = _stranger(inbound, {"mode": "respond", "response_url": url,
                                           "user": presser})
        elif button_owner(body) != presser:
            # A list shown in a channel thread is its owner's: nobody else may act on it (nor
            # have their own task of the same number changed by it).
            delivery = _delivery("say", inbound, {"mode": "respond", "response_url": url,
                                                  "user": presser},
                                 reply=Reply(text=NOT_YOUR_LIST))
        else:
            in_home = (body.get("container") or {}).get("type") == "view"
            mode = "home" if in_home else "replace"
            delivery = _delivery("turn", inbound, {"mode": mode, "response_url": url,
                                                   "user": presser})
        if not self._queue(delivery, context):
            respond(text=NOT_TAKEN, response_type="ephemeral", replace_original=False)

    def shortcut(self, ack: Ack, body: dict[str, Any], context: BoltContext,
                 client: WebClient) -> None:
        """The "Add as task" message shortcut: a task titled after the message, linking back."""
        ack()
        admitted = self._admitted(context)
        inbound = shortcut_inbound(body, _workspace(context),
                                   _permalink(client, body) if admitted else "")
        if inbound is None:
            return
        target = {"mode": "respond", "response_url": _str(body.get("response_url")),
                  "user": inbound.external_user_id}
        delivery = (_delivery("turn", inbound, target) if admitted
                    else _stranger(inbound, target))
        if not self._queue(delivery, context):
            log.error("a message shortcut could not be queued")

    def _queue_event(self, delivery: QueuedDelivery, context: BoltContext) -> None:
        try:
            self._enqueue(with_tenant(delivery, context))
        except Exception as error:
            raise NotQueued(f"a Slack {delivery.kind} could not be queued") from error

    def _queue(self, delivery: QueuedDelivery, context: BoltContext) -> bool:
        try:
            self._enqueue(with_tenant(delivery, context))
        except Exception:  # logged; the caller tells the user, who may simply try again
            log.exception("a Slack %s could not be queued", delivery.kind)
            return False
        return True


def _delivery(kind: DeliveryKind, inbound: Inbound, target: dict[str, Any], *,
              key: str | None = None, reply: Reply | None = None,
              chat_target: dict[str, Any] | None = None) -> QueuedDelivery:
    """The delivery; its chat target (where reminders of tasks made here go) is the DM or
    thread it came from, and for a slash command, button or Home tab the user's DM with the
    app (a response_url expires within 30 minutes)."""
    user = inbound.external_user_id
    return QueuedDelivery(
        chat_target=chat_target or {"mode": "post", "channel": user, "user": user},
        kind=kind, platform=PLATFORM, group=group_of(inbound), target=target,
        inbound=inbound if kind != "say" else None, reply=reply,
        workspace=inbound.workspace, delivery_key=key or inbound.delivery_key,
        received_at=utcnow(), thinks=kind == "turn" and needs_brain(inbound),
    )


def _stranger(inbound: Inbound, target: dict[str, Any]) -> QueuedDelivery:
    """Someone from a team the allow-list does not admit: answered once at ``target``; what
    they sent is not carried."""
    return QueuedDelivery(
        kind="stranger", platform=PLATFORM, group=group_of(inbound), target=target,
        workspace=inbound.workspace, delivery_key=inbound.delivery_key, received_at=utcnow(),
        admission=Admission(external_id=inbound.external_user_id),
    )


def with_tenant(delivery: QueuedDelivery, context: BoltContext) -> QueuedDelivery:
    """In an Enterprise Grid org the identity scope is the org, so the targets also name the
    team and whether the install is org-wide: which installation's token sends there."""
    if not context.enterprise_id:
        return delivery
    tenant = {"team": context.team_id, "org": bool(context.is_enterprise_install)}
    chat_target = delivery.chat_target
    return delivery.model_copy(update={
        "target": {**delivery.target, **tenant},
        "chat_target": {**chat_target, **tenant} if chat_target is not None else None,
    })


def _workspace(context: BoltContext) -> str:
    return workspace_of(context.enterprise_id, context.team_id)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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
