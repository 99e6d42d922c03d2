"""A new user's first minutes: init, validate, import, look around before anything ran."""

from __future__ import annotations

from journey import Workspace


def test_init_validate_import_and_look_around(ws_db: Workspace) -> None:
    assert "valid: . (4 sequences, 4 campaigns)" in ws_db.nurture("validate").out
    imported = ws_db.nurture("talents", "import", "talents.csv")
    assert "50 created" in imported.out
    shown = ws_db.nurture("talents", "show", "maya.fischer@example.net").out
    assert "imported from talents.csv line 2" in " ".join(shown.split())
    # Empty lists say so, rather than printing an empty table's frame.
    assert ws_db.nurture("tasks", "list").out.strip() == "no tasks to do"
    assert ws_db.nurture("outbox", "list").out.strip() == "no messages"
    assert ws_db.nurture("replies", "list").out.strip() == "no replies yet"
