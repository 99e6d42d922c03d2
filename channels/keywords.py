"""SMS keywords: the one list of words that opt a person out of, or back into, a channel.

    STOP  the carriers' opt-out words (Twilio: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT,
          OPTOUT, REVOKE; CTIA/CWTA lists add OPT-OUT, REMOVE, ARRET, TD; Telnyx "STOP ALL")
          and their French, German and Spanish kin (ARRÊT, STOPP, PARAR...)
    START START and UNSTOP: a re-subscription, never a reply
    YES   Twilio re-subscribes on YES too; for nurture "Yes!" answers a recruiter's question:
          it is a reply (interested), and re-subscribes only someone who had opted out
    HELP  HELP and INFO

A keyword is the whole message, in any case, accents and punctuation ignored, with polite
words around it allowed ("Stop please", "STOP!!", "Arrêt svp"): "please stop the calls
about this job" is a sentence, not a keyword, and is read by the intent rules instead.
Used by the Twilio webhook (``channels.twilio``) and by the intent rules alike.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Keyword = Literal["STOP", "START", "YES", "HELP"]

STOP_WORDS = frozenset(
    {
        *("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"),
        *("OPTOUT", "OPT OUT", "REVOKE", "REMOVE"),
        *("ARRET", "ARRETER", "TD", "DESABONNER", "DESINSCRIRE"),  # fr (CWTA: ARRET, TD)
        *("STOPP", "ABMELDEN", "ABBESTELLEN"),  # de
        *("PARAR", "PARA", "ALTO", "BAJA", "CANCELAR", "DETENER"),  # es
    }
)
START_WORDS = frozenset({"START", "UNSTOP"})
YES_WORDS = frozenset({"YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
POLITE = frozenset(
    {
        *("PLEASE", "PLS", "PLZ", "THANKS", "THANK YOU", "NOW"),
        *("SVP", "S IL VOUS PLAIT", "MERCI"),
        *("BITTE", "DANKE"),
        *("POR FAVOR", "GRACIAS"),
    }
)
_POLITE = re.compile(r"^(?:(?:%s)\s+)*(.+?)(?:\s+(?:%s))*$" % (("|".join(sorted(POLITE)),) * 2))


def _plain(body: str) -> str:
    decomposed = unicodedata.normalize("NFKD", body.upper())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]|_", " ", letters).split())


def keyword(body: str) -> Keyword | None:
    """The SMS keyword ``body`` is, if the whole message is one (polite words aside)."""
    plain = _plain(body)
    if not plain or len(plain) > 40:
        return None
    match = _POLITE.match(plain)
    word = match.group(1) if match else plain
    for name, words in (("STOP", STOP_WORDS), ("START", START_WORDS), ("YES", YES_WORDS),
                        ("HELP", HELP_WORDS)):  # fmt: skip
        if word in words:
            return name  # type: ignore[return-value]
    return None
