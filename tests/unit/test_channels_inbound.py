"""Inbound payloads as providers post them: Inbound Parse replies, the Event Webhook, Twilio."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.errors import PayloadError
from channels.sendgrid import inbound_form, parse_events, parse_inbound
from channels.twilio import parse_inbound_message, parse_status

DOMAIN = "reply.acme.example"
RECEIVED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CHARSETS = json.dumps(
    {"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8", "text": "UTF-8"}
)


def headers(*extra: str, subject: str = "Re: Ada, a question about Acme") -> str:
    lines = [
        "Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn "
        "Mon, 02 Mar 2026 09:14:05 +0000 (UTC)",
        "Received: from mail-io0-f169.google.com (mail-io0-f169.google.com [209.85.223.169]) "
        "by mx0047p1mdw1.sendgrid.net (Postfix) with ESMTPS id B2FC9A0C2A",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=20230601;",
        "MIME-Version: 1.0",
        "From: Ada Lovelace <ada@example.com>",
        "Date: Mon, 2 Mar 2026 10:14:03 +0100",
        "Message-ID: <CAHx6aQ=Kt2w@mail.gmail.com>",
        f"Subject: {subject}",
        "To: Charlotte Bellet <reply+tok1@reply.acme.example>",
        "In-Reply-To: <m-1@nurture.acme.example>",
        "References: <m-0@nurture.acme.example>\r\n <m-1@nurture.acme.example>",
        'Content-Type: multipart/alternative; boundary="001a113df448cad2d00538c1f1f6"',
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n"


def form(
    text: str, *extra_headers: str, subject: str = "Re: Ada, a question about Acme"
) -> dict[str, str]:
    return {
        "headers": headers(*extra_headers, subject=subject),
        "dkim": "{@example.com : pass}",
        "to": "Charlotte Bellet <reply+tok1@reply.acme.example>",
        "from": "Ada Lovelace <ada@example.com>",
        "subject": subject,
        "text": text,
        "html": "<div>" + text.split("\n\n", maxsplit=1)[0] + "</div>",
        "sender_ip": "209.85.223.169",
        "envelope": json.dumps(
            {"to": ["reply+tok1@reply.acme.example"], "from": "ada@example.com"}
        ),
        "attachments": "0",
        "charsets": CHARSETS,
        "SPF": "pass",
        "spam_score": "0.1",
    }


GMAIL_EN = (
    "Hi Charlotte,\r\n\r\nYes, I'd be happy to talk. Thursday 3pm works for me.\r\n\r\nAda\r\n\r\n"
    "On Mon, Mar 2, 2026 at 9:00 AM Charlotte Bellet <charlotte@acme.example> wrote:\r\n\r\n"
    "> Hi Ada,\r\n>\r\n> would you have ten minutes this week?\r\n>\r\n> Charlotte\r\n"
)
GMAIL_FR = (
    "Bonjour Charlotte,\n\nAvec plaisir, jeudi à 15h me convient.\n\nAda\n\n"
    "Le lun. 2 mars 2026 à 09:00, Charlotte Bellet <charlotte@acme.example> a écrit :\n\n"
    "> Bonjour Ada,\n>\n> auriez-vous dix minutes cette semaine ?\n"
)
OUTLOOK_EN = (
    "Thanks Charlotte, not looking right now.\r\n\r\nBest regards,\r\nAda\r\n\r\n"
    "________________________________\r\n"
    "From: Charlotte Bellet <charlotte@acme.example>\r\n"
    "Sent: Monday, March 2, 2026 9:00 AM\r\n"
    "To: Ada Lovelace <ada@example.com>\r\n"
    "Subject: Ada, a question about Acme\r\n\r\n"
    "Hi Ada,\r\n\r\nwould you have ten minutes this week?\r\n"
)
OUTLOOK_FR = (
    "Merci Charlotte, pas pour le moment.\r\n\r\nCordialement,\r\nAda\r\n\r\n"
    "-----Message d'origine-----\r\n"
    "De : Charlotte Bellet <charlotte@acme.example>\r\n"
    "Envoyé : lundi 2 mars 2026 09:00\r\n"
    "À : Ada Lovelace <ada@example.com>\r\n"
    "Objet : Une question\r\n\r\nBonjour Ada,\r\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GMAIL_EN, "Hi Charlotte,\n\nYes, I'd be happy to talk. Thursday 3pm works for me.\n\nAda"),
        (GMAIL_FR, "Bonjour Charlotte,\n\nAvec plaisir, jeudi à 15h me convient.\n\nAda"),
        (OUTLOOK_EN, "Thanks Charlotte, not looking right now.\n\nBest regards,\nAda"),
        (OUTLOOK_FR, "Merci Charlotte, pas pour le moment.\n\nCordialement,\nAda"),
    ],
    ids=["gmail-en", "gmail-fr", "outlook-en", "outlook-fr"],
)
def test_replies_keep_only_the_new_text(text: str, expected: str) -> None:
    event = parse_inbound(form(text), inbound_domain=DOMAIN, received_at=RECEIVED)
    assert event.kind == "replied" and event.channel == "email" and event.provider == "sendgrid"
    assert event.text == expected
    assert event.address == "ada@example.com"
    assert event.reply_token == "tok1"
    assert event.in_reply_to == "<m-1@nurture.acme.example>"
    assert event.references == ("<m-0@nurture.acme.example>", "<m-1@nurture.acme.example>")
    assert event.provider_event_id == "<CAHx6aQ=Kt2w@mail.gmail.com>"
    assert event.occurred_at == datetime(2026, 3, 2, 9, 14, 3, tzinfo=UTC)  # from Date:
    assert event.subject == "Re: Ada, a question about Acme"
    assert event.auto_reply is False
    assert event.headers["Message-ID"] == "<CAHx6aQ=Kt2w@mail.gmail.com>"


@pytest.mark.parametrize(
    ("extra", "subject"),
    [
        (("Auto-Submitted: auto-replied",), "Re: Ada, a question about Acme"),
        (("X-Autoreply: yes",), "Re: Ada, a question about Acme"),
        (("Precedence: auto_reply",), "Re: Ada, a question about Acme"),
        (("X-Auto-Response-Suppress: All",), "Automatic reply: Ada, a question about Acme"),
        ((), "Réponse automatique : Ada, une question"),
        ((), "Out of Office: back on March 9"),
    ],
)
def test_out_of_office_replies_are_marked(extra: tuple[str, ...], subject: str) -> None:
    text = "I am out of the office until March 9 with limited access to email.\n"
    event = parse_inbound(form(text, *extra, subject=subject), inbound_domain=DOMAIN)
    assert event.auto_reply is True and event.kind == "replied"


def test_auto_submitted_no_is_a_human() -> None:
    event = parse_inbound(form("Sure.", "Auto-Submitted: no"), inbound_domain=DOMAIN)
    assert event.auto_reply is False


def test_the_reply_token_must_be_on_our_domain() -> None:
    post = form("Sure.")
    post["to"] = "reply+tok9@elsewhere.example"
    post["envelope"] = json.dumps({"to": ["reply+tok9@elsewhere.example"]})
    assert parse_inbound(post, inbound_domain=DOMAIN).reply_token is None
    assert parse_inbound(post, inbound_domain=None).reply_token == "tok9"


def test_a_mail_to_our_unsubscribe_address_is_an_unsubscribe() -> None:
    post = form("unsubscribe")
    post["to"] = f"unsubscribe+tok1@{DOMAIN}"
    post["envelope"] = json.dumps({"to": [f"unsubscribe+tok1@{DOMAIN}"]})
    event = parse_inbound(post, inbound_domain=DOMAIN)
    assert event.kind == "unsubscribed" and event.reply_token == "tok1"


def test_html_only_replies_are_read_as_text() -> None:
    post = form("")
    post["html"] = (
        "<div dir=ltr>Yes, let's talk.<br></div><br><div class=gmail_quote>"
        "<blockquote>Hi Ada</blockquote></div>"
    )
    event = parse_inbound(post, inbound_domain=DOMAIN)
    assert event.text == "Yes, let's talk."


def _multipart(
    boundary: str, fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]
) -> bytes:
    chunks = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, content_type, content) in files.items():
        disposition = f'form-data; name="{name}"; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}"
        chunks.append(f"{head}\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def test_a_multipart_inbound_parse_post_with_an_attachment() -> None:
    fields = form(GMAIL_FR)
    fields["attachments"] = "1"
    fields["attachment-info"] = json.dumps(
        {
            "attachment1": {
                "filename": "CV Ada Lovelace.pdf",
                "name": "CV Ada Lovelace.pdf",
                "type": "application/pdf",
            }
        }
    )
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    boundary = "xYzZY"
    body = _multipart(
        boundary, fields, {"attachment1": ("CV Ada Lovelace.pdf", "application/pdf", pdf)}
    )
    decoded = inbound_form(body, f"multipart/form-data; boundary={boundary}")
    assert "attachment1" not in decoded  # files are not text fields
    assert decoded["text"] == GMAIL_FR  # UTF-8 accents intact
    event = parse_inbound(decoded, inbound_domain=DOMAIN)
    assert event.attachments == ("CV Ada Lovelace.pdf",)
    assert event.text == "Bonjour Charlotte,\n\nAvec plaisir, jeudi à 15h me convient.\n\nAda"
    assert event.reply_token == "tok1"


def test_a_latin1_field_is_decoded_with_the_charsets_sendgrid_names() -> None:
    body = _multipart("b1", {"text": "", "charsets": json.dumps({"text": "iso-8859-1"})}, {})
    body = body.replace(b'name="text"\r\n\r\n', b'name="text"\r\n\r\nD\xe9j\xe0 vu')
    assert inbound_form(body, "multipart/form-data; boundary=b1")["text"] == "Déjà vu"


def test_raw_mode_posts_the_whole_mime_message() -> None:
    raw = (
        "From: Ada Lovelace <ada@example.com>\r\nTo: reply+tok1@reply.acme.example\r\n"
        "Subject: Re: hello\r\nMessage-ID: <raw-1@example.com>\r\n"
        "In-Reply-To: <m-1@nurture.acme.example>\r\nDate: Mon, 2 Mar 2026 10:14:03 +0100\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nYes!\r\n\r\n"
        "On Mon, Mar 2, 2026 at 9:00 AM Charlotte wrote:\r\n> hello\r\n"
    )
    event = parse_inbound({"email": raw, "envelope": "{}"}, inbound_domain=DOMAIN)
    assert (event.text, event.reply_token, event.provider_event_id) == (
        "Yes!",
        "tok1",
        "<raw-1@example.com>",
    )


@pytest.mark.parametrize(
    "post",
    [
        {"text": "no headers", "from": "a@example.com"},
        {"headers": "Subject: x\r\n", "text": "no from"},
        {**form("x"), "envelope": "{not json"},
        {**form("x"), "attachment-info": "[broken"},
    ],
)
def test_malformed_inbound_posts_are_payload_errors(post: dict[str, str]) -> None:
    with pytest.raises(PayloadError):
        parse_inbound(post, inbound_domain=DOMAIN)


def test_a_post_that_is_not_multipart_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="multipart"):
        inbound_form(b"text=hello", "application/x-www-form-urlencoded")


# --- Event Webhook -----------------------------------------------------------------------

T = 1772442000  # 2026-03-02 09:00:00 UTC


def sg(event: str, **fields: object) -> dict[str, object]:
    return {
        "email": "ada@example.com",
        "timestamp": T,
        "event": event,
        "sg_event_id": f"id-{event}",
        "sg_message_id": "Xs8ZxEqRQ7C9.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
        "smtp-id": "<m-1@nurture.acme.example>",
        "category": ["berlin-backend-q1", "berlin-backend-q1:intro"],
        "message_id": "m-1",
        "enrollment_id": "42",
        **fields,
    }


def test_every_event_type_is_normalised() -> None:
    body = json.dumps(
        [
            sg("processed"),
            sg("delivered", response="250 OK"),
            sg("open", useragent="Mozilla/5.0", ip="1.2.3.4", sg_machine_open=False),
            sg(
                "click", url="https://acme.example/jobs/42", url_offset={"index": 0, "type": "html"}
            ),
            sg(
                "bounce",
                type="bounce",
                reason="550 5.1.1 The email account does not exist.",
                status="5.1.1",
            ),
            sg("bounce", sg_event_id="id-blocked", type="blocked", reason="550 blocked by policy"),
            sg("dropped", reason="Bounced Address"),
            sg("deferred", response="451 try later", attempt="2"),
            sg("spamreport"),
            sg("unsubscribe"),
            sg("group_unsubscribe", asm_group_id=1),
            sg("group_resubscribe", asm_group_id=1),
            sg("some_future_event"),
        ]
    ).encode()
    events = parse_events(body)
    assert [e.kind for e in events] == [
        "sent", "delivered", "opened", "clicked", "bounced", "bounced", "dropped", "deferred",
        "spam_report", "unsubscribed", "unsubscribed", "opted_in",
    ]  # fmt: skip
    first = events[0]
    assert first.message_id == "m-1" and first.provider_message_id == "Xs8ZxEqRQ7C9"
    assert first.provider_event_id == "id-processed" and first.address == "ada@example.com"
    assert first.occurred_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert events[3].url == "https://acme.example/jobs/42"
    assert (events[4].bounce_type, events[5].bounce_type) == ("hard", "block")
    assert events[4].reason == "550 5.1.1 The email account does not exist."
    assert events[0].url is None and events[0].bounce_type is None


def test_an_event_without_our_message_id_still_parses() -> None:
    raw = sg("delivered")
    del raw["message_id"]
    [event] = parse_events(json.dumps([raw]).encode())
    assert event.message_id is None and event.provider_message_id == "Xs8ZxEqRQ7C9"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"event": "open"}', "JSON array"),
        (json.dumps([{"event": "open", "timestamp": T}]).encode(), "sg_event_id"),
        (json.dumps([sg("open", timestamp="yesterday")]).encode(), "bad timestamp"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_event_bodies_are_payload_errors(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_events(body)


# --- Twilio ------------------------------------------------------------------------------


def twilio_inbound(body: str, **extra: str) -> dict[str, str]:
    return {
        "ToCountry": "DE",
        "SmsMessageSid": "SM" + "c" * 32,
        "NumMedia": "0",
        "SmsSid": "SM" + "c" * 32,
        "SmsStatus": "received",
        "Body": body,
        "To": "+4915100000000",
        "NumSegments": "1",
        "MessageSid": "SM" + "c" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+4915112345678",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def test_twilio_inbound_with_media() -> None:
    params = twilio_inbound(
        "Here is my CV",
        NumMedia="2",
        MediaContentType0="image/jpeg",
        MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/SMc/Media/ME1",
        MediaContentType1="application/pdf",
        MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/SMc/Media/ME2",
    )
    event = parse_inbound_message(params, received_at=RECEIVED)
    assert event.kind == "replied" and event.channel == "sms" and event.provider == "twilio"
    assert event.text == "Here is my CV" and event.address == "+4915112345678"
    assert event.media == (params["MediaUrl0"], params["MediaUrl1"])
    assert event.provider_event_id == "SM" + "c" * 32 and event.occurred_at == RECEIVED


def test_whatsapp_inbound_strips_the_prefix() -> None:
    params = twilio_inbound("Hola", From="whatsapp:+4915112345678", To="whatsapp:+4915100000000")
    event = parse_inbound_message(params, received_at=RECEIVED)
    assert event.channel == "whatsapp" and event.address == "+4915112345678"


@pytest.mark.parametrize(
    ("body", "extra", "kind", "reason"),
    [
        ("STOP", {}, "opted_out", "STOP"),
        ("  stop ", {}, "opted_out", "STOP"),
        ("Unsubscribe", {}, "opted_out", "STOP"),
        ("stopall", {}, "opted_out", "STOP"),
        ("cancel", {}, "opted_out", "STOP"),
        ("END", {}, "opted_out", "STOP"),
        ("quit", {}, "opted_out", "STOP"),
        ("Arrêt", {"OptOutType": "STOP"}, "opted_out", "STOP"),  # Twilio Advanced Opt-Out
        ("START", {}, "opted_in", "START"),
        ("unstop", {}, "opted_in", "START"),
        ("yes", {}, "replied", "YES"),  # a reply; re-subscribes only after a STOP
        ("Yes!", {"OptOutType": "START"}, "replied", "YES"),  # Twilio says START on YES
        ("Unstop", {"OptOutType": "START"}, "opted_in", "START"),
        ("ARRET", {}, "opted_out", "STOP"),
        ("Arrêt svp", {}, "opted_out", "STOP"),
        ("Stopp", {}, "opted_out", "STOP"),
        ("STOPP bitte", {}, "opted_out", "STOP"),
        ("Parar", {}, "opted_out", "STOP"),
        ("parar por favor", {}, "opted_out", "STOP"),
        ("stop please", {}, "opted_out", "STOP"),
        ("STOP!!!", {}, "opted_out", "STOP"),
        ("Stop all", {}, "opted_out", "STOP"),
        ("opt-out", {}, "opted_out", "STOP"),
        ("REVOKE", {}, "opted_out", "STOP"),
        ("HELP", {}, "replied", "HELP"),
        ("info", {}, "replied", "HELP"),
        ("Stop sending me these job ads", {}, "replied", None),  # read by the intent rules
        ("Please stop by tomorrow", {}, "replied", None),
        ("Yes please, call me", {}, "replied", None),
    ],
)
def test_twilio_keywords(body: str, extra: dict[str, str], kind: str, reason: str | None) -> None:
    event = parse_inbound_message(twilio_inbound(body, **extra), received_at=RECEIVED)
    assert (event.kind, event.reason) == (kind, reason)


@pytest.mark.parametrize(
    ("status", "error_code", "kind", "bounce"),
    [
        ("queued", None, "sent", None),
        ("sent", None, "sent", None),
        ("delivered", None, "delivered", None),
        ("read", None, "opened", None),
        ("undelivered", "30005", "bounced", "hard"),
        ("undelivered", "30003", "bounced", "soft"),
        ("failed", "30008", "failed", None),
    ],
)
def test_twilio_status_callbacks(
    status: str, error_code: str | None, kind: str, bounce: str | None
) -> None:
    params = {
        "SmsSid": "SM" + "d" * 32,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+4915112345678",
        "MessageSid": "SM" + "d" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": "+4915100000000",
        "ApiVersion": "2010-04-01",
        **({"ErrorCode": error_code} if error_code else {}),
    }
    url = "https://nurture.acme.example/webhooks/twilio/status?message_id=m-7"
    event = parse_status(params, url=url, received_at=RECEIVED)
    assert (event.kind, event.bounce_type) == (kind, bounce)
    assert event.message_id == "m-7" and event.provider_message_id == "SM" + "d" * 32
    assert event.provider_event_id == f"SM{'d' * 32}:{status}"
    assert event.address == "+4915112345678" and event.channel == "sms"


def test_twilio_status_reads_our_id_from_merged_params_too() -> None:
    params = {
        "MessageSid": "SM1",
        "MessageStatus": "delivered",
        "To": "whatsapp:+49151",
        "message_id": "m-9",
    }
    event = parse_status(params, received_at=RECEIVED)
    assert (event.message_id, event.channel, event.address) == ("m-9", "whatsapp", "+49151")


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": "SM1"},
        {"MessageSid": "SM1", "MessageStatus": "teleported"},
    ],
)
def test_malformed_status_callbacks_are_payload_errors(params: dict[str, str]) -> None:
    with pytest.raises(PayloadError):
        parse_status(params, received_at=RECEIVED)


@pytest.mark.parametrize(
    "params",
    [
        {"Body": "hi", "From": "+49151"},
        {"MessageSid": "SM1", "Body": "hi"},
        twilio_inbound("x", NumMedia="two"),
    ],
)
def test_malformed_inbound_messages_are_payload_errors(params: dict[str, str]) -> None:
    with pytest.raises(PayloadError):
        parse_inbound_message(params, received_at=RECEIVED)
