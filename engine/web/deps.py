"""What the web routes share: the services built by ``create_app``, body models, Problem."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.workspace import (
    SETTINGS_FILE,
    Workspace,
    WorkspaceSettings,
    check_workspace_settings,
    load_workspace,
)
from engine.config import Config
from engine.core.clock import Clock
from engine.core.links import secret_key
from engine.inbound.intent import Classifier
from engine.store import dialect
from engine.store.database import Database
from sequences.errors import DefinitionError, InputError

logger = logging.getLogger("nurture.webapp")
T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    """What the routes need, built once by ``create_app``."""

    config: Config
    db: Database
    clock: Clock
    classifier: Classifier
    _workspace: dict[str, tuple[object, Workspace | None]] = field(default_factory=dict)
    _settings: dict[str, tuple[object, WorkspaceSettings | None]] = field(default_factory=dict)
    _write_turn: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def link_key(self) -> bytes:
        """The key of unsubscribe links (``NURTURE_SECRET_KEY``, else the workspace's)."""
        return secret_key(self.config)

    def workspace(self) -> Workspace | None:
        """The recruiter's workspace, reloaded when a file changed; None when invalid."""
        stamp = _stamp(self.config.workspace)
        cached = self._workspace.get("current")
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            loaded: Workspace | None = load_workspace(self.config.workspace)
        except (DefinitionError, InputError, OSError) as exc:
            logger.warning("workspace %s not loaded: %s", self.config.workspace, exc)
            loaded = None
        self._workspace["current"] = (stamp, loaded)
        return loaded

    def settings(self) -> WorkspaceSettings | None:
        """``nurture.yaml`` alone, read again when it changed; None when it has errors.

        What every reply reads of the workspace (``replies.review_below``): one file to
        check, where :meth:`workspace` checks every definition file of the workspace."""
        path = self.config.workspace / SETTINGS_FILE
        try:
            stat = path.stat()
            stamp: object = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        cached = self._settings.get("current")
        if cached is not None and cached[0] == stamp:
            return cached[1]
        settings, problems = check_workspace_settings(self.config.workspace)
        errors = [problem for problem in problems if problem.severity == "error"]
        if errors:
            logger.warning("%s not read: %s", path, errors[0])
        self._settings["current"] = (stamp, None if errors else settings)
        return None if errors else settings

    def transaction(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction; once more when a concurrent replay won the race.

        On SQLite the write lock is taken at BEGIN (``immediate``): two requests that both
        read then write would otherwise fail with "database is locked" instead of waiting.
        And the app's own writers queue for it one at a time (``_write_turn``), holding no
        pooled connection while they wait: a burst of 40 batches is written in turn instead
        of running out of connections or past SQLite's busy timeout.
        """
        with self._turn():
            try:
                with self.db.session(immediate=True) as session:
                    return work(session)
            except IntegrityError:
                logger.info("the same event arrived twice at once; applying it again")
                with self.db.session(immediate=True) as session:
                    return work(session)

    def _turn(self) -> AbstractContextManager[object]:
        queue = dialect.one_writer_at_a_time(self.db.engine)
        return self._write_turn if queue else nullcontext()


_DEFINITIONS = ("sequences", "campaigns", "templates")


def _stamp(root: Path) -> object:
    """Names, sizes and times of the definition files: they change when one is edited."""
    files = [root / "nurture.yaml", *(p for d in _DEFINITIONS for p in (root / d).rglob("*"))]
    stats = ((str(p), p.stat()) for p in sorted(files) if p.is_file())
    return tuple((name, stat.st_mtime_ns, stat.st_size) for name, stat in stats)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Health(FrozenModel):
    status: str
    database: str


class Problem(FrozenModel):
    """The body of every 4xx/5xx answer."""

    error: str
    detail: str
