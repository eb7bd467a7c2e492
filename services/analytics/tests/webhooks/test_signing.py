"""Signatures receivers can verify with the standardwebhooks library, and the raw recipe."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from analytics.webhooks.signing import new_secret, signed_headers

BODY = '{"specversion":"1.0","id":"e-1","type":"mentorship.matching.pair.formed.v1"}'


def test_secrets_are_whsec_base64_of_32_random_bytes():
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_library_verifies_what_we_sign():
    secret = new_secret()
    headers = signed_headers(secret, msg_id="e-1", at=datetime.now(UTC), body=BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "e-1"
    assert Webhook(secret).verify(BODY, headers)["id"] == "e-1"


def test_a_local_time_signs_the_same_instant():
    secret = new_secret()
    at = datetime.now(timezone(timedelta(hours=5)))
    headers = signed_headers(secret, msg_id="e-1", at=at, body=BODY)
    assert int(headers["webhook-timestamp"]) == int(at.timestamp())
    Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "webhook-id": "e-2"}, b),
        lambda h, b: (h, b.replace("e-1", "e-9")),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
    ],
)
def test_a_changed_id_body_or_timestamp_fails_verification(tamper):
    secret = new_secret()
    headers, body = tamper(
        signed_headers(secret, msg_id="e-1", at=datetime.now(UTC), body=BODY), BODY
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_another_secret_or_a_stale_timestamp_fails_verification():
    headers = signed_headers(new_secret(), msg_id="e-1", at=datetime.now(UTC), body=BODY)
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(new_secret()).verify(BODY, headers)
    secret = new_secret()
    stale = signed_headers(
        secret, msg_id="e-1", at=datetime.now(UTC) - timedelta(minutes=10), body=BODY
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, stale)


def test_the_raw_hmac_recipe_of_the_documentation_matches():
    secret = new_secret()
    headers = signed_headers(secret, msg_id="e-1", at=datetime.now(UTC), body=BODY)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{BODY}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
