"""Secrets at rest: a text column whose values are sealed with Fernet before they reach the
database, so that a copy of the database (a backup, a snapshot, a leaked dump) holds no usable
Slack token without the key, which lives in SSM, not in the database.

Fernet (AES-128-CBC with HMAC-SHA256, a timestamp and a version byte) is ``cryptography``'s
recipe for exactly this. ``TODOBOT_ENCRYPTION_KEY`` holds one key, or several separated by
commas to rotate: the first seals, every one of them opens (``MultiFernet``), and
:meth:`TokenCipher.reseal` moves a value onto the first key (``todobot slack rotate-key``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class BadEncryptionKey(ValueError):
    """The encryption key setting is missing or malformed (the message says which)."""


class UnreadableSecret(RuntimeError):
    """A sealed value does not open with any configured key: the key was replaced before the
    values were resealed, or the row was written by another deployment."""


class TokenCipher:
    """Seals and opens short secrets with the configured keys (the first one seals)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise BadEncryptionKey("no encryption key given")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
        except (ValueError, TypeError) as error:
            raise BadEncryptionKey("an encryption key is not URL-safe base64 of 32 bytes"
                                   ) from error
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_setting(cls, value: str) -> TokenCipher:
        """``TODOBOT_ENCRYPTION_KEY``: ``new`` or ``new,old,...``."""
        return cls([part.strip() for part in value.split(",") if part.strip()])

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, plain: str) -> str:
        return self._multi.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        return _readable(self._multi.decrypt, sealed)

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the first key (a no-op in meaning, new bytes)."""
        return _readable(self._multi.rotate, sealed)

    def sealed_by_first_key(self, sealed: str) -> bool:
        try:
            self._fernets[0].decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True


def _readable(step: Callable[[bytes], bytes], sealed: str) -> str:
    try:
        return step(sealed.encode()).decode()
    except InvalidToken as error:
        raise UnreadableSecret("a stored secret does not open with TODOBOT_ENCRYPTION_KEY"
                               ) from error


class SealedText(TypeDecorator[str]):
    """TEXT holding ``cipher.seal(value)``; reads give the plain value back. NULL stays NULL
    (the installation store asks for rows whose token ``IS NOT NULL``)."""

    impl = Text
    cache_ok = True

    def __init__(self, cipher: TokenCipher) -> None:
        super().__init__()
        self.cipher = cipher

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.cipher.seal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.cipher.open(str(value))
