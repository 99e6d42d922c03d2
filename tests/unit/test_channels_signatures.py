"""Webhook signatures made the providers' way, with keys generated here.

SendGrid: ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER, checked with the
sendgrid library's EventWebhook verifier. Twilio: HMAC over URL + sorted params, checked
with twilio's RequestValidator.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from channels.errors import SignatureError
from channels.sendgrid import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    event_webhook_public_key,
    sign_event_webhook,
    verify_event_webhook,
)
from channels.twilio import sign_request, verify_request

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))
BODY = json.dumps(
    [
        {
            "email": "ada@example.com",
            "timestamp": int(NOW.timestamp()),
            "event": "delivered",
            "sg_event_id": "ZGVsaXZlcmVk",
            "sg_message_id": "Xs8ZxEqRQ7C9.filterdrecv-1",
            "message_id": "m-1",
        }
    ]
).encode()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    return event_webhook_public_key(key)


def test_our_signature_is_what_the_sendgrid_library_accepts(
    key: ec.EllipticCurvePrivateKey, public_key: str
) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    verifier = EventWebhook(public_key)
    assert verifier.verify_signature(BODY.decode(), headers[SIGNATURE_HEADER], STAMP)
    assert headers[TIMESTAMP_HEADER] == STAMP


def test_a_signature_made_independently_passes(
    key: ec.EllipticCurvePrivateKey, public_key: str
) -> None:
    der = key.sign(STAMP.encode() + BODY, ec.ECDSA(hashes.SHA256()))
    headers = {SIGNATURE_HEADER.lower(): base64.b64encode(der).decode(), TIMESTAMP_HEADER: STAMP}
    verify_event_webhook(BODY, headers, public_key, NOW)  # header names are case-insensitive


def test_a_pem_public_key_works_too(key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verify_event_webhook(BODY, sign_event_webhook(BODY, key, STAMP), pem.decode(), NOW)


def test_a_pem_private_key_signs() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    headers = sign_event_webhook(BODY, pem.decode(), STAMP)
    verify_event_webhook(BODY, headers, event_webhook_public_key(other), NOW)


def test_a_changed_byte_fails(key: ec.EllipticCurvePrivateKey, public_key: str) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    altered = BODY.replace(b"delivered", b"Delivered")
    with pytest.raises(SignatureError, match="does not match"):
        verify_event_webhook(altered, headers, public_key, NOW)


def test_a_changed_timestamp_fails(key: ec.EllipticCurvePrivateKey, public_key: str) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    headers[TIMESTAMP_HEADER] = str(int(STAMP) + 1)
    with pytest.raises(SignatureError, match="does not match"):
        verify_event_webhook(BODY, headers, public_key, NOW)


def test_a_wrong_key_fails(key: ec.EllipticCurvePrivateKey) -> None:
    stranger = event_webhook_public_key(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureError, match="does not match"):
        verify_event_webhook(BODY, sign_event_webhook(BODY, key, STAMP), stranger, NOW)


@pytest.mark.parametrize("age", [timedelta(minutes=11), timedelta(minutes=-11), timedelta(days=3)])
def test_a_stale_timestamp_fails(
    key: ec.EllipticCurvePrivateKey, public_key: str, age: timedelta
) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    with pytest.raises(SignatureError, match="stale"):
        verify_event_webhook(BODY, headers, public_key, NOW + age)


def test_a_timestamp_inside_the_tolerance_passes(
    key: ec.EllipticCurvePrivateKey, public_key: str
) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    verify_event_webhook(BODY, headers, public_key, NOW + timedelta(minutes=9))


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_a_missing_header_fails(
    key: ec.EllipticCurvePrivateKey, public_key: str, missing: str
) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    del headers[missing]
    with pytest.raises(SignatureError, match="missing"):
        verify_event_webhook(BODY, headers, public_key, NOW)


@pytest.mark.parametrize(
    ("signature", "timestamp", "public", "message"),
    [
        ("not base64!", STAMP, None, "unreadable|does not match"),
        (base64.b64encode(b"garbage").decode(), STAMP, None, "does not match"),
        (None, "yesterday", None, "not a Unix time"),
        (None, STAMP, "bm90IGEga2V5", "not an EC public key"),
    ],
)
def test_garbage_fails_with_a_signature_error(
    key: ec.EllipticCurvePrivateKey,
    public_key: str,
    signature: str | None,
    timestamp: str,
    public: str | None,
    message: str,
) -> None:
    headers = sign_event_webhook(BODY, key, STAMP)
    headers[TIMESTAMP_HEADER] = timestamp
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    with pytest.raises(SignatureError, match=message):
        verify_event_webhook(BODY, headers, public or public_key, NOW)


def test_a_body_that_is_not_utf8_fails(key: ec.EllipticCurvePrivateKey, public_key: str) -> None:
    body = b"\xff\xfe[]"
    with pytest.raises(SignatureError):
        verify_event_webhook(body, sign_event_webhook(body, key, STAMP), public_key, NOW)


# --- Twilio ------------------------------------------------------------------------------

TOKEN = "12345678901234567890123456789012"
URL = "https://nurture.acme.example/webhooks/twilio/messages"
PARAMS = {
    "MessageSid": "SM" + "b" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+4915112345678",
    "To": "+4915100000000",
    "Body": "Yes, call me tomorrow",
    "NumMedia": "0",
}


def test_twilio_signature_passes() -> None:
    verify_request(URL, PARAMS, sign_request(URL, PARAMS, TOKEN), TOKEN)


def test_twilio_signature_matches_twilios_documented_algorithm() -> None:
    import hashlib
    import hmac

    payload = URL + "".join(f"{key}{PARAMS[key]}" for key in sorted(PARAMS))
    expected = base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest())
    assert sign_request(URL, PARAMS, TOKEN) == expected.decode()


def test_twilio_status_callback_signature_covers_our_query_string() -> None:
    url = "https://nurture.acme.example/webhooks/twilio/status?message_id=m-7"
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signature = sign_request(url, params, TOKEN)
    verify_request(url, params, signature, TOKEN)
    with pytest.raises(SignatureError):
        verify_request(url.replace("m-7", "m-8"), params, signature, TOKEN)


def test_twilio_sha256_signature_settings_are_honoured() -> None:
    from twilio.request_validator import RequestValidator

    settings = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    signature = RequestValidator(TOKEN).compute_signature(URL, PARAMS, "HMAC_SHA256")
    verify_request(URL, PARAMS, signature, TOKEN, signature_settings=settings)
    with pytest.raises(SignatureError):
        verify_request(URL, PARAMS, signature, TOKEN)  # read as SHA-1, it does not match


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (URL, {**PARAMS, "Body": "Yes, call me tomorrow!"}, TOKEN),  # a changed byte
        (URL, PARAMS, "0" * 32),  # a wrong key
        (URL.replace("messages", "status"), PARAMS, TOKEN),  # another endpoint
        (URL, {**PARAMS, "Extra": "1"}, TOKEN),  # an added parameter
    ],
)
def test_twilio_tampering_fails(url: str, params: dict[str, str], token: str) -> None:
    signature = sign_request(URL, PARAMS, TOKEN)
    with pytest.raises(SignatureError, match="does not match"):
        verify_request(url, params, signature, token)


@pytest.mark.parametrize("signature", [None, ""])
def test_twilio_missing_signature_fails(signature: str | None) -> None:
    with pytest.raises(SignatureError, match="missing X-Twilio-Signature"):
        verify_request(URL, PARAMS, signature, TOKEN)
