"""Typed settings from the environment, built on first use (never at import: cold starts)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.defaults import DEFAULT_SQLITE_URL


class Settings(BaseSettings):
    """Everything Todobot reads from its environment. Secrets are ``SecretStr`` so that they
    never end up in a log line or a repr by accident."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str = DEFAULT_SQLITE_URL

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    # The bot's @username, to recognise mentions in groups without asking getMe; when unset,
    # getMe is called once per process, the first time a group message needs it.
    telegram_bot_username: str | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    # Any workspace (OAuth, "Add to Slack"): with both set, each workspace's own token comes
    # from the installation store; without them, SLACK_BOT_TOKEN serves one workspace.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    # The bot scopes the install asks for (the manifest's, kept equal by a test).
    slack_scopes: str = ("app_mentions:read,chat:write,commands,files:write,im:history,"
                         "im:write,users:read")
    # The redirect URL registered in the app's settings; needed when it lists several.
    slack_redirect_uri: str | None = None
    # How long an "Add to Slack" link (its OAuth state) stays valid.
    slack_state_seconds: int = Field(default=600, ge=60, le=86_400)
    # Fernet key(s) sealing Slack tokens at rest: "new" or "new,old" while rotating.
    todobot_encryption_key: SecretStr | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=5)
    llm_max_tool_rounds: int = Field(default=5, ge=1, le=20)
    # The whole LLM turn, every round and retry included: the worker takes a free-text record
    # only with this much time left (plus the send's), so the user always hears back.
    llm_turn_budget_seconds: float = Field(default=60.0, gt=0)

    # The SQS FIFO queue the webhooks hand deliveries to; unset: the in-process queue, where
    # the webhook itself runs the turn and sends the reply before it answers.
    todobot_queue_url: str | None = None
    # Its dead-letter queue and redrive policy's maxReceiveCount: the worker moves a record that
    # keeps failing there itself (see handlers/aws/sqs_batch.py), so that the records of its
    # group behind it (received, and counted, with it each time) do not follow it there.
    todobot_dead_letter_queue_url: str | None = None
    todobot_queue_max_receives: int = Field(default=20, ge=1, le=1000)

    history_max_messages: int = Field(default=20, ge=0, le=200)
    history_max_chars: int = Field(default=8000, ge=0)

    # Who may talk to the bot (unset: everyone). Telegram: user ids, @usernames and group chat
    # ids, separated by commas or spaces; a group an allowed user adds the bot to is allowed
    # too. Slack: team (or Enterprise Grid) ids.
    telegram_allowed_users: str | None = None
    slack_allowed_teams: str | None = None
    # Messages and button presses per user per minute, counted in the database (0: no limit).
    messages_per_minute_per_user: int = Field(default=30, ge=0, le=10_000)
    # Model tokens (prompt + completion) per user per local day, and for everyone per UTC
    # month (0: no cap); past them the offline rules brain answers.
    llm_daily_tokens_per_user: int = Field(default=200_000, ge=0)
    llm_monthly_tokens: int = Field(default=0, ge=0)
    # USD per million (prompt, completion) tokens per model, for `todobot usage`'s estimate.
    llm_prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: {
        "gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1": (2.00, 8.00),
    })
    # Messages older than this are pruned by the scheduler; tasks are never pruned.
    message_retention_days: int = Field(default=90, ge=1, le=36_500)

    @property
    def slack_oauth(self) -> bool:
        """True when Slack runs for any workspace (OAuth installs), not one token."""
        return bool(self.slack_client_id and self.slack_client_secret
                    and self.slack_client_secret.get_secret_value())

    @property
    def slack_configured(self) -> bool:
        """True when Slack can answer: one workspace's token, or OAuth."""
        return self.slack_oauth or bool(self.slack_bot_token
                                        and self.slack_bot_token.get_secret_value())

    @property
    def slack_authorize_url(self) -> str:
        """Slack's consent page, next to its Web API (``<base>/oauth/v2/authorize``)."""
        base = self.slack_api_base_url.rstrip("/")
        return base.removesuffix("/api") + "/oauth/v2/authorize"

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible endpoint is configured (key or base URL); otherwise
        the offline rules brain answers."""
        return bool(self.openai_api_key or self.openai_base_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment the first time they are needed."""
    return Settings()
