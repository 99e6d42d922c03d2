"""The one reader of a reply: formats seen in real mail, and the message we sent removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.quoting import strip_quoted
from channels.sendgrid import inbound_form, parse_inbound
from engine.inbound.intent import RuleClassifier

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "replies" / "new_text.jsonl"
OWN = [
    row
    for row in map(json.loads, CORPUS.read_text(encoding="utf-8").splitlines())
    if row["source"].startswith("nurture")
]


@pytest.mark.parametrize("row", OWN, ids=[row["source"].split("#")[-1] for row in OWN])
def test_formats_seen_in_real_mail(row: dict[str, str]) -> None:
    """French Outlook, German Gmail, Zoho, "wrote" without colon or "On", Gmail's ISO date,
    Date before From, long attributions, Reply/Antwort separators, mobile signatures,
    bottom-posted and interleaved answers, HTML-only replies."""
    assert strip_quoted(row["text"], html=row.get("html")) == row["expected_new_text"]


SENT = (
    "Hi Ada,\n\nI'm Charlotte, I recruit backend engineers for Acme in Berlin. Would you be\n"
    "interested in a short call about our platform team this week?\n\nBest,\nCharlotte\n\n"
    "Unsubscribe: https://nurture.example/unsubscribe/abc"
)


def test_the_sent_message_is_removed_whatever_its_header() -> None:
    """A Polish client's header nobody taught us, our text re-wrapped and unquoted."""
    reply = (
        "Nie, dziękuję.\n\n"
        "Wiadomość od Charlotte z dnia pon. 2.03.2026 godz. 9.00 brzmiała\n\n"
        "Hi Ada, I'm Charlotte, I recruit backend engineers for Acme in Berlin.\n"
        "Would you be interested in a short call about our platform team this\n"
        "week? Best, Charlotte\n"
    )
    assert strip_quoted(reply) != "Nie, dziękuję."  # the headers alone do not know it
    assert strip_quoted(reply, sent=SENT) == "Nie, dziękuję."


def test_text_between_quotes_of_the_sent_message_is_kept() -> None:
    reply = (
        "> Would you be interested in a short call about our platform team this week?\n"
        "Not this week, but I'd love to chat in April.\n"
        "> Best,\n> Charlotte\n"
    )
    assert strip_quoted(reply, sent=SENT) == "Not this week, but I'd love to chat in April."


def test_a_reply_repeating_a_few_of_our_words_is_not_removed() -> None:
    reply = "I am interested in a short call, this week works."
    assert strip_quoted(reply, sent=SENT) == reply


def test_the_quoted_question_never_decides_the_intent() -> None:
    """ "Nein danke." above a German Gmail quote asking about interest."""
    reply = (
        "Nein danke.\n\nCharlotte Bellet <charlotte@acme.example> schrieb am Di., 16. Aug. "
        "2016 um 12:52 Uhr:\n\n> Hätten Sie Interesse an einem Gespräch? Gerne rufe ich an.\n"
    )
    assert RuleClassifier().classify(reply).intent == "not_interested"


def test_a_bottom_posted_opt_out_is_kept() -> None:
    reply = (
        "On Mon, Mar 2, 2026 at 9:00 AM Charlotte <c@acme.example> wrote:\n"
        "> Would you be interested?\n\nPlease remove me from your list."
    )
    assert strip_quoted(reply) == "Please remove me from your list."
    assert RuleClassifier().classify(reply).intent == "unsubscribe"


def test_html_entities_are_decoded_and_blockquotes_dropped() -> None:
    html = "<p>Caf&eacute; at 10&nbsp;am?</p><blockquote><p>Interested?</p></blockquote>"
    assert strip_quoted("", html=html) == "Café at 10 am?"


def test_raw_mode_keeps_the_bytes_of_an_8bit_windows_1252_part() -> None:
    """Inbound Parse "raw" mode: the MIME message is one field; its part names its charset."""
    mime = (
        b"From: Ada <ada@example.com>\r\nTo: reply+tok1@reply.acme.example\r\n"
        b"Subject: Re: A question\r\nMessage-ID: <r1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"I don\x92t want to receive any more emails\r\n"
    )
    body = (
        b'--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\n' + mime + b"\r\n"
        b'--b1\r\nContent-Disposition: form-data; name="charsets"\r\n\r\n'
        b'{"to":"UTF-8","subject":"UTF-8","from":"UTF-8"}\r\n--b1--\r\n'
    )
    form = inbound_form(body, "multipart/form-data; boundary=b1")
    event = parse_inbound(form, inbound_domain="reply.acme.example")
    assert event.text == "I don’t want to receive any more emails"
    assert RuleClassifier().classify(event.text).intent == "unsubscribe"
