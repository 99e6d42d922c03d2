"""Sequence files to validated documents, or every problem located at ``file:line:column``.

Three passes, each reporting all it finds: YAML syntax (with duplicate keys), structure
(the pydantic models), then meaning (``sequences.checks``) and templates (syntax and names
the context cannot provide, in the template file or inline in the YAML). When unknown keys
are the only structural errors, the meaning pass still runs, on the file without them.
Warnings (an SMS over the segment limit, a variant of weight 0) do not stop a sequence
from loading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sequences.checks import check_sequence
from sequences.document import SequenceDocument, is_template_path
from sequences.errors import DefinitionError, Problem
from sequences.model import EmailStep, Sequence, SmsStep, TaskStep
from sequences.source import Path as DataPath
from sequences.source import Source, parse_yaml, sorted_problems
from sequences.suggest import did_you_mean
from sequences.templates import TemplateIssue, check_template, render_step, sample_context
from sequences.validation import ignoring_unknown_keys, validate

DEFAULT_SMS_SEGMENT_LIMIT = 3


def load_sequence(
    path: Path, workspace: Path, *, sms_segment_limit: int = DEFAULT_SMS_SEGMENT_LIMIT
) -> SequenceDocument:
    """The document of one sequence file; DefinitionError listing every error otherwise."""
    document, problems = check_sequence_file(path, workspace, sms_segment_limit=sms_segment_limit)
    if document is None or any(problem.severity == "error" for problem in problems):
        raise DefinitionError(sorted_problems(problems))
    return document


def check_sequence_file(
    path: Path, workspace: Path, *, sms_segment_limit: int = DEFAULT_SMS_SEGMENT_LIMIT
) -> tuple[SequenceDocument | None, list[Problem]]:
    """The document (None when structurally invalid) and every problem, warnings included."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, 1, f"cannot read the file: {exc}")]
    return check_sequence_text(text, str(path), workspace, sms_segment_limit=sms_segment_limit)


def check_sequence_text(
    text: str, file: str, workspace: Path, *, sms_segment_limit: int = DEFAULT_SMS_SEGMENT_LIMIT
) -> tuple[SequenceDocument | None, list[Problem]]:
    """Like ``check_sequence_file`` for text already read (``file`` names it in problems)."""
    source, problems = parse_yaml(text, file)
    if source is None:
        return None, problems
    if not isinstance(source.data, dict):
        message = "a sequence file is a mapping with at least 'sequence' and 'steps'"
        return None, [*problems, source.problem((), message)]
    sequence, structural = validate(Sequence, source)
    if sequence is None:  # a misspelt key alone does not hide what the rest of the file means
        typo_free, owners = ignoring_unknown_keys(Sequence, source.data)
        meaning = _meaning(typo_free, source, workspace)[1] if typo_free else []
        # ... except about the mapping that held it ("needs a 'subject'" after 'subjet').
        held = {source.at(owner) for owner in owners}
        meaning = [m for m in meaning if (m.line, m.column) not in held]
        return None, sorted_problems(problems + structural + meaning)
    templates, meaning = _meaning(sequence, source, workspace)
    problems += meaning
    document = SequenceDocument(sequence, templates, file)
    if not any(problem.severity == "error" for problem in problems):
        problems += _sms_lengths(document, source, sms_segment_limit)
    return document, sorted_problems(problems)


def _meaning(
    sequence: Sequence, source: Source, workspace: Path
) -> tuple[dict[str, str], list[Problem]]:
    """The templates read, and the semantic and template problems of a well-formed sequence."""
    templates, template_problems = _templates(sequence, source, workspace)
    return templates, check_sequence(sequence, source) + template_problems


def _template_fields(sequence: Sequence) -> Iterator[tuple[DataPath, str, bool]]:
    """``(path, text, is_expression)`` of every template in the sequence."""
    for index, step in enumerate(sequence.steps):
        base: DataPath = ("steps", index)
        if step.if_ is not None:
            yield (*base, "if"), step.if_, True
        if isinstance(step, TaskStep):
            yield (*base, "title"), step.title, False
            if step.body is not None:
                yield (*base, "body"), step.body, False
            continue
        yield (*base, "body"), step.body, False
        if isinstance(step, EmailStep) and step.subject is not None:
            yield (*base, "subject"), step.subject, False
        for number, variant in enumerate(step.variants):
            for key in ("subject", "body"):
                if (value := getattr(variant, key)) is not None:
                    yield (*base, "variants", number, key), value, False


def _templates(
    sequence: Sequence, source: Source, workspace: Path
) -> tuple[dict[str, str], list[Problem]]:
    templates: dict[str, str] = {}
    problems: list[Problem] = []
    for path, text, expression in _template_fields(sequence):
        if expression or not is_template_path(text):
            issues = check_template(text, expression=expression)
            problems += [_inline(source, path, issue, expression) for issue in issues]
        elif text not in templates:
            content, found = _read_template(text, workspace, source, path)
            problems += found
            if content is not None:
                templates[text] = content
                label = str(workspace / text)
                issues = check_template(content)
                problems += [Problem(label, i.line, i.column, i.message) for i in issues]
    return templates, problems


def _read_template(
    name: str, workspace: Path, source: Source, path: DataPath
) -> tuple[str | None, list[Problem]]:
    root = workspace.resolve()
    file = (workspace / name).resolve()
    if not file.is_relative_to(root):
        return None, [source.problem(path, f"template {name!r} is outside the workspace")]
    try:
        return file.read_text(encoding="utf-8"), []
    except FileNotFoundError:
        known = [str(p.relative_to(root)) for p in root.glob("templates/**/*") if p.is_file()]
        message = f"template file {name!r} not found in the workspace{did_you_mean(name, known)}"
        return None, [source.problem(path, message)]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [source.problem(path, f"cannot read template {name!r}: {exc}")]


def _inline(source: Source, path: DataPath, issue: TemplateIssue, expression: bool) -> Problem:
    """Place an issue of an inline template inside the YAML scalar that holds it."""
    line, column = source.at(path)
    style = source.styles.get(path)
    if style in ("|", ">"):
        line += issue.line
        lines = source.text.splitlines()
        text = lines[line - 1] if line <= len(lines) else ""
        column = len(text) - len(text.lstrip(" ")) + issue.column
    elif issue.line == 1:
        shift = 3 if expression else 0  # check_template wraps an expression in "{{ ... }}"
        column += max(issue.column - 1 - shift, 0) + (1 if style in ('"', "'") else 0)
    else:
        line += issue.line - 1
        column = issue.column
    return Problem(source.file, line, column, issue.message)


def _sms_lengths(document: SequenceDocument, source: Source, limit: int) -> list[Problem]:
    """Warn when an SMS, rendered for the sample talent, takes more segments than ``limit``."""
    problems = []
    context = sample_context()
    for index, step in enumerate(document.sequence.steps):
        if not isinstance(step, SmsStep):
            continue
        for variant in [None, *(v.id for v in step.variants)]:
            try:
                message = render_step(document, step.id, variant, context)
            except DefinitionError:
                continue  # needs data the sample talent lacks; the engine checks at send time
            if (message.segments or 0) > limit:
                text = (
                    f"this SMS is {message.segments} segments ({message.encoding}) for the"
                    f" sample talent, above the limit of {limit}"
                )
                problems.append(source.problem(("steps", index, "body"), text, severity="warning"))
    return problems
