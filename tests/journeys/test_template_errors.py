"""One talent's data never blocks a campaign; templates stay inside the sandbox's bounds.

A template that fails for one person parks that enrollment alone in ``error`` (named in the
report and on their timeline, with the step and template line); everybody else is sent to in
the same tick. ``nurture validate`` refuses what the sandbox would refuse, with file:line.
"""

from __future__ import annotations

import csv
import re
import resource
import subprocess
import time
from pathlib import Path

from journey import NURTURE, Ran, Workspace

CAMPAIGN = "backend-engineers-q1"
MAYA = "maya.fischer@example.net"  # in the campaign's audience; the one without a talk
TUESDAY = "2026-01-13T10:00:00+01:00"


def _talks_for_all_but_maya(ws: Workspace) -> None:
    """A ``talk`` column (stored in the talents' attributes) that only Maya leaves empty."""
    path = ws.root / "talents.csv"
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        row["talk"] = "" if row["email"] == MAYA else f"the {row['first_name']} talk"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _intro_line_3(ws: Workspace, text: str) -> None:
    """Put ``text`` on line 3 of the intro email's template."""
    path = ws.root / "templates/intro.md.j2"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _counts(ran: Ran) -> dict[str, int]:
    found = re.findall(r"(enrolled|planned|sent) (\d+)", ran.out)
    return {name: int(number) for name, number in found}


def _recipients(ws: Workspace) -> list[str]:
    outbox = ws.root / "outbox"
    files = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    return [
        line.removeprefix("To: ").strip()
        for file in files
        for line in file.read_text(encoding="utf-8").splitlines()
        if line.startswith("To: ")
    ]


def test_one_talents_missing_data_parks_them_alone(ws_db: Workspace) -> None:
    _talks_for_all_but_maya(ws_db)
    _intro_line_3(ws_db, "I enjoyed {{ talent.attributes.talk }}.")
    assert "valid:" in ws_db.nurture("validate").out
    ws_db.nurture("talents", "import", "talents.csv")

    ran = ws_db.nurture("run", CAMPAIGN, "--no-prefect", "--now", TUESDAY)
    counts = _counts(ran)
    assert counts["planned"] == counts["enrolled"] - 1 > 10, str(ran)
    assert f"warning: 1 enrollment(s) of {CAMPAIGN} in error" in ran.out
    sent = _recipients(ws_db)
    assert len(sent) == counts["sent"] > 10
    assert MAYA not in sent

    shown = ws_db.nurture("talents", "show", MAYA).out
    assert "error" in shown
    assert "step 'intro': templates/intro.md.j2:3:" in shown
    assert "has no attribute 'talk'" in shown
    report = ws_db.nurture("report", CAMPAIGN).out
    assert "in error: 1 enrollment(s)" in report
    assert "step intro: 1" in report
    assert f"{MAYA}: step 'intro': templates/intro.md.j2:3:" in report
    assert f"nurture migrate {CAMPAIGN}" in report

    # Not retried on every tick: the next one leaves Maya in error, with one error row.
    later = ws_db.nurture("run", CAMPAIGN, "--no-prefect", "--now", "2026-01-13T11:00:00+01:00")
    assert "in error" not in later.out
    assert ws_db.nurture("talents", "show", MAYA).out.count("step 'intro'") == 1
    assert MAYA not in _recipients(ws_db)


def test_fixed_template_and_migrate_send_to_the_one_in_error(ws_db: Workspace) -> None:
    _talks_for_all_but_maya(ws_db)
    _intro_line_3(ws_db, "I enjoyed {{ talent.attributes.talk }}.")
    ws_db.nurture("talents", "import", "talents.csv")
    ws_db.nurture("run", CAMPAIGN, "--no-prefect", "--now", TUESDAY)
    assert MAYA not in _recipients(ws_db)

    template = ws_db.root / "templates/intro.md.j2"
    text = template.read_text(encoding="utf-8")
    fixed = "{{ talent.attributes.talk | default('your last talk') }}"
    template.write_text(text.replace("{{ talent.attributes.talk }}", fixed), encoding="utf-8")
    migrated = ws_db.nurture("migrate", CAMPAIGN, "--now", "2026-01-13T12:00:00+01:00")
    assert "retried 1 enrollment(s) in error" in migrated.out
    ws_db.nurture("run", CAMPAIGN, "--no-prefect", "--now", "2026-01-13T12:00:00+01:00")

    assert MAYA in _recipients(ws_db)
    assert "in error" not in ws_db.nurture("report", CAMPAIGN).out


def _validate_refuses(ws: Workspace, text: str, where: str, message: str) -> None:
    _intro_line_3(ws, text)
    ran = ws.nurture("validate", check=False)
    assert ran.code == 1, str(ran)
    assert f"{where}: {message}" in ran.err + ran.out, str(ran)
    assert "Traceback" not in ran.err


def test_validate_refuses_private_attributes(ws: Workspace) -> None:
    _validate_refuses(
        ws,
        "{{ talent.first_name.__class__ }}",
        "templates/intro.md.j2:3:22",
        "'__class__' is a private attribute: the sandbox refuses it",
    )


def test_validate_refuses_include(ws: Workspace) -> None:
    _validate_refuses(
        ws,
        "{% include 'footer.md.j2' %}",
        "templates/intro.md.j2:3:4",
        "{% include %} is not available: a template stands alone (no loader)",
    )


def test_validate_refuses_import_in_an_inline_subject(ws: Workspace) -> None:
    path = ws.root / "sequences/backend-outbound.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("    subject: "))
    lines[number - 1] = lines[number - 1].replace('"{{', "\"{% import 'm' as m %}{{", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ran = ws.nurture("validate", check=False)
    assert ran.code == 1, str(ran)
    assert f"sequences/backend-outbound.yaml:{number}:" in ran.err, str(ran)
    assert "{% import %} is not available" in ran.err
    assert "Traceback" not in ran.err


def test_validate_refuses_a_range_it_can_see_is_too_big(ws: Workspace) -> None:
    _validate_refuses(
        ws,
        "{% for i in range(10**9) %}.{% endfor %}",
        "templates/intro.md.j2:3:13",
        "range of 1,000,000,000 items is over 10,000",
    )


def test_validate_refuses_a_repetition_it_can_see_is_too_big(ws: Workspace) -> None:
    _validate_refuses(
        ws,
        "{{ 'a' * 10**10 }}",
        "templates/intro.md.j2:3:8",
        "repeating a value 10,000,000,000 times is over 100,000",
    )


def _under_2_gb() -> None:
    limit = 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_huge_value_at_render_time_is_an_error_not_gigabytes(ws: Workspace) -> None:
    """``first_name * 10**9`` cannot be seen statically: each enrollment fails fast at render
    time, inside 2 GB of address space, and the run still ends normally."""
    _intro_line_3(ws, "{{ talent.first_name * 10**9 }}")
    assert "valid:" in ws.nurture("validate").out
    ws.nurture("talents", "import", "talents.csv")
    started = time.monotonic()
    done = subprocess.run(
        [str(NURTURE), "run", CAMPAIGN, "--no-prefect", "--now", TUESDAY],
        cwd=ws.root, env=ws.env, capture_output=True, text=True, timeout=120,
        preexec_fn=_under_2_gb, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    assert re.search(r"warning: \d+ enrollment\(s\) of backend-engineers-q1 in error", done.stdout)
    assert not Path(ws.root / "outbox").exists() or not _recipients(ws)
    shown = ws.nurture("talents", "show", MAYA).out
    assert "templates/intro.md.j2:3:" in shown
    assert "over 100,000" in shown
