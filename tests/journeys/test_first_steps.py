"""A new user's first minutes: init, validate, import, look at the people."""

from __future__ import annotations

from journey import Workspace


def test_init_validate_import_show(ws_db: Workspace) -> None:
    assert "valid:" in ws_db.nurture("validate").out
    imported = ws_db.nurture("talents", "import", "talents.csv")
    assert "50 created" in imported.out
    shown = ws_db.nurture("talents", "show", "maya.schneider@example.de", check=False)
    assert shown.code in (0, 1), str(shown)
