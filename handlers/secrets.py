"""Secrets from SSM Parameter Store, loaded into the environment before settings are built.

In AWS the bot tokens, signing and webhook secrets, the OpenAI key and the database URL are
SecureStrings under one path per stage (``/todobot/<stage>/TELEGRAM_BOT_TOKEN``, ...), never in
the template or the function's configuration. serverless.yml gives each function that path in
``TODOBOT_SSM_PATH``; the first call of :func:`load_secrets_into_environ` in a container reads
the whole path in one ``GetParametersByPath`` call (10 parameters to a page; more pages are
followed) and copies each value into ``os.environ`` under the last segment of its name, unless
the environment already has that variable (an empty one counts as unset): what the environment
says wins. When the environment already holds every secret (tests, local runs) SSM is not
called at all. Later calls return at once. Without ``TODOBOT_SSM_PATH`` (a laptop, CI), or
under serverless-offline with no SSM endpoint configured, nothing happens.

Only names that are Todobot settings are copied (an SSM parameter called ``PATH`` or
``AWS_REGION`` is refused, not exported), and values are never logged: only names and timing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

log = logging.getLogger(__name__)

SSM_PATH_VARIABLE = "TODOBOT_SSM_PATH"
PAGE_SIZE = 10  # GetParametersByPath's maximum
SECRET_NAMES = frozenset({
    "DATABASE_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET", "OPENAI_API_KEY",
})
"""When the environment already has all of these, SSM is not called at all."""


@dataclass(frozen=True)
class SecretsLoad:
    """What one load did: names only, never values."""

    path: str
    loaded: tuple[str, ...] = ()
    already_set: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    calls: int = 0
    seconds: float = 0.0


_lock = threading.Lock()
_done: SecretsLoad | None = None


def setting_names() -> frozenset[str]:
    """The environment variables Todobot's settings read (``Settings`` field names, upper
    case): the only names an SSM parameter may set."""
    from bot_core.settings import Settings

    return frozenset(name.upper() for name in Settings.model_fields)


def load_secrets_into_environ(client: SSMClient | None = None) -> SecretsLoad | None:
    """Load the stage's parameters into ``os.environ`` once per process.

    Returns what the first load did (``None`` when no SSM path is configured); cheap and
    side-effect free on every later call. Raises (and stays unloaded, so the next invocation
    tries again) when SSM cannot be read: a function without its secrets must not run.
    """
    global _done
    if _done is not None:
        return _done
    path = os.environ.get(SSM_PATH_VARIABLE, "").strip()
    if not path or _offline_without_ssm():
        return None
    with _lock:
        if _done is None:
            _done = _load(_normalised(path), client)
    return _done


def reset() -> None:
    """Forget the load (tests)."""
    global _done
    with _lock:
        _done = None


def _offline_without_ssm() -> bool:
    """Under serverless-offline (``IS_OFFLINE``) the environment is the configuration, unless
    an SSM endpoint is given explicitly (a local SSM such as moto's server)."""
    if not os.environ.get("IS_OFFLINE"):
        return False
    return not (os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL"))


def _normalised(path: str) -> str:
    """``todobot/dev/`` and ``/todobot/dev`` both mean ``/todobot/dev``."""
    return "/" + path.strip("/")


def _load(path: str, client: SSMClient | None) -> SecretsLoad:
    allowed = setting_names()
    wanted = {name for name in allowed if not os.environ.get(name)}
    started = time.perf_counter()
    if not wanted & SECRET_NAMES:
        # Every secret is in the environment already: no call at all.
        return SecretsLoad(path=path, already_set=tuple(sorted(SECRET_NAMES)))
    if client is None:
        import boto3

        client = boto3.client("ssm")
    loaded: list[str] = []
    refused: list[str] = []
    already: list[str] = []
    calls = 0
    token: str | None = None
    prefix = path + "/"
    while True:
        calls += 1
        if token:
            page = client.get_parameters_by_path(Path=path, Recursive=False,
                                                 WithDecryption=True, MaxResults=PAGE_SIZE,
                                                 NextToken=token)
        else:
            page = client.get_parameters_by_path(Path=path, Recursive=False,
                                                 WithDecryption=True, MaxResults=PAGE_SIZE)
        for parameter in page.get("Parameters", []):
            full_name = parameter.get("Name", "")
            name = full_name[len(prefix):] if full_name.startswith(prefix) else full_name
            if name not in allowed:
                refused.append(name)
            elif name not in wanted:
                already.append(name)
            else:
                os.environ[name] = parameter.get("Value", "")
                loaded.append(name)
        token = page.get("NextToken")
        if not token:
            break
    result = SecretsLoad(
        path=path, loaded=tuple(sorted(loaded)), already_set=tuple(sorted(already)),
        refused=tuple(sorted(refused)), calls=calls,
        seconds=time.perf_counter() - started,
    )
    log.info("loaded %s from SSM %s in %d call(s), %.0f ms (kept from the environment: %s)",
             ", ".join(result.loaded) or "nothing", path, calls, result.seconds * 1000,
             ", ".join(result.already_set) or "none")
    if refused:
        log.warning("ignored SSM parameters under %s that are not Todobot settings: %s",
                    path, ", ".join(result.refused))
    return result
