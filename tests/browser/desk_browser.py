"""What the browser tests share: the workspace's names and the served desk's address."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
NURTURE = Path(sys.executable).with_name("nurture")
MONDAY = "2026-03-02T10:00:00+00:00"
TUESDAY = datetime.fromisoformat("2026-03-03T10:00:00+00:00")
SECRET, DOMAIN = "inbound-secret-for-the-browser", "reply.acme.example"
EMAIL, PASSWORD = "ann@acme.example", "correct horse battery"
CAMPAIGN, MAYA = "backend-engineers-q1", "maya.fischer@example.net"


@dataclass(frozen=True)
class Desk:
    url: str
    root: Path
    env: dict[str, str]
