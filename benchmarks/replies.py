"""How well nurture reads replies, on the labelled corpus in ``tests/corpus/replies/``.

    new_text.jsonl  a reply (text or html, optionally the message it answers) and its new
                    text, from five parsers' test suites and our own format examples
    intent.jsonl    a reply and its intent, from public auto-replies, carriers' keyword
                    lists and our own labelled sets

Each item carries its source, licence and split. Figures are printed for the ``heldout``
split (never tuned on) and, for comparison, the ``tune`` split, as JSON: new-text accuracy
(exact after whitespace is collapsed), intent accuracy, precision and recall per intent and
accuracy per language, and the classifier's CPU time per reply (quoting included: mean and
95th percentile).

A verdict of interest less sure than ``replies.review_below`` (default 0.6) takes no branch: the
recruiter checks it first. ``interested_acted`` counts only the verdicts that act on their own:
a false one there makes someone a candidate and emails them, the costly error.

    .venv/bin/python -m benchmarks.replies [--split heldout|tune|all] [--misses] [--corpus DIR]

``--corpus`` reads another copy of the corpus, e.g. an older one to compare on the same items
(``git show main:tests/corpus/replies/intent.jsonl > old/intent.jsonl``, same for new_text).

(``-m`` from the repository root: run as a script, ``benchmarks/engine.py`` would shadow the
``engine`` package.)
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from channels.quoting import strip_quoted
from engine.inbound.intent import Evaluation, RuleClassifier, Verdict, parse_samples

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "replies"
REVIEW_BELOW = 0.6  # campaigns.workspace.Replies.review_below's default


def _rows(name: str, split: str, corpus: Path = CORPUS) -> list[dict[str, Any]]:
    lines = (corpus / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if split == "all" or row["split"] == split]


def _same(found: str, expected: str) -> bool:
    return re.sub(r"\s+", " ", found).strip() == re.sub(r"\s+", " ", expected).strip()


def new_text_figures(split: str, misses: bool, corpus: Path = CORPUS) -> dict[str, Any]:
    rows = _rows("new_text.jsonl", split, corpus)
    wrong = []
    for row in rows:
        found = strip_quoted(row["text"], html=row.get("html"), sent=row.get("sent"))
        if not _same(found, row["expected_new_text"]):
            wrong.append(
                {"source": row["source"], "expected": row["expected_new_text"], "found": found}
            )
    right = len(rows) - len(wrong)
    figures: dict[str, Any] = {"cases": len(rows), "accuracy": _ratio(right, len(rows))}
    if misses:
        figures["misses"] = wrong
    return figures


def intent_figures(split: str, misses: bool, corpus: Path = CORPUS) -> dict[str, Any]:
    rows = _rows("intent.jsonl", split, corpus)
    samples = parse_samples([json.dumps(row) for row in rows], "intent.jsonl")
    classifier = RuleClassifier()
    verdicts: list[Verdict] = []
    times: list[float] = []
    for s in samples:
        started = time.process_time()  # CPU time: wall time on a busy machine measures it
        verdicts.append(classifier.classify(s.text, subject=s.subject, headers=s.headers))
        times.append(time.process_time() - started)
    result = Evaluation(tuple(zip(samples, verdicts, strict=True)))
    acted = [s.intent for s, v in result.results if _acts(v, "interested")]
    intents = sorted({s.intent for s in samples} | {v.intent for _, v in result.results})
    figures: dict[str, Any] = {
        "cases": len(samples),
        "accuracy": round(result.accuracy, 3),
        "per_intent": {
            intent: {
                "precision": round(result.precision(intent), 3),
                "recall": round(result.recall(intent), 3),
                "support": result.support(intent),
            }
            for intent in intents
        },
        "interested_acted": {
            "precision": _ratio(acted.count("interested"), len(acted)),
            "recall": _ratio(acted.count("interested"), result.support("interested")),
            "held_for_review": sum(v.intent == "interested" for _, v in result.results)
            - len(acted),
        },
        "per_language": {k: round(v, 3) for k, v in result.language_accuracy().items()},
        "ms_per_reply": round(1000 * sum(times) / max(1, len(times)), 3),
        "ms_per_reply_p95": round(1000 * _percentile(times, 0.95), 3),
    }
    if misses:
        figures["misses"] = [
            {"text": s.text[:160], "expected": s.intent, "found": v.intent, "reason": v.reason}
            for s, v in result.misses
        ]
    return figures


def _acts(verdict: Verdict, intent: str) -> bool:
    return verdict.intent == intent and verdict.confidence >= REVIEW_BELOW


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=["heldout", "tune", "all"], default="heldout")
    parser.add_argument("--misses", action="store_true", help="list what was read wrong")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="another copy of the corpus")
    args = parser.parse_args()
    report = {
        "split": args.split,
        "new_text": new_text_figures(args.split, args.misses, args.corpus),
        "intent": intent_figures(args.split, args.misses, args.corpus),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
