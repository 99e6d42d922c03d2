"""Fixtures of the journeys: a fresh ``nurture init`` workspace (see ``journey.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from journey import Workspace, base_env, init


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh ``nurture init`` workspace on the embedded default (SQLite in the workspace)."""
    return init(tmp_path, base_env(tmp_path))


@pytest.fixture
def ws_db(tmp_path: Path, db_url: str) -> Workspace:
    """A fresh ``nurture init`` workspace on each configured database backend."""
    return init(tmp_path, {**base_env(tmp_path), "NURTURE_DATABASE_URL": db_url})
