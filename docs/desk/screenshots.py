"""Screenshots of each page of the desk, from a demo workspace, into docs/desk/*.png.

    nurture demo --workspace /tmp/demo          # three simulated weeks, kept
    python docs/desk/screenshots.py /tmp/demo   # needs Debian's chromium and playwright

Adds a throwaway account to that workspace, serves the desk in a thread on a free port,
its clock at the demo's last event (so the campaigns' last 30 days are the demo's), signs
in with Chromium and photographs each page; the server stops at the end.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
EMAIL, PASSWORD = "screenshots@acme.example", "screenshots-only"
PAGES = {
    "campaigns": "/campaigns",
    "people": "/people?q=a",
    "person": None,  # the first person found
    "replies": "/replies",
    "tasks": "/tasks?done=true",
    "outbox": "/outbox",
    "sequence": "/sequences/backend-outbound",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(root: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright
    from sqlalchemy import delete, func, select

    from engine.config import Config
    from engine.core.clock import fixed_clock
    from engine.store.database import Database
    from engine.store.models import DeskUser, Engagement, Talent
    from engine.web.app import create_app
    from engine.web.desk.accounts import add_user

    config = Config.load(root)
    db = Database(config.database_url)
    with db.session() as session:
        session.execute(delete(DeskUser).where(DeskUser.email == EMAIL))
        add_user(session, EMAIL, PASSWORD, now=datetime.now(UTC))
        person = session.scalar(select(Talent.id).where(Talent.stage == "candidate").limit(1))
        last = session.scalar(select(func.max(Engagement.occurred_at))) or datetime.now(UTC)
    app = create_app(config, db, fixed_clock(last))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=["--no-sandbox"])  # fmt: skip
            page = browser.new_page(base_url=f"http://127.0.0.1:{port}",
                                    viewport={"width": 1280, "height": 800})  # fmt: skip
            page.goto("/signin")
            page.screenshot(path=HERE / "signin.png")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            for name, path in PAGES.items():
                page.goto(path or f"/people/{person or 1}")
                page.screenshot(path=HERE / f"{name}.png", full_page=False)
                print(f"wrote {HERE / name}.png")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        with db.session() as session:
            session.execute(delete(DeskUser).where(DeskUser.email == EMAIL))
        db.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
