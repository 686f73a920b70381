"""The composition root: everything a process needs, built once from the settings.

Each Lambda function's module builds the parts its function uses while it is imported — at
INIT, where provisioned concurrency and SnapStart hide the work — without touching the network
(no database connection, no getMe, no auth.test): settings, engine, service, clients, queue.
The local server, the CLI and the tests use the same root; tests build one with fakes
(:func:`install`) or from their environment (:func:`reset`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from bot_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_sdk import WebClient
    from slack_sdk.signature import Clock
    from sqlalchemy import Engine

    from bot_core.brains.base import Brain
    from bot_core.outbox import Outbox
    from bot_core.reminders import Reminders
    from bot_core.service import TodoService
    from handlers.aws.sqs_queue import SqsQueue
    from handlers.delivery import Deliverer, Enqueuer, ReplySender
    from handlers.processing import Worker
    from handlers.slack.app import SlackOAuth
    from handlers.slack.installations import ClockedStateStore, SealedInstallationStore
    from handlers.slack.workspaces import WorkspaceClients
    from handlers.telegram.client import BotIdentity, TelegramClient
    from handlers.telegram.webhook import TelegramWebhook
    from models.sealed import TokenCipher

log = logging.getLogger(__name__)
T = TypeVar("T")


class NotConfigured(RuntimeError):
    """A platform's credentials are missing from the environment."""


class Root:
    """The process's parts, each built on first use and then kept (``warm`` builds them up
    front). Thread-safe: the local server's threads may reach a part first at the same time."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 brain: Brain | None = None, clock: Callable[[], datetime] | None = None,
                 slack_clock: Clock | None = None, pool_size: int = 2) -> None:
        self.settings = settings
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._engine = engine
        self._owns_engine = engine is None
        self._brain = brain
        self._slack_clock = slack_clock
        self._pool_size = pool_size
        self._lock = threading.RLock()
        self._parts: dict[str, Any] = {}

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            part: T = self._parts[name]
            return part

    def part(self, name: str, build: Callable[[], T]) -> T:
        """A part a function module adds to the root (built once, kept with the root)."""
        return self._once(name, build)

    @property
    def slack_clock(self) -> Clock | None:
        """The Slack signature check's clock when a test fixed it."""
        return self._slack_clock

    def warm(self, *names: str) -> Root:
        """Build these parts now (INIT); returns the root."""
        for name in names:
            getattr(self, name)
        return self

    # -- storage and the core --------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        def build() -> Engine:
            if self._engine is not None:
                return self._engine
            from handlers.aws.lambda_db import engine_options
            from models.db import create_db_engine

            return create_db_engine(self.settings.database_url,
                                    **engine_options(self._pool_size))
        return self._once("engine", build)

    @property
    def service(self) -> TodoService:
        def build() -> TodoService:
            from bot_core.bootstrap import build_service

            return build_service(self.settings, engine=self.engine, brain=self._brain,
                                 clock=self.clock)
        return self._once("service", build)

    @property
    def outbox(self) -> Outbox:
        def build() -> Outbox:
            from bot_core.outbox import Outbox

            return Outbox(self.engine, self.clock)
        return self._once("outbox", build)

    @property
    def reminders(self) -> Reminders:
        def build() -> Reminders:
            from functools import partial

            from bot_core.reminders import Reminders
            from models.db import UnitOfWork

            return Reminders(partial(UnitOfWork, self.engine), self.clock)
        return self._once("reminders", build)

    # -- platforms -------------------------------------------------------------------------

    @property
    def telegram_client(self) -> TelegramClient:
        def build() -> TelegramClient:
            from handlers.telegram.client import TelegramClient

            token = self.settings.telegram_bot_token
            if token is None or not token.get_secret_value():
                raise NotConfigured("TELEGRAM_BOT_TOKEN is not set")
            return TelegramClient(token.get_secret_value(), self.settings.telegram_api_base_url,
                                  self.settings.telegram_bot_username)
        return self._once("telegram_client", build)

    @property
    def slack_api(self) -> WebClient:
        """A Web API client with no token on ``SLACK_API_BASE_URL``: the base of every other."""
        def build() -> WebClient:
            from handlers.slack.app import api_client

            return api_client(self.settings)
        return self._once("slack_api", build)

    @property
    def slack_client(self) -> WebClient:
        """The single workspace's Web API client (``SLACK_BOT_TOKEN``)."""
        def build() -> WebClient:
            from slack_sdk import WebClient

            token = self.settings.slack_bot_token
            if token is None or not token.get_secret_value():
                raise NotConfigured("SLACK_BOT_TOKEN is not set")
            base = self.slack_api
            return WebClient(token=token.get_secret_value(), base_url=base.base_url,
                             timeout=base.timeout, retry_handlers=list(base.retry_handlers))
        return self._once("slack_client", build)

    def slack_client_for(self, workspace: str, team: str | None = None,
                         org: bool = False) -> WebClient:
        """The Web API client that speaks for ``workspace`` (in an Enterprise Grid org, for its
        ``team``, or the org-wide install): its installation's token with OAuth (refreshed
        when it is about to expire; :class:`NotInstalled` when there is none), else the one
        workspace's."""
        if self.settings.slack_oauth:
            return self.slack_workspaces.client_for(workspace, team, org)
        return self.slack_client

    @property
    def token_cipher(self) -> TokenCipher:
        def build() -> TokenCipher:
            from models.sealed import TokenCipher

            key = self.settings.todobot_encryption_key
            if key is None or not key.get_secret_value():
                raise NotConfigured("TODOBOT_ENCRYPTION_KEY is not set (it seals the Slack "
                                    "tokens that OAuth installs store)")
            return TokenCipher.from_setting(key.get_secret_value())
        return self._once("token_cipher", build)

    @property
    def slack_installations(self) -> SealedInstallationStore:
        def build() -> SealedInstallationStore:
            from handlers.slack.installations import SealedInstallationStore

            client_id = self.settings.slack_client_id
            if not self.settings.slack_oauth or client_id is None:
                raise NotConfigured("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are not set")
            return SealedInstallationStore(client_id, self.engine, self.token_cipher)
        return self._once("slack_installations", build)

    @property
    def slack_states(self) -> ClockedStateStore:
        def build() -> ClockedStateStore:
            from handlers.slack.installations import ClockedStateStore

            return ClockedStateStore(self.settings.slack_state_seconds, self.engine,
                                     self.clock)
        return self._once("slack_states", build)

    @property
    def slack_workspaces(self) -> WorkspaceClients:
        def build() -> WorkspaceClients:
            from slack_sdk.oauth.token_rotation import TokenRotator

            from handlers.slack.workspaces import WorkspaceClients

            secret = self.settings.slack_client_secret
            rotator = TokenRotator(client_id=self.settings.slack_client_id or "",
                                   client_secret=secret.get_secret_value() if secret else "",
                                   client=self.slack_api)
            return WorkspaceClients(self.slack_installations, rotator, self.slack_api)
        return self._once("slack_workspaces", build)

    @property
    def slack_oauth(self) -> SlackOAuth | None:
        """The any-workspace parts of the Bolt app, None with one workspace's token."""
        def build() -> SlackOAuth | None:
            if not self.settings.slack_oauth:
                return None
            from slack_bolt.authorization.authorize import InstallationStoreAuthorize

            from handlers.slack.app import SlackOAuth
            from handlers.slack.oauth import TOKEN_ROTATION_MINUTES, build_oauth_flow

            store = self.slack_installations
            secret = self.settings.slack_client_secret
            authorize = InstallationStoreAuthorize(
                logger=logging.getLogger("todobot.slack.authorize"), installation_store=store,
                client_id=self.settings.slack_client_id,
                client_secret=secret.get_secret_value() if secret else None,
                token_rotation_expiration_minutes=TOKEN_ROTATION_MINUTES,
                # auth.test once per token and container, not on every request's ack path
                cache_enabled=True, client=self.slack_api,
                # The bot rows only, as the worker's and scheduler's clients read them: a token
                # one path refreshed is the one the other finds (Slack uses a refresh token once).
                bot_only=True)
            flow = build_oauth_flow(self.settings, store, self.slack_states, self.slack_api)
            return SlackOAuth(flow=flow, authorize=authorize, store=store)
        return self._once("slack_oauth", build)

    @property
    def senders(self) -> dict[str, ReplySender]:
        """A sender per configured platform (a platform without credentials has none: its
        rows wait, logged, until it is configured)."""
        def build() -> dict[str, ReplySender]:
            senders: dict[str, ReplySender] = {}
            if self.settings.telegram_bot_token is not None:
                from handlers.telegram.sender import TelegramReplySender

                senders["telegram"] = TelegramReplySender(self.telegram_client.bot)
            if self.settings.slack_configured:
                from handlers.slack.sender import SlackReplySender

                senders["slack"] = SlackReplySender(self.slack_client_for)
            return senders
        return self._once("senders", build)

    # -- the pipeline ----------------------------------------------------------------------

    @property
    def deliverer(self) -> Deliverer:
        def build() -> Deliverer:
            from handlers.delivery import Deliverer

            return Deliverer(self.outbox, self.senders)
        return self._once("deliverer", build)

    @property
    def worker(self) -> Worker:
        def build() -> Worker:
            from handlers.processing import Worker

            enrich = {}
            if self.settings.slack_configured:
                from handlers.slack.people import SlackPeople

                enrich["slack"] = SlackPeople(self.slack_client_for).with_timezone
            return Worker(self.service, self.deliverer, enrich,
                          engine=self.engine, clock=self.clock)
        return self._once("worker", build)

    @property
    def queue(self) -> Enqueuer:
        """SQS when ``TODOBOT_QUEUE_URL`` is set, else the in-process queue (which runs the
        worker right away, so the webhook answers after the reply is sent)."""
        def build() -> Enqueuer:
            url = self.settings.todobot_queue_url
            if url:
                from handlers.aws.delivery_queue import SqsDeliveryQueue

                return SqsDeliveryQueue(url)
            from handlers.local_queue import LocalQueue

            return LocalQueue(self.worker)
        return self._once("queue", build)

    @property
    def sqs_queue(self) -> SqsQueue | None:
        """The SQS queue itself (the worker's retry delays), None with the in-process queue."""
        queue = self.queue
        from handlers.aws.delivery_queue import SqsDeliveryQueue

        return queue.sqs if isinstance(queue, SqsDeliveryQueue) else None

    def telegram_identity(self, with_username: bool) -> BotIdentity:
        return self.telegram_client.identity(with_username=with_username)

    @property
    def telegram_webhook(self) -> TelegramWebhook:
        def build() -> TelegramWebhook:
            from handlers.telegram.webhook import TelegramWebhook

            return TelegramWebhook(self.settings, self.telegram_identity, self.queue)
        return self._once("telegram_webhook", build)

    @property
    def bolt_app(self) -> App:
        def build() -> App:
            from handlers.slack.app import build_bolt_app

            return build_bolt_app(self.settings, self.queue.enqueue, clock=self._slack_clock,
                                  oauth=self.slack_oauth, client=self.slack_api)
        return self._once("bolt_app", build)

    def close(self) -> None:
        """Release connections and HTTP pools (tests, and SnapStart's before-snapshot hook)."""
        with self._lock:
            client = self._parts.get("telegram_client")
            engine = self._parts.get("engine")
        if client is not None:
            from handlers import event_loop

            try:
                event_loop.run(client.aclose(), timeout=10)
            except Exception as error:  # noqa: BLE001 - closing is best effort
                log.warning("closing the Telegram client failed: %s", type(error).__name__)
        if engine is not None and self._owns_engine:
            engine.dispose()


_lock = threading.Lock()
_root: Root | None = None


def root(*, pool_size: int = 2) -> Root:
    """The process's root, built from the environment on first use (secrets from SSM first,
    in AWS); ``pool_size``: database connections the process uses at once (the worker's is
    one per message group it runs side by side)."""
    global _root
    with _lock:
        if _root is None:
            from handlers.aws.secrets import load_secrets_into_environ

            load_secrets_into_environ()
            _root = Root(get_settings(), pool_size=pool_size)
        return _root


def install(new: Root) -> None:
    """Use ``new`` as the process's root (tests)."""
    global _root
    with _lock:
        old, _root = _root, new
    if old is not None and old is not new:
        old.close()


def reset() -> None:
    """Close and forget the root and the settings, so the next :func:`root` reads the
    environment anew (tests that change it)."""
    global _root
    with _lock:
        old, _root = _root, None
    get_settings.cache_clear()
    if old is not None:
        old.close()

