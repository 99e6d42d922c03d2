"""A new recruiter workspace: a copy of ``examples/recruiting`` with its own JSON Schemas.

The YAML files' ``# yaml-language-server: $schema=../schemas/...`` lines point inside the
workspace, so an editor completes keys in a workspace that lives anywhere (its own git
repository, say), and the schemas are those of the nurture that wrote it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sequences.errors import InputError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "recruiting"
# What a new folder may already hold: a workspace is often started as its own repository.
ALLOWED = frozenset({".git"})


def prepare_workspace(target: Path) -> Path:
    """A fresh copy of the example workspace at ``target`` (new, empty, or holding only .git)."""
    from campaigns.schema import write_schemas

    if not EXAMPLE.is_dir():
        raise InputError(f"example workspace not found at {EXAMPLE}: run nurture from a clone")
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file, not a folder")
    found = sorted(p.name for p in target.iterdir()) if target.exists() else []
    if set(found) - ALLOWED:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise InputError(f"{target} is not empty ({shown}): choose a new or empty folder")
    shutil.copytree(EXAMPLE, target, dirs_exist_ok=True)
    write_schemas(target / "schemas")  # the running nurture's, whatever the copy held
    return target
