"""Message templates: Jinja2 in a sandbox, strict about undefined names, checked before sending.

The context a template sees (the engine builds it for each talent)::

    talent   first_name last_name full_name email phone company title city country
             timezone source tags skills attributes (free-form mapping)
    sender   name first_name email sms_from signature
    company  name website            (nurture.yaml)
    campaign id name
    step     id channel
    links    unsubscribe

Email bodies are Markdown: talent values are escaped as literal text before the Markdown
pass, and raw HTML is not passed through, so the HTML part is safe by construction.
``.html``/``.html.j2`` bodies are HTML templates rendered with Jinja autoescaping instead.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta, nodes

from sequences.document import SequenceDocument, is_template_path
from sequences.errors import Problem, RenderError
from sequences.markdown import escape, render
from sequences.model import EmailStep, SmsStep, TaskStep, WhatsappStep
from sequences.sandbox import BoundedSandbox, bounded_join, sandbox_issues, time_limit
from sequences.sms import sms_segments
from sequences.suggest import did_you_mean

CONTEXT: Mapping[str, frozenset[str]] = {
    "talent": frozenset(
        {
            *("first_name", "last_name", "full_name", "email", "phone", "company", "title"),
            *("city", "country", "timezone", "source", "tags", "skills", "attributes"),
        }
    ),
    "sender": frozenset({"name", "first_name", "email", "sms_from", "signature"}),
    "company": frozenset({"name", "website"}),
    "campaign": frozenset({"id", "name"}),
    "step": frozenset({"id", "channel"}),
    "links": frozenset({"unsubscribe"}),
}
AnyStep = EmailStep | SmsStep | WhatsappStep | TaskStep


@dataclass(frozen=True)
class RenderedMessage:
    """One step rendered for one talent.

    ``subject`` is None for sms/whatsapp and for a threaded email step without its own
    subject (the engine sends ``Re: <thread subject>``); for a task it is the title.
    ``html`` is set for email only; ``segments``/``encoding`` for sms/whatsapp only.
    """

    subject: str | None
    text: str
    html: str | None = None
    segments: int | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class TemplateIssue:
    """A problem in one template; ``line`` and ``column`` are 1-based inside the template."""

    line: int
    column: int
    message: str


@cache
def _environment(autoescape: bool) -> BoundedSandbox:
    return BoundedSandbox(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False
    )


@cache
def _compiled(source: str, autoescape: bool = False) -> jinja2.Template:
    return _environment(autoescape).from_string(source)


def check_template(source: str, *, expression: bool = False) -> list[TemplateIssue]:
    """Syntax errors, unknown filters, names the context cannot provide, and what the
    sandbox refuses or cannot bound, with lines."""
    text = f"{{{{ {source} }}}}" if expression else source
    env = _environment(False)
    try:
        tree = env.parse(text)
        env.compile(tree)
    except jinja2.TemplateSyntaxError as exc:
        return [TemplateIssue(exc.lineno or 1, 1, f"template syntax: {exc.message}")]
    lines = text.splitlines() or [""]
    refused = [
        _issue(lines, node.lineno, at, message) for node, at, message in sandbox_issues(tree)
    ]
    return [*refused, *_unknown_names(tree, lines), *_unknown_attributes(tree, lines)]


def _unknown_names(tree: nodes.Template, lines: list[str]) -> list[TemplateIssue]:
    unknown = meta.find_undeclared_variables(tree) - CONTEXT.keys()
    issues = []
    for node in tree.find_all(nodes.Name):
        if node.name in unknown and node.ctx == "load":
            unknown.discard(node.name)
            message = f"unknown variable {node.name!r}{did_you_mean(node.name, CONTEXT)}"
            issues.append(_issue(lines, node.lineno, node.name, message))
    return issues


def _unknown_attributes(tree: nodes.Template, lines: list[str]) -> list[TemplateIssue]:
    free = meta.find_undeclared_variables(tree)
    issues = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        owner = node.node
        attribute = node.attr if isinstance(node, nodes.Getattr) else _constant(node.arg)
        if not (isinstance(owner, nodes.Name) and owner.name in free and attribute):
            continue
        if attribute.startswith("_"):
            continue  # the sandbox check says it better
        known = CONTEXT.get(owner.name, frozenset())
        if known and attribute not in known:
            hint = did_you_mean(attribute, known)
            message = f"{owner.name!r} has no {attribute!r}{hint}"
            issues.append(_issue(lines, node.lineno, f"{owner.name}.{attribute}", message))
    return issues


def _constant(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def _issue(lines: list[str], lineno: int, text: str, message: str) -> TemplateIssue:
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    column = line.find(text) + 1 if text in line else 1
    return TemplateIssue(lineno, column, message)


def render_step(
    doc: SequenceDocument, step_id: str, variant_id: str | None, context: Mapping[str, Any]
) -> RenderedMessage:
    """Render one step (and variant) for ``context``; RenderError when a template fails."""
    step = doc.sequence.step(step_id)
    context = {**context, "step": {"id": step.id, "channel": step.channel}}
    if isinstance(step, TaskStep):
        body = _render(doc, step.body, context) if step.body else ""
        title = _render(doc, step.title, context, field="title")
        return RenderedMessage(title.strip(), body)
    subject, body = _variant_texts(step, variant_id)
    if isinstance(step, EmailStep):
        return _email(doc, subject, body, context)
    text = _render(doc, body, context)
    parts = sms_segments(text)
    return RenderedMessage(None, text, segments=parts.count, encoding=parts.encoding)


def _variant_texts(
    step: EmailStep | SmsStep | WhatsappStep, variant_id: str | None
) -> tuple[str | None, str]:
    subject = step.subject if isinstance(step, EmailStep) else None
    if variant_id is None:
        return subject, step.body
    for variant in step.variants:
        if variant.id == variant_id:
            return variant.subject or subject, variant.body or step.body
    raise KeyError(f"step {step.id!r} has no variant {variant_id!r}")


def _email(
    doc: SequenceDocument, subject: str | None, body: str, context: Mapping[str, Any]
) -> RenderedMessage:
    title = " ".join(_render(doc, subject, context, field="subject").split()) if subject else None
    if re.search(r"\.html(\.j2)?$", body) and is_template_path(body):
        page = _render(doc, body, context, autoescape=True)
        return RenderedMessage(title, _html_text(page), page)
    markdown = _render(doc, body, {**context, "talent": escape(context.get("talent", {}))})
    return RenderedMessage(title, *render(markdown))


def _render(
    doc: SequenceDocument,
    text: str,
    context: Mapping[str, Any],
    *,
    autoescape: bool = False,
    field: str = "body",
) -> str:
    try:
        with time_limit():
            template = _compiled(doc.source(text), autoescape)
            return bounded_join(template.generate(context)).strip()
    except Exception as exc:  # whatever a filter raises on one talent's value
        file = text if is_template_path(text) else inline_label(doc, field)
        line = getattr(exc, "lineno", None) or _template_line(exc)
        raise RenderError([Problem(file, line, 1, f"template: {_reason(exc)}")]) from exc


def inline_label(doc: SequenceDocument, field: str) -> str:
    """Where an inline template is, for a message: its file, or its sequence once stored."""
    if doc.path != SequenceDocument.path:
        return doc.path
    return f"sequence {doc.sequence.sequence!r} inline {field}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException) -> int:
    """The template line a runtime error happened on (Jinja maps its frames to it)."""
    line, frame = 1, exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(page: str) -> str:
    parser = _TextExtractor()
    parser.feed(page)
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


def choose_variant(step: AnyStep, key: str) -> str | None:
    """The variant id for ``key`` (e.g. an enrollment id): weighted, and the same every time."""
    variants = getattr(step, "variants", ())
    if not variants:
        return None
    total = sum(variant.weight for variant in variants)
    if total == 0:
        return str(variants[0].id)
    point = int.from_bytes(hashlib.sha256(f"{step.id}:{key}".encode()).digest()[:8]) % total
    for variant in variants:
        point -= variant.weight
        if point < 0:
            return str(variant.id)
    raise AssertionError("unreachable: weights cover the whole range")


def sample_context() -> dict[str, Any]:
    """A realistic context for previews and validation (no database needed)."""
    return {
        "talent": {
            "first_name": "Maya",
            "last_name": "Fischer",
            "full_name": "Maya Fischer",
            "email": "maya.fischer@example.net",
            "phone": "+4915123456789",
            "company": "Northwind Analytics",
            "title": "Senior Backend Engineer",
            "city": "Berlin",
            "country": "DE",
            "timezone": "Europe/Berlin",
            "source": "github",
            "tags": ["backend", "passive"],
            "skills": ["python", "go", "postgresql"],
            "attributes": {"github": "mayafischer", "years_experience": 7},
        },
        "sender": {
            "name": "Charlotte Bellet",
            "first_name": "Charlotte",
            "email": "charlotte@acme.example",
            "sms_from": "+4915112345678",
            "signature": "Charlotte Bellet\nTalent Partner, Acme Robotics",
        },
        "company": {"name": "Acme Robotics", "website": "https://acme.example"},
        "campaign": {"id": "sample", "name": "Sample campaign"},
        "step": {"id": "sample", "channel": "email"},
        "links": {"unsubscribe": "https://nurture.example/unsubscribe/sample"},
    }


def evaluate_guard(expression: str, context: Mapping[str, Any]) -> bool:
    """The truth of a step's ``if`` guard (a Jinja expression) for ``context``."""
    try:
        with time_limit():
            return bool(_environment(False).compile_expression(expression)(**context))
    except Exception as exc:  # whatever a filter raises on one talent's value
        raise RenderError([Problem("<guard>", 1, 1, f"if {expression!r}: {_reason(exc)}")]) from exc
