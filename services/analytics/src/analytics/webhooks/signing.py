"""Standard Webhooks signatures (https://www.standardwebhooks.com), via ``standardwebhooks``.

The receiver gets three headers: ``webhook-id`` (the event id, the same on every retry
so that it can drop duplicates), ``webhook-timestamp`` (Unix seconds of this attempt)
and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed
with the base64-decoded part of the ``whsec_`` secret).
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Final

from standardwebhooks import Webhook

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# The spec asks for 24 to 64 random bytes.
SECRET_BYTES: Final = 32


def new_secret() -> str:
    """A fresh signing secret, ``whsec_<base64 of 32 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(secret: str, *, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt at ``at`` (an aware time)."""
    # The library replaces the zone rather than converting to UTC: give it UTC.
    moment = at.astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
    }
