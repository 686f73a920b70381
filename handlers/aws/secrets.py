"""Secrets from SSM Parameter Store, loaded into the environment before settings are built.

In AWS the bot tokens, signing and webhook secrets, the OpenAI key, the encryption key and the
database URL are SecureStrings under one path per stage (``/todobot/<stage>/TELEGRAM_BOT_TOKEN``,
...), never in the template or the function's configuration. serverless.yml gives each function
that path in ``TODOBOT_SSM_PATH`` and the names of the parameters that function needs, and no
others, in ``TODOBOT_SSM_SECRETS`` (comma-separated); its IAM role may read exactly those
parameters (infra/iam.yml), so the Telegram webhook cannot read Slack's tokens.

The first call of :func:`load_secrets_into_environ` in a process reads those names with
``GetParameters`` (with decryption; at most 10 names a call, so one call for every function
today) and copies each value into ``os.environ``, unless the environment already has that
variable (an empty one counts as unset): what the environment says wins. A name that is not in
SSM is fine (no ``OPENAI_API_KEY`` means the offline brain); it is reported, not an error. When
the environment already holds every wanted name (tests, local runs) SSM is not called at all.
Later calls return at once. Without ``TODOBOT_SSM_PATH`` (a laptop, CI), or under
serverless-offline with no SSM endpoint configured, nothing happens.

Only names that are Todobot settings (:func:`setting_names`: ``Settings``' fields, upper case)
are read: a ``PATH`` or ``AWS_REGION`` in
``TODOBOT_SSM_SECRETS`` is refused, never requested nor exported. Values are never logged: only
names and timing.

Called during Lambda's INIT (a handler module building its stack at import), the values become
part of the function's SnapStart snapshot when SnapStart is on (Lambda encrypts snapshots):
restored copies do not read SSM again, so a changed parameter takes effect with the next
published version (a deploy) rather than in the next new container.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

log = logging.getLogger(__name__)

SSM_PATH_VARIABLE = "TODOBOT_SSM_PATH"
SSM_SECRETS_VARIABLE = "TODOBOT_SSM_SECRETS"
MAX_NAMES_PER_CALL = 10  # GetParameters' maximum


@dataclass(frozen=True)
class SecretsLoad:
    """What one load did: names only, never values."""

    path: str
    loaded: tuple[str, ...] = ()
    """Read from SSM into the environment."""
    already_set: tuple[str, ...] = ()
    """Wanted, but the environment had them already (not requested)."""
    missing: tuple[str, ...] = ()
    """Requested, but there is no such parameter (an optional setting left out)."""
    refused: tuple[str, ...] = ()
    """In ``TODOBOT_SSM_SECRETS`` but not Todobot settings: never requested."""
    calls: int = 0
    seconds: float = 0.0


_lock = threading.Lock()
_done: SecretsLoad | None = None


def setting_names() -> frozenset[str]:
    """The environment variables Todobot's settings read (``Settings`` field names, upper
    case): the only names an SSM parameter may set."""
    from bot_core.settings import Settings

    return frozenset(name.upper() for name in Settings.model_fields)


def wanted_names(value: str | None = None) -> tuple[str, ...]:
    """The names in ``TODOBOT_SSM_SECRETS`` (or ``value``): comma-separated, blanks around
    them and empty entries ignored, each once, in their order."""
    raw = os.environ.get(SSM_SECRETS_VARIABLE, "") if value is None else value
    names = (name.strip() for name in raw.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


def load_secrets_into_environ(client: SSMClient | None = None) -> SecretsLoad | None:
    """Load this function's parameters into ``os.environ`` once per process.

    Returns what the first load did (``None`` when no SSM path is configured); cheap and
    side-effect free on every later call. Raises (and stays unloaded, with nothing exported, so
    the next invocation tries again) when SSM cannot be read: a function without its secrets
    must not run.
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
    """``todobot/dev/`` and ``/todobot/dev`` both mean ``/todobot/dev`` (and ``/`` the root)."""
    return "/" + path.strip("/")


def _chunks(names: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(names), size):
        yield names[start:start + size]


def _ssm_client() -> SSMClient:
    """The default client, with timeouts that fit a webhook's 10 s (boto3's are 60 s); boto3
    finds the endpoint itself (``AWS_ENDPOINT_URL_SSM``, ``AWS_ENDPOINT_URL``, AWS's)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3,
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("ssm", config=config)


def _load(path: str, client: SSMClient | None) -> SecretsLoad:
    started = time.perf_counter()
    allowed = setting_names()
    names = wanted_names()
    refused = tuple(sorted(name for name in names if name not in allowed))
    if refused:
        log.warning("%s names what is not a Todobot setting, not read: %s",
                    SSM_SECRETS_VARIABLE, ", ".join(refused))
    candidates = [name for name in names if name in allowed]
    already = tuple(sorted(name for name in candidates if os.environ.get(name)))
    wanted = [name for name in candidates if not os.environ.get(name)]
    if not names:
        log.warning("%s is set but %s is empty: no secrets read from SSM",
                    SSM_PATH_VARIABLE, SSM_SECRETS_VARIABLE)
    if not wanted:
        # Everything is in the environment already (or nothing is wanted): no call at all.
        return SecretsLoad(path=path, already_set=already, refused=refused)

    if client is None:
        client = _ssm_client()
    prefix = path.rstrip("/") + "/"
    values: dict[str, str] = {}
    missing: list[str] = []
    calls = 0
    for chunk in _chunks(wanted, MAX_NAMES_PER_CALL):
        calls += 1
        by_full_name = {prefix + name: name for name in chunk}
        response = client.get_parameters(Names=list(by_full_name), WithDecryption=True)
        for parameter in response.get("Parameters", []):
            name = by_full_name.get(parameter.get("Name", ""))
            if name is not None:
                values[name] = parameter.get("Value", "")
        missing.extend(by_full_name[full] for full in response.get("InvalidParameters", [])
                       if full in by_full_name)
    # Exported only once every call has succeeded: a failed load leaves the environment as it was.
    for name, value in values.items():
        os.environ[name] = value

    result = SecretsLoad(
        path=path, loaded=tuple(sorted(values)), already_set=already,
        missing=tuple(sorted(missing)), refused=refused, calls=calls,
        seconds=time.perf_counter() - started,
    )
    log.info("loaded %s from SSM %s in %d call(s), %.0f ms (kept from the environment: %s; "
             "not in SSM: %s)", ", ".join(result.loaded) or "nothing", path, calls,
             result.seconds * 1000, ", ".join(result.already_set) or "none",
             ", ".join(result.missing) or "none")
    return result
