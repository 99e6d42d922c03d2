"""Every command shown in README.md and docs/ runs, every YAML snippet parses, every link resolves.

A document is played like a script, top to bottom, on a fresh copy of examples/recruiting
with its own SQLite talent base, the example talents imported (unless the page says
``<!-- workspace: fresh -->``, as the tutorial does, which imports them itself):

- each line of a ```sh block, and each ``$ ``-prompted line of a ```console block, is a
  command. A ``nurture ...`` command runs in-process and must exit 0; any other line, and
  a ``nurture`` line that cannot run offline, must end with ``# not run by tests: <why>``.
- a block right after ``<!-- file: PATH -->`` is written to PATH in the workspace
  (the tutorial's "save this as ..."), so the commands after it see the file.
- the output a page shows is checked too: a ```text block right after a ```sh block is
  what that block's commands print, and the lines after a ``$ `` line of a ```console block
  are what that command prints. Each shown line must appear, in order, in what the commands
  printed (spaces collapsed; ``…`` inside a line stands for any text, a line ``...`` for
  lines left out), so a page can leave
  lines out but never show a line the product does not print.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import textwrap
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from engine.cli.app import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "recruiting"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# README's two first-run lines stay clean to copy: .ci/run runs the second one, and
# tests/acceptance/test_demo.py runs the demo the first one ends with.
FIRST_RUN = {
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/nurture demo",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest",
}
# A fenced block, also indented inside a list item: (indent, language, body).
FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
FILE_MARK = re.compile(r"<!--\s*file:\s*(\S+)\s*-->\s*\Z")
NOT_RUN = re.compile(r"#\s*not run by tests:\s*\S")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
SHELLS = {"sh", "bash", "shell"}
FRESH = "<!-- workspace: fresh -->"
RULE = re.compile("─+")
CLEAN_ENV = (
    "NURTURE_DATABASE_URL", "NURTURE_PUBLIC_URL", "NURTURE_API_KEY", "SENDGRID_API_KEY",
    "SENDGRID_WEBHOOK_PUBLIC_KEY", "NURTURE_INBOUND_DOMAIN", "NURTURE_INBOUND_SECRET",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "NURTURE_SENDGRID_BASE_URL",
    "NURTURE_TWILIO_BASE_URL", "NURTURE_EMAIL_CHANNEL", "NURTURE_SMS_CHANNEL",
)  # fmt: skip


@dataclass(frozen=True)
class Command:
    line: int
    text: str
    block: int = 0  # the first line of its block: shown output is about one block

    @property
    def marked(self) -> bool:
        return NOT_RUN.search(self.text) is not None or self.text in FIRST_RUN

    @property
    def argv(self) -> list[str] | None:
        """The arguments after ``nurture``, or None for any other command."""
        words = shlex.split(self.text, comments=True)
        return words[1:] if words and words[0] == "nurture" else None


@dataclass(frozen=True)
class Output:
    """What the commands since the previous Output printed, as the page shows it."""

    line: int
    text: str

    def missing_from(self, printed: str) -> str | None:
        """The first shown line not found (in order) in ``printed``, or None."""
        lines = iter(_plain(printed).splitlines())
        for shown in _plain(self.text).splitlines():
            if shown in ("", "...", "…"):  # a line left out
                continue
            pattern = re.compile(".*".join(map(re.escape, shown.split("…"))))
            if not any(pattern.fullmatch(line) for line in lines):
                return shown
        return None


def _plain(text: str) -> str:
    """Spaces collapsed, and Rich's rules (───) shortened: their width is the terminal's."""
    return "\n".join(" ".join(RULE.sub("─", line).split()) for line in text.splitlines())


@dataclass(frozen=True)
class File:
    line: int
    path: str
    text: str


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _continued(text: str) -> bool:
    """A trailing backslash, or a quote still open: the command goes on on the next line."""
    if text.endswith("\\"):
        return True
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return True
    return False


def _commands(body: str, first_line: int, *, prompted: bool) -> Iterator[Command | Output]:
    """Logical command lines (backslash continuations joined) of one shell or console block,
    each followed in a console block by the output shown under it."""
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        start, text = index, lines[index].rstrip()
        index += 1
        if prompted and not text.startswith("$ "):
            shown = [text]
            while index < len(lines) and not lines[index].startswith("$ "):
                shown.append(lines[index])
                index += 1
            yield Output(first_line + start, "\n".join(shown))
            continue
        text = text.removeprefix("$ ").strip() if prompted else text.strip()
        while _continued(text) and index < len(lines):
            joined = text[:-1].rstrip() if text.endswith("\\") else text
            text = joined + " " + lines[index].strip()
            index += 1
        if text and not text.startswith("#"):
            yield Command(first_line + start, text, first_line)


def script(doc: Path) -> list[Command | File | Output]:
    """The commands, workspace files and shown output of a document, in reading order."""
    text = doc.read_text(encoding="utf-8")
    steps: list[Command | File | Output] = []
    previous_end, previous_language = -1, ""
    for fence in FENCE.finditer(text):
        language, body = fence.group(2), textwrap.dedent(fence.group(3))
        first = _line_of(text, fence.start(3))
        right_after = text[previous_end : fence.start()].strip() == ""
        if language == "text" and previous_language in SHELLS and right_after:
            steps.append(Output(first, body))
        previous_end, previous_language = fence.end(), language
        if language in SHELLS or language == "console":
            steps += _commands(body, first, prompted=language == "console")
        mark = FILE_MARK.search(text[: fence.start()])
        if mark:
            steps.append(File(first, mark.group(1), body))
    return steps


def _ids(doc: Path) -> str:
    return str(doc.relative_to(REPO))


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for every page's `nurture run`, stopped cleanly."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture
def workspace(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None
) -> Path:
    """A copy of examples/recruiting, the current folder, with its talents imported."""
    root = tmp_path / "recruiting"
    shutil.copytree(EXAMPLE, root)
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NURTURE_WORKSPACE", str(root))
    monkeypatch.setenv("NURTURE_DATABASE_URL", f"sqlite:///{tmp_path / 'talents.db'}")
    monkeypatch.setenv("NURTURE_SECRET_KEY", "d" * 32)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("COLUMNS", "100")  # pages show what a 100-column terminal prints
    monkeypatch.chdir(root)
    if FRESH in doc.read_text(encoding="utf-8"):
        return root
    assert main(["talents", "import", "talents.csv", "--now", "2026-03-01T12:00:00+01:00"]) == 0
    return root


def _run(argv: list[str]) -> tuple[int, str, str]:
    """``nurture ARGV`` in-process; its output is kept in strings, not in pytest's capture
    (Prefect's log handler keeps the stream it first saw, and capsys closes its own)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.prefect
@pytest.mark.slow
# Prefect's temporary server leaves a loopback client socket for the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "doc",
    DOCS,
    ids=_ids,
)
def test_every_command_in_the_docs_runs(doc: Path, workspace: Path) -> None:
    where = doc.relative_to(REPO)
    printed: str | None = ""  # since the last shown output; None after a line not run
    block = -1
    for step in script(doc):
        if isinstance(step, Command) and step.block != block:
            printed, block = "", step.block
        if isinstance(step, Output):
            missing = None if printed is None else step.missing_from(printed)
            assert missing is None, (
                f"{where}:{step.line}: the page shows {missing!r}, the commands printed:\n{printed}"
            )
            printed = ""
            continue
        if isinstance(step, File):
            target = workspace / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        if step.marked:
            printed = None
            continue
        argv = step.argv
        assert argv is not None, (
            f"{where}:{step.line}: {step.text!r} is not a nurture command; run it in a test "
            "or end it with '# not run by tests: <why>'"
        )
        assert "$" not in step.text, f"{where}:{step.line}: a runnable line cannot use $VARIABLES"
        code, out, err = _run(argv)
        assert code == 0, f"{where}:{step.line}: {step.text}\n{out}\n{err}"
        printed = None if printed is None else printed + err + out


def test_readme_opens_with_the_two_first_run_commands() -> None:
    commands = [s.text for s in script(REPO / "README.md") if isinstance(s, Command)]
    assert commands[:2] == sorted(FIRST_RUN, key=lambda c: "[test]" in c)


def test_the_tutorial_is_a_real_script() -> None:
    """Guards the extraction itself: the tutorial writes its files and runs its commands."""
    steps = script(REPO / "docs" / "tutorial.md")
    assert sum(isinstance(step, Output) for step in steps) >= 6
    files = {step.path for step in steps if isinstance(step, File)}
    runnable = [s.argv for s in steps if isinstance(s, Command) and not s.marked and s.argv]
    assert files == {"sequences/data-engineers.yaml", "campaigns/data-q2.yaml"}
    assert len(runnable) >= 12
    commands = {argv[0] for argv in runnable}
    assert {
        "init",
        "validate",
        "talents",
        "preview",
        "graph",
        "run",
        "outbox",
        "report",
    } <= commands
    assert ["run", "data-q2", "--now", "2026-03-02T09:30:00+01:00", "--dry-run"] in runnable


def test_a_marked_line_says_why() -> None:
    assert Command(1, "nurture serve  # not run by tests: it serves forever").marked
    assert not Command(1, "nurture serve  # not run by tests:").marked
    assert Command(1, "nurture --workspace ws run x --now 2026-03-02T09:00").argv == [
        "--workspace", "ws", "run", "x", "--now", "2026-03-02T09:00",
    ]  # fmt: skip
    assert Command(1, ".venv/bin/pip install -e .").argv is None


def test_console_blocks_run_prompted_lines_joined_across_lines() -> None:
    body = (
        "$ curl -X POST https://x.example \\\n"
        '    -d \'{"a": 1,\n'
        '         "b": 2}\'  # not run by tests: needs a server\n'
        '{"ok": true}\n'
        "$ nurture replies classify 'Merci'\n"
        "not_interested  confidence 0.70\n"
    )
    steps = list(_commands(body, 10, prompted=True))
    commands = [s for s in steps if isinstance(s, Command)]
    assert [(c.line, c.marked) for c in commands] == [(10, True), (14, False)]
    assert commands[1].argv == ["replies", "classify", "Merci"]
    assert [s.text for s in steps if isinstance(s, Output)] == [
        '{"ok": true}',
        "not_interested  confidence 0.70",
    ]


def test_shown_output_must_be_printed_in_order() -> None:
    shown = Output(1, "sent 3,   deferred 0\n\nto … (b)")
    assert shown.missing_from("header\nsent 3, deferred 0\nx\nto maya@example.net (b)") is None
    assert shown.missing_from("to maya@example.net (b)\nsent 3, deferred 0") == "to … (b)"
    assert shown.missing_from("sent 4, deferred 0\nto x (b)") == "sent 3, deferred 0"


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_yaml_snippet_parses(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for fence in FENCE.finditer(text):
        if fence.group(2) in ("yaml", "yml"):
            try:
                yaml.safe_load(textwrap.dedent(fence.group(3)))
            except yaml.YAMLError as exc:
                line = _line_of(text, fence.start(3))
                pytest.fail(f"{doc.relative_to(REPO)}:{line}: invalid YAML: {exc}")


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_relative_link_points_at_a_file(doc: Path) -> None:
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))  # links inside code are not links
    broken = []
    for match in LINK.finditer(text):
        target, _, anchor = (match.group(1) or match.group(2)).partition("#")
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        path = doc.parent / target if target else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}#{anchor}")
    assert broken == [], f"{doc.relative_to(REPO)}: broken links {broken}"
