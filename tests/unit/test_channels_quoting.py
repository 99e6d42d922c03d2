"""strip_quoted: the new text of a reply, across mail clients and languages."""

from __future__ import annotations

import pytest

from channels.quoting import strip_quoted

CASES = {
    "gmail-en": (
        "Sounds good, Thursday works.\n\n"
        "On Mon, Mar 2, 2026 at 9:00 AM Charlotte Bellet <charlotte@acme.example> wrote:\n"
        "> Hi Ada,\n> would you have ten minutes?\n",
        "Sounds good, Thursday works.",
    ),
    "gmail-en-wrapped": (
        "Sure!\n\nOn Mon, Mar 2, 2026 at 9:00 AM Charlotte Bellet <\n"
        "charlotte@acme.example> wrote:\n\n> Hi Ada,\n",
        "Sure!",
    ),
    "gmail-fr": (
        "Avec plaisir, jeudi me va.\n\n"
        "Le lun. 2 mars 2026 à 09:00, Charlotte Bellet <charlotte@acme.example> a écrit :\n"
        "> Bonjour Ada,\n",
        "Avec plaisir, jeudi me va.",
    ),
    "de": (
        "Gerne.\n\n"
        "Am 02.03.2026 um 09:00 schrieb Charlotte Bellet <charlotte@acme.example>:\n> Hallo",
        "Gerne.",
    ),
    "es": (
        "Claro que sí.\n\n"
        "El lun, 2 mar 2026 a las 9:00, Charlotte <c@acme.example> escribió:\n> Hola",
        "Claro que sí.",
    ),
    "outlook-original-message": (
        "Not right now, thanks.\r\n\r\n-----Original Message-----\r\n"
        "From: Charlotte Bellet <charlotte@acme.example>\r\nSent: Monday, March 2, 2026 9:00 AM\r\n"
        "To: Ada <ada@example.com>\r\nSubject: A question\r\n\r\nHi Ada,",
        "Not right now, thanks.",
    ),
    "outlook-from-sent-block": (
        "Happy to chat.\n\n________________________________\n"
        "From: Charlotte Bellet <charlotte@acme.example>\nSent: Monday, March 2, 2026 09:00\n"
        "To: Ada\nSubject: A question\n\nHi Ada,",
        "Happy to chat.",
    ),
    "outlook-fr-block": (
        "Merci, pas pour le moment.\n\nDe : Charlotte Bellet <charlotte@acme.example>\n"
        "Envoyé : lundi 2 mars 2026 09:00\nÀ : Ada <ada@example.com>\nObjet : Une question\n\n"
        "Bonjour Ada,",
        "Merci, pas pour le moment.",
    ),
    "signature-dash": ("Yes please.\n\n-- \nAda Lovelace\nStaff Engineer", "Yes please."),
    "sent-from-iphone": ("Call me at 5.\n\nSent from my iPhone", "Call me at 5."),
    "envoye-de-mon-iphone": ("Appelez-moi.\n\nEnvoyé de mon iPhone", "Appelez-moi."),
    "interleaved": (
        "> Are you open to a new role?\nYes, in Berlin.\n> Which stack?\nGo and Python.",
        "Yes, in Berlin.\nGo and Python.",
    ),
    "no-history": ("Just text.\n", "Just text."),
    "sendt-fra-min-ipad": ("Takk, det passer.\n\nSendt fra min iPad", "Takk, det passer."),
    "pipe-quoted": (
        "Not now, thanks.\n\n2026/3/2 Charlotte Bellet <charlotte@acme.example>\n\n"
        "| Would you like to unsubscribe from these updates?\n| Reply STOP.",
        "Not now, thanks.",
    ),
    "table-row-kept": (
        "Here are my dates:\n| Mon | Tue |\n| 10h | 14h |",
        "Here are my dates:\n| Mon | Tue |\n| 10h | 14h |",
    ),
    "attribution-split-by-blank-lines": (
        "Works for me.\n\nOn Mon, 2 Mar 2026 at 09:00 Charlotte Bellet\n\n<\n"
        "mailto:charlotte@acme.example\n> wrote:\n\nWould you have ten minutes?",
        "Works for me.",
    ),
    "handle-in-text-above-dutch-attribution": (
        "The idea from @elberet might be it.\nI will let you know.\n"
        'Op 2 mrt. 2026 09:00 schreef "Charlotte" <charlotte@acme.example> het\n'
        "volgende geschreven:\n\n> Hallo",
        "The idea from @elberet might be it.\nI will let you know.",
    ),
    "quote-line-wrapped-without-marker": (
        "Thanks, will do.\n\n"
        "On Mon, 2 Mar 2026 at 09:00, Charlotte <charlotte@acme.example> wrote:\n"
        "> Would you have ten minutes on Thursday to talk about the platform te\n"
        "am?\n>\n> Charlotte",
        "Thanks, will do.",
    ),
    "inline-answer-under-a-long-quote-line-kept": (
        "> Would you have ten minutes on Thursday to talk about the platform team?\n"
        "Yes, Thursday at 10.\n> Which stack do you prefer?",
        "Yes, Thursday at 10.",
    ),
    "legal-disclaimer": (
        "Happy to talk on Friday.\n\nAda\n\nDisclaimer\n\nThe information contained in this "
        "communication is confidential. Please remove me from ... is not an opt-out here.",
        "Happy to talk on Friday.\n\nAda",
    ),
    "disclaimer-sentence": (
        "Not now, thanks.\nThis email and any attachments are confidential and intended solely "
        "for the addressee.",
        "Not now, thanks.",
    ),
    "equals-separator": (
        "Merci.\n\n========================================\n\nMessage du : 02/03/2026 09:00\n"
        "De : charlotte@acme.example\n\nBonjour Ada",
        "Merci.",
    ),
    "short-separator-and-message-du": (  # "====" and "Message du :" dress the header block
        "Merci, à jeudi.\n\n====\n\nMessage du : 02/03/2026 09:00\n"
        'De : "Charlotte" <charlotte@acme.example>\nA : ada@example.com\nSujet : Poste\n\n'
        "Bonjour Ada",
        "Merci, à jeudi.",
    ),
    "attribution-on-the-reply-line": (
        "Thursday works--- On Mon, Mar 2, 2026 at 9:00 AM, c@acme.example wrote:\n> Hi Ada",
        "Thursday works",
    ),
    "link-wrapped-out-of-the-quote": (
        "Sounds good.\n\nOn Mon, Mar 2, 2026 at 9:00 AM, Charlotte wrote:\n\n"
        "> See the role (http://acme.example/jobs/\n_id=42)\n>\n",
        "Sounds good.",
    ),
    "device-signature-any-language": (
        "Gerne, nächste Woche.\nVerzonden vanuit Outlook voor iOS",
        "Gerne, nächste Woche.",
    ),
    "device-signature-above-the-reply": (
        "Gesendet mit iPhone\n\nHallo,\nnächste Woche passt.",
        "Hallo,\nnächste Woche passt.",
    ),
    "a-phone-maker-is-no-signature": (
        "Not right now\nI just joined Samsung",
        "Not right now\nI just joined Samsung",
    ),
    "inline-yes-between-quotes": (
        "> Would you be open to a chat?\nYes\n> Do you relocate?\nNo",
        "Yes\nNo",
    ),
    "outlook-zh": (
        "好的，谢谢。\n\n发件人: Charlotte <charlotte@acme.example>\n发送时间: 2026年3月2日 9:00\n"
        "收件人: Ada\n主题: Platform team\n\nHi Ada",
        "好的，谢谢。",
    ),
    "sentence-starting-with-on": (
        "On Thursday I am free.\nThanks\n\nOn Mon, 2 Mar 2026, Charlotte wrote:\n> hi",
        "On Thursday I am free.\nThanks",
    ),
}


@pytest.mark.parametrize(("raw", "expected"), CASES.values(), ids=CASES.keys())
def test_strip_quoted(raw: str, expected: str) -> None:
    assert strip_quoted(raw) == expected


def test_a_mention_of_wrote_in_the_reply_is_kept() -> None:
    text = "My colleague wrote: we should talk.\nLet's do it."
    assert strip_quoted(text) == text
