"""Reply intent: what a person meant by their reply, in English, French, German and Spanish.

    headers (Auto-Submitted, X-Autoreply, X-Autorespond, Precedence) -> out_of_office, at once
    subject ("Automatic reply:", "Abwesenheitsnotiz", ...)            -> out_of_office
    text, quoted history removed -> weighted cues per intent; a negated cue of interest
                                    ("not interested", "kein Interesse") counts as not_interested
    no cue at all                -> other

Quoted history is removed by ``channels.quoting.strip_quoted``, the one reader of a reply.

The intent names are the ones sequences branch on (``replied.<intent>``). ``RuleClassifier``
is the default; anything with the ``Classifier`` shape (a model, a hosted API) can replace it.
Everything here is pure (no clock, no database) except ``load_phrases``, which reads the
workspace's ``nurture.yaml``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import yaml

from channels.keywords import keyword
from channels.quoting import strip_quoted
from engine.inbound import intent_rules as rules
from sequences.errors import InputError
from sequences.model import INTENTS

Intent = Literal[
    "interested", "not_interested", "out_of_office", "unsubscribe", "question", "other"
]
# When two intents score the same, the earlier one wins: honouring an opt-out comes first.
PRIORITY: tuple[Intent, ...] = (
    "unsubscribe",
    "out_of_office",
    "not_interested",
    "interested",
    "question",
    "other",
)
assert set(PRIORITY) == set(INTENTS)


@dataclass(frozen=True)
class Verdict:
    """The classifier's answer: an intent, a confidence in [0, 1], and why."""

    intent: Intent
    confidence: float
    reason: str


@runtime_checkable
class Classifier(Protocol):
    """Anything that turns a reply into a Verdict; the rules below are one such thing."""

    def classify(
        self,
        text: str,
        *,
        subject: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Verdict: ...


def normalise(text: str) -> str:
    """Lower case, accents removed, straight quotes, single spaces: what the cues match."""
    text = text.lower().replace("ß", "ss").replace("’", "'").replace("`", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[ \t]+", " ", plain)


# --- auto-replies ------------------------------------------------------------------------

_AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk", "list"})


def auto_reply_reason(headers: Mapping[str, str] | None) -> str | None:
    """Why these headers mark an automatic reply (RFC 3834 and common vendor ones), or None."""
    found = {key.lower(): value.strip() for key, value in (headers or {}).items()}
    if found.get("auto-submitted", "no").lower() != "no":
        return f"header Auto-Submitted: {found['auto-submitted']}"
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        if found.get(name):
            return f"header {label}: {found[name]}"
    if found.get("precedence", "").lower() in _AUTO_PRECEDENCE:
        return f"header Precedence: {found['precedence']}"
    return None


# --- the rules ---------------------------------------------------------------------------

ExtraPhrases = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class _Rule:
    intent: Intent
    pattern: re.Pattern[str]
    weight: float
    negatable: bool = False


@dataclass(frozen=True)
class _Hit:
    intent: Intent
    weight: float
    phrase: str
    start: int
    end: int


def _builtin_rules() -> list[_Rule]:
    tables: tuple[tuple[Intent, tuple[rules.Cue, ...]], ...] = (
        ("unsubscribe", rules.UNSUBSCRIBE),
        ("out_of_office", rules.OUT_OF_OFFICE),
        ("not_interested", rules.NOT_INTERESTED),
        ("interested", rules.INTERESTED),
        ("question", rules.QUESTION),
    )
    return [
        _Rule(intent, re.compile(pattern, re.MULTILINE), weight, intent == "interested")
        for intent, cues in tables
        for pattern, weight in cues
    ]


def _phrase_rules(extra: ExtraPhrases) -> list[_Rule]:
    """Workspace phrases (``nurture.yaml`` ``replies.phrases.<intent>``): strong cues, weight 3."""
    compiled = []
    for intent, phrases in extra.items():
        if intent not in INTENTS:
            raise InputError(
                f"replies.phrases: unknown intent {intent!r}; expected one of {', '.join(INTENTS)}"
            )
        if isinstance(phrases, str):
            raise InputError(f"replies.phrases.{intent}: expected a list of phrases")
        for phrase in phrases:
            words = normalise(str(phrase)).strip()
            if words:
                pattern = re.compile(rf"(?<!\w){re.escape(words)}(?!\w)")
                compiled.append(_Rule(intent, pattern, 3, intent == "interested"))  # type: ignore[arg-type]
    return compiled


def _words_before(body: str, start: int) -> list[str]:
    """The words just before ``start``, in the same clause (a few: the windows are short, so
    only the last 200 characters are read, which keeps a long reply linear)."""
    clause = re.split(rules.CLAUSE_BREAK, body[max(0, start - 200) : start])[-1]
    return re.findall(r"[\w']+", clause)


def _negated(words: list[str]) -> bool:
    """Whether a negation word is among the last words before a cue."""
    return any(
        word in rules.NEGATORS or word.endswith("n't") or word.startswith("n'")
        for word in words[-rules.NEGATION_WINDOW :]
    )


def _hedged(words: list[str]) -> bool:
    """Whether the interest is someone else's or a condition ("if you are interested")."""
    return any(word in rules.HEDGES for word in words[-rules.HEDGE_WINDOW :])


def _same_claim(hit: _Hit, kept: Iterable[_Hit]) -> bool:
    return any(h.intent == hit.intent and h.start < hit.end and hit.start < h.end for h in kept)


class RuleClassifier:
    """Weighted phrase rules in four languages, with negation and auto-reply headers.

    ``extra_phrases`` maps an intent to the workspace's own phrases (``nurture.yaml``
    ``replies.phrases``), for instance ``{"interested": ["partant"]}``.
    """

    def __init__(self, extra_phrases: ExtraPhrases | None = None) -> None:
        self._rules = [*_phrase_rules(extra_phrases or {}), *_builtin_rules()]
        self._auto_subject = [re.compile(p) for p in rules.AUTO_SUBJECT]

    def classify(
        self,
        text: str,
        *,
        subject: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Verdict:
        if reason := auto_reply_reason(headers):
            return Verdict("out_of_office", 0.99, reason)
        if subject and any(p.match(normalise(subject)) for p in self._auto_subject):
            return Verdict("out_of_office", 0.95, f"automatic-reply subject {subject.strip()!r}")
        body = normalise(strip_quoted(text))
        if not body.strip():
            return Verdict("other", 0.5, "empty reply")
        return _decide(self._hits(body))

    def _hits(self, body: str) -> list[_Hit]:
        hits = _keyword_hits(body)
        for rule in self._rules:
            for match in rule.pattern.finditer(body):
                phrase = match.group().strip()
                before = _words_before(body, match.start()) if rule.negatable else []
                if _hedged(before):
                    continue  # not the speaker's own interest: no cue either way
                if _negated(before):
                    hit = _Hit("not_interested", rule.weight, f"negated {phrase!r}", *match.span())
                else:
                    hit = _Hit(rule.intent, rule.weight, repr(phrase), *match.span())
                if not _same_claim(hit, hits):
                    hits.append(hit)
        asked = _questions(body)
        if asked:
            hits.append(_Hit("question", rules.QUESTION_MARK_WEIGHT * asked, "'?'", -1, -1))
        return hits


def _questions(body: str) -> int:
    """Sentences asked (ending in "?" or opening with "¿"), counted twice at most; small talk
    ("and you?", "how are you?") asks nothing of the recruiter."""
    asked = rules.SMALL_TALK.sub(" ", body)
    return min(2, max(len(re.findall(r"\?+", asked)), asked.count("¿")))


_KEYWORD_CUES: dict[str, tuple[Intent, float]] = {
    "STOP": ("unsubscribe", 3),  # "STOP", "Arrêt svp", "parar": an opt-out on any channel
    "YES": ("interested", 2),  # "Yes!" on its own answers the recruiter's question
}


def _keyword_hits(body: str) -> list[_Hit]:
    """Lines that are an SMS keyword (``channels.keywords``, the one list) as cues."""
    hits, start = [], 0
    for line in body.split("\n"):
        if cue := _KEYWORD_CUES.get(keyword(line) or ""):
            hits.append(_Hit(*cue, f"keyword {line.strip()!r}", start, start + len(line)))
        start += len(line) + 1
    return hits


# A false "interested" makes someone a candidate and emails them: interest acts on its own
# only with a strong cue (weight 2: "interested", "let's talk", "gerne") or two weak ones.
_SURE_INTEREST = 2.0


def _decide(hits: Sequence[_Hit]) -> Verdict:
    """The intent with the highest score (ties go by PRIORITY), confidence from the margin."""
    scores: dict[Intent, float] = {}
    for hit in hits:
        scores[hit.intent] = scores.get(hit.intent, 0.0) + hit.weight
    if not scores:
        return Verdict("other", 0.5, "no intent cue found")
    if scores.get("interested", 0) >= 2 and "question" in scores:
        scores["question"] = 0.0  # interest with questions: the recruiter answers them anyway
    ranked = sorted(scores, key=lambda intent: (-scores[intent], PRIORITY.index(intent)))
    top, score = ranked[0], scores[ranked[0]]
    runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
    confidence = round(min(0.97, 0.5 + 0.1 * score) * (1 - 0.5 * runner_up / score), 2)
    if top == "interested" and score < _SURE_INTEREST:
        confidence = min(confidence, 0.55)  # a lone "yes"/"sure": a person checks it first
    cues = ", ".join(hit.phrase for hit in hits if hit.intent == top)
    over = f"; outweighs {ranked[1]} ({runner_up:g})" if runner_up else ""
    return Verdict(top, confidence, f"{cues} ({score:g}){over}")


def load_phrases(workspace: Path) -> ExtraPhrases:
    """``replies.phrases`` of the workspace's ``nurture.yaml`` (empty when there is none)."""
    path = workspace / "nurture.yaml"
    if not path.is_file():
        return {}
    try:
        settings: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from exc
    replies = settings.get("replies") if isinstance(settings, dict) else None
    phrases = replies.get("phrases", {}) if isinstance(replies, dict) else {}
    if not isinstance(phrases, dict):
        raise InputError(f"{path}: replies.phrases must map an intent to a list of phrases")
    return phrases


# --- measuring a classifier --------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One labelled reply: a line of a JSONL file ``{"text", "intent", "lang", "headers"?}``."""

    text: str
    intent: Intent
    lang: str = ""
    subject: str | None = None
    headers: Mapping[str, str] | None = None


def parse_samples(lines: Iterable[str], source: str = "<samples>") -> list[Sample]:
    """Labelled replies from JSON lines; InputError names ``source:line`` of a bad one."""
    import json

    samples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["intent"] not in INTENTS:
                raise ValueError(f"unknown intent {row['intent']!r}")
            samples.append(
                Sample(
                    text=str(row["text"]),
                    intent=row["intent"],
                    lang=str(row.get("lang", "")),
                    subject=row.get("subject"),
                    headers=row.get("headers"),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{source}:{number}: not a labelled reply ({exc})") from exc
    return samples


@dataclass(frozen=True)
class Evaluation:
    """How a classifier did on labelled replies: accuracy, and per intent and language."""

    results: tuple[tuple[Sample, Verdict], ...]

    @property
    def accuracy(self) -> float:
        return _ratio(sum(s.intent == v.intent for s, v in self.results), len(self.results))

    def precision(self, intent: str) -> float:
        predicted = [s for s, v in self.results if v.intent == intent]
        return _ratio(sum(s.intent == intent for s in predicted), len(predicted))

    def recall(self, intent: str) -> float:
        actual = [v for s, v in self.results if s.intent == intent]
        return _ratio(sum(v.intent == intent for v in actual), len(actual))

    def support(self, intent: str) -> int:
        return sum(s.intent == intent for s, _ in self.results)

    def language_accuracy(self) -> dict[str, float]:
        langs = sorted({s.lang for s, _ in self.results})
        pairs = {lang: [(s, v) for s, v in self.results if s.lang == lang] for lang in langs}
        return {
            k: _ratio(sum(s.intent == v.intent for s, v in p), len(p)) for k, p in pairs.items()
        }

    @property
    def misses(self) -> list[tuple[Sample, Verdict]]:
        return [(s, v) for s, v in self.results if s.intent != v.intent]

    def markdown(self) -> str:
        """The published table: accuracy, then precision/recall/support per intent."""
        lines = [
            f"Accuracy: **{self.accuracy:.3f}** on {len(self.results)} labelled replies "
            f"({', '.join(f'{k} {v:.2f}' for k, v in self.language_accuracy().items())})",
            "",
            "| intent | precision | recall | support |",
            "| --- | ---: | ---: | ---: |",
        ]
        for intent in INTENTS:
            lines.append(
                f"| {intent} | {self.precision(intent):.3f} | {self.recall(intent):.3f} "
                f"| {self.support(intent)} |"
            )
        return "\n".join(lines)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def evaluate(classifier: Classifier, samples: Iterable[Sample]) -> Evaluation:
    """Run ``classifier`` over labelled ``samples``."""
    return Evaluation(
        tuple(
            (s, classifier.classify(s.text, subject=s.subject, headers=s.headers)) for s in samples
        )
    )
