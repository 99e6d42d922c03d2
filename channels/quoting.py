"""The new text of a reply: the one reader used by the webhooks, the classifier and the CLI.

    html only          -> text; <blockquote> becomes "> " lines, entities decoded
    the message we sent -> reply lines repeating it (">" removed, re-wrapped, any header
                          above them) are quoted history, in every language
    headers            -> "On ... wrote:" and its translations, "X <a> wrote:", Gmail's
                          "2014-10-17 11:28 GMT+03:00 X <a>:", Zoho's "---- On ... wrote ----",
                          "-----Original Message-----" and kin, Outlook's "From:/Sent:" block
    ">" lines          -> dropped wherever they are; text written below or between them stays
    signature          -> "-- ", "Sent from my iPhone", "Envoyé depuis mon iPhone", ...

A header followed by ">" lines only opens a quote (text after it is kept: bottom-posting);
a header followed by plain text is the start of an unquoted history: the rest is dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from channels.sent_text import repeated_lines

_VERBS = (
    r"wrote|writes|a [ée]crit|escribi[óo]|schreef|ha scritto|escreveu|napisa[łl]a?"
    r"|skrev|kirjoitti|написала?|yazd[ıi]|írta|napsal[a]?|scrisse|skriver|geschreven"
    r"|đã viết|sent"
)
# "... wrote:" ends the attribution; German Gmail puts the date after "schrieb".
_ATTRIBUTION = re.compile(
    rf"^[-\s*]*.{{0,400}}?\b(?:{_VERBS})\s*:?[-\s*]*$"
    r"|^.{0,200}\bschrieb\b.{0,120}:\s*$"
    r"|^.{0,160}\d.{0,160}<?[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?.{0,120}:\s*$"
    r"|^.{0,160}<?[\w.+-]+@[\w-]+(?:\.[\w-]+)+>?.{0,80}\d{1,2}[:.]\d{2}\s*:\s*$",
    re.IGNORECASE,
)
_WROTE_END = re.compile(rf"\b(?:{_VERBS})\s*:\s*$", re.IGNORECASE)
_VERB = re.compile(rf"\b(?:{_VERBS}|schrieb)\b", re.IGNORECASE)
_OPENER = re.compile(r"^[-\s*]*(?:on|le|am|el|op|il|em|w dniu|den|på|dne|\d)\b", re.IGNORECASE)
# "-----Original Message-----" in any language: a short label between dashes
_SEPARATOR = re.compile(
    r"^[\s*]*(?:-{2,}\s*(?:original message|reply message|antwort nachricht|message d'origine"
    r"|urspr[üu]ngliche nachricht|mensaje original|messaggio originale|oorspronkelijk bericht"
    r"|originalmeddelelse|forwarded message|message transféré|weitergeleitete nachricht)"
    r"\s*-{2,}|-{3,}[^-]{3,40}-{3,}|_{10,}|-{10,}|={10,}|begin forwarded message:)[\s*]*$",
    re.IGNORECASE,
)
_HEADER_KEYS = (
    r"from|de|von|van|da|od|fra|från|от|sent|date|envoy[ée](?: le)?|gesendet|datum|enviado"
    r"|fecha|verzonden|data|wys[łl]ano|sendt|skickat|дата|to|[àa]|an|para|aan|do|til|till"
    r"|subject|objet|betreff|asunto|onderwerp|oggetto|temat|emne|ämne|тема|cc|отправлено|кому"
    r"|message du|copie [àa]|sujet|من|تم الإرسال|إلى|الموضوع|التاريخ"
    r"|发件人|发送时间|收件人|主题|抄送|日期"
)
_HEADER = re.compile(rf"^[\s*>]*(?:{_HEADER_KEYS})\s?[:：]\*?\s", re.IGNORECASE)
_FROM_OR_DATE = re.compile(
    r"^[\s*]*(?:from|de|von|van|da|od|fra|från|от|date|datum|fecha|data|дата|发件人|日期|من)"
    r"\s?[:：]",
    re.IGNORECASE,
)
# "Verzonden vanuit Outlook voor iOS", "Lähetetty iPhonesta", "Trimis de pe iPhone-ul meu":
# a short line with a "sent" word of some language and a phone or a mail app, no sentence
# ("I just joined Samsung" names a phone maker, but sends nothing)
_DEVICE = re.compile(
    r"^(?=.{0,60}$)(?=.*(?:iphone|ipad|android|blackberry|samsung|galaxy|huawei|outlook"
    r"|mobil|mail app))(?=.*(?:sent|send|envoy|enviad|inviat|verzonden|verstuurd|gesendet"
    r"|wysłan|sendt|skickat|lähetetty|trimis|küldve|odeslán|poslan|отправлен|رسلت|gönderil"
    r"|στάλθηκε|נשלח|发送|送信|보냄|\bget\b|obter|obtener|ottieni|télécharge))[^.!?]*$",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^(?:--\s?|__|(?:sent|envoy[ée]|enviado|inviato|verzonden|gesendet|wysłane|sendt|skickat)"
    r"\s+(?:from|de|depuis|desde|da|vanaf|von|mit|with|z|fra|från)\s.{0,60}"
    r"|von meinem\s.{0,40}\sgesendet|get outlook for\s.{0,30}|sent with\s.{0,40}"
    # a legal disclaimer below the reply: its heading, or its first sentence
    r"|(?:disclaimer|confidentiality notice|haftungsausschluss|avis de confidentialit[ée]"
    r"|aviso legal)\s*:?"
    r"|(?:the information (?:contained )?in this|this) (?:e-?mail|communication|message)\b"
    r".{0,80}\bconfidential\b.*)$",
    re.IGNORECASE,
)
# "2011/4/7 Nathan <support@example.com>" right above a quote, no colon
_DATED_SENDER = re.compile(r"^.{0,80}\d.{0,80}<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>\s*:?$")
# direction marks Arabic and Hebrew clients put around headers: no text of their own
_BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ADDRESS = re.compile(r"<|[\w.+-]+@[\w-]+\.\w")  # "@elberet" in a sentence is no sender
_ATTRIBUTION_SPAN = 6  # lines a client may wrap an attribution over


def strip_quoted(text: str, *, html: str | None = None, sent: str | None = None) -> str:
    """The reply's own text: no quoted history, no ``>`` lines, no signature.

    ``html`` is read when ``text`` is empty; ``sent`` is the message being answered, whose
    repeated lines are quoted history whatever introduces them.
    """
    if not text.strip() and html:
        text = html_to_text(html)
    for old, new in (("\r\n", "\n"), ("\r", "\n"), ("\xa0", " ")):
        text = text.replace(old, new)
    text = _BIDI_MARKS.sub("", text)
    lines = _split_shared_lines(text.split("\n"))
    if sent:
        lines = _without_sent(lines, sent)
    kept = _new_lines(lines)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in kept)).strip()


# "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:": a client that put the
# attribution on the reply's last line
_SHARED = re.compile(r"^(.*?\S)\s*-*\s*(\bOn\s.{0,200}\d.{0,200}\bwrote:)\s*$")


def _split_shared_lines(lines: list[str]) -> list[str]:
    """An attribution sharing its line with the reply, right above a quote, gets its own."""
    split: list[str] = []
    for index, line in enumerate(lines):
        ends = line.rstrip().endswith("wrote:") and len(line) < 500  # cheap test first
        shared = _SHARED.match(line) if ends else None
        if shared and _quote_follows(lines, index + 1):
            split.extend(shared.groups())
        else:
            split.append(line)
    return split


def _without_sent(lines: list[str], sent: str) -> list[str]:
    """Lines repeating our message become ``>`` lines; so does the header just above them."""
    quoted = repeated_lines(lines, sent)
    marked = [f"> {line}" if index in quoted else line for index, line in enumerate(lines)]
    for index in sorted(quoted):
        if index - 1 in quoted:
            continue  # inside a run: its header is above the run's first line
        for above in _header_above(marked, index):
            marked[above] = f"> {marked[above]}"
    return marked


def _header_above(lines: list[str], index: int) -> range:
    """The header lines (attribution, separator, ``Key: value``) right above a quote."""
    start = index
    while start > 0 and not lines[start - 1].strip():
        start -= 1
    top = start
    while top > 0 and start - top < _ATTRIBUTION_SPAN and _looks_like_header(lines, top - 1):
        top -= 1
    return range(top, start)


def _looks_like_header(lines: list[str], index: int) -> bool:
    """A header's shape, or (below the reply's first paragraph) a date or an address."""
    bare = lines[index].strip()
    if not bare or bare.startswith(">"):
        return False
    if bare.endswith(":") or _HEADER.match(bare) or _SEPARATOR.match(bare):
        return True
    below_reply = any(lines[above].strip() for above in range(index - 1))
    return below_reply and bool(re.search(r"\d|@", bare))


def _new_lines(lines: list[str]) -> list[str]:
    kept: list[str] = []
    index, in_signature = 0, False
    while index < len(lines):
        line = lines[index]
        header_end = _header_end(lines, index)
        if header_end is not None:
            if not _quote_follows(lines, header_end):
                _drop_decoration(kept)
                break  # an unquoted history: everything below is the old message
            index, in_signature = header_end, False
            continue
        if _quoted(line) or _wrapped_quote(lines, index):
            in_signature = False
        elif _SIGNATURE.match(line.strip()) and (kept or line.startswith("--")):
            in_signature = True
        elif _DEVICE.match(line.strip()):
            in_signature = bool(kept)  # above the reply ("Sent from iPhone" first) it is one line
        elif not in_signature:
            kept.append(line)
        index += 1
    return kept


_DECORATION = re.compile(r"^[\s=_*~-]{4,}$")


def _drop_decoration(kept: list[str]) -> None:
    """Lines that dress the header of an unquoted history ("====", "Message du : <date>")
    belong to it, not to the reply."""
    while kept and (not kept[-1].strip() or _DECORATION.match(kept[-1]) or _HEADER.match(kept[-1])):
        kept.pop()


def _quoted(line: str) -> bool:
    """A ``>`` line, or a ``|`` line as some clients quote (not a table row ``| a | b |``)."""
    bare = line.strip()
    return bare.startswith(">") or (bare.startswith("|") and not bare[1:].endswith("|"))


def _wrapped_quote(lines: list[str], index: int) -> bool:
    """The tail of a long quoted line a client wrapped without its ``>``: lower case, right
    between two quoted lines ("> ... pharetra d" / "ignissim odio?" / ">")."""
    line = lines[index].strip()
    if index == 0 or index + 1 >= len(lines):
        return False
    above, below = lines[index - 1], lines[index + 1]
    if not (_quoted(above) and _quoted(below)):
        return False
    if _URL_TAIL.match(line):  # a link the client wrapped out of the quote
        return True
    return line[:1].islower() and len(above.strip()) >= 60


# a link's tail: URL characters only, and something only links have ("http", "=", ")")
_URL_TAIL = re.compile(r"^(?=.*(?:https?://|www\.|[=)]))\(?[\w./?&=%#:-]*\)?\s*>?$")


def _quote_follows(lines: list[str], index: int) -> bool:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index < len(lines) and _quoted(lines[index])


def _header_end(lines: list[str], index: int) -> int | None:
    """Where the quote header starting at ``index`` ends (exclusive), if one starts there."""
    line = lines[index].strip()
    if not line or _quoted(line):
        return None
    if _SEPARATOR.match(line):
        return index + 1
    if _FROM_OR_DATE.match(line) and ("@" in line or _is_header_block(lines, index)):
        end = index
        while end < len(lines) and (_HEADER.match(lines[end]) or _continues(lines, end)):
            end += 1
        return end
    if _DATED_SENDER.match(line) and _quote_follows(lines, index + 1):
        return index + 1
    if _OPENER.match(line) and re.search(r"\d", line) and _VERB.search(line):
        following = next((later for later in lines[index + 1 : index + 3] if later.strip()), "")
        if _FROM_OR_DATE.match(following):  # "Am <date> schrieb X" then "Von: ..." below
            return index + 1
    if _OPENER.match(line) and re.search(r"\d", line):  # "On <date> X" ... "<a> wrote:" apart
        for end in range(index + 1, min(index + _ATTRIBUTION_SPAN, len(lines))):
            if _WROTE_END.search(lines[end]):
                return end + 1
    for end in range(index, min(index + _ATTRIBUTION_SPAN, len(lines))):
        if not lines[end].strip():
            return None
        joined = " ".join(part.strip() for part in lines[index : end + 1])
        if _attribution(joined, single=end == index, first_line=line):
            return end + 1
    return None


def _attribution(joined: str, *, single: bool, first_line: str) -> bool:
    """A wrapped attribution starts like one ("On", a date) or names the sender at once."""
    if len(joined) > 500 or not _ATTRIBUTION.match(joined):
        return False
    return single or bool(_OPENER.match(joined)) or bool(_ADDRESS.search(first_line))


def _is_header_block(lines: list[str], index: int) -> bool:
    following = [line for line in lines[index + 1 : index + 5] if line.strip()]
    return sum(bool(_HEADER.match(line)) for line in following) >= 1


def _continues(lines: list[str], index: int) -> bool:
    """A wrapped value of the line above in a header block (a long To: list)."""
    line = lines[index]
    wrapped = bool(line.strip()) and line[:1] in " \t"
    return index > 0 and wrapped and bool(_HEADER.match(lines[index - 1]))


# --- HTML --------------------------------------------------------------------------------

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"hr", "pre", "section", "article", "header", "footer"}
)
_SKIP = frozenset({"script", "style", "head", "title"})


class _TextOfHtml(HTMLParser):
    """Text of an HTML mail: blocks on their own lines, ``<blockquote>`` as ``> `` lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._depth = 0
        self._line_depth = 0
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "blockquote":
            self._newline()
            self._depth += 1
        elif tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._newline()
            self._depth = max(0, self._depth - 1)
        elif tag in _BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._line:
            self._line_depth = self._depth
        self._line.append(re.sub(r"[ \t\r\n\xa0]+", " ", data))

    def _newline(self) -> None:
        text = "".join(self._line).strip()
        self.lines.append(("> " * self._line_depth + text) if text else "")
        self._line, self._line_depth = [], self._depth


def html_to_text(html: str) -> str:
    """The text of an HTML mail, quoted blocks as ``>`` lines, entities decoded."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    parser._newline()
    return "\n".join(parser.lines)
