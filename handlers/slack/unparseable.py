"""Bodies Bolt cannot read. Bolt builds its request (context included) before it verifies the
signature, so such a body surfaces unverified: it is answered 401 if the signature does not
verify either (forged garbage), else 400."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.composition import Root

UNPARSEABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)
"""What building Bolt's request raises for a body it cannot read: not JSON or form, JSON nested
deeper than Python's stack, or JSON whose fields have other types than Slack's
(``"authorizations": [null]``)."""


def unparseable_status(root: Root, event: dict[str, Any]) -> int:
    """400 for a correctly signed body we cannot read, else 401. ``event``: lower-cased
    ``headers``, ``body`` and ``isBase64Encoded`` as in an API Gateway event."""
    from slack_sdk.signature import Clock, SignatureVerifier

    secret = root.settings.slack_signing_secret
    if secret is None or not secret.get_secret_value():
        return 401
    headers = event["headers"]
    body: str | bytes = event["body"]
    if event["isBase64Encoded"]:
        try:
            body = base64.b64decode(body)
        except ValueError:
            return 401
    verifier = SignatureVerifier(secret.get_secret_value(), clock=root.slack_clock or Clock())
    valid = verifier.is_valid(body, headers.get("x-slack-request-timestamp"),
                              headers.get("x-slack-signature"))
    return 400 if valid else 401
