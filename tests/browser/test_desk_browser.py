"""A recruiter's day at the desk, in Chromium: sign in, open every page, search a person,
correct a reply's intent (the enrollment takes the branch), complete a task, pause a
campaign. A console error, an uncaught script error or a broken link fails the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlparse

import pytest
from desk_browser import CAMPAIGN, CHROMIUM, EMAIL, MAYA, PASSWORD, Desk

PAGES = ["/campaigns", "/people", "/replies", "/tasks", "/outbox", "/sequences",
         "/sequences/backend-outbound"]  # fmt: skip


@pytest.fixture
def page(desk: Desk) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])  # fmt: skip
        tab = browser.new_context(base_url=desk.url).new_page()
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document"
                else None
            ),
        )
        yield tab
        browser.close()
    assert problems == []


def _sign_in(page: Any) -> None:
    page.goto("/campaigns")
    assert "/signin" in page.url  # a page without a session asks to sign in first
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/campaigns$"))


def _links_work(page: Any, base: str) -> None:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        target = urljoin(page.url, href)
        if urlparse(target).scheme in ("http", "https") and target.startswith(base):
            status = page.request.get(target).status
            assert status < 400, f"{page.url}: broken link {href} ({status})"


def test_every_page_opens_without_errors_or_broken_links(page: Any, desk: Desk) -> None:
    _sign_in(page)
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        assert page.locator("h1").count() == 1
        _links_work(page, desk.url)
    page.goto("/sequences/backend-outbound")
    assert page.locator("svg.flow g.edge").count() > 4


def test_a_recruiter_searches_corrects_completes_and_pauses(page: Any, desk: Desk) -> None:
    _sign_in(page)
    page.goto("/people")
    page.fill("input[name=q]", "maya")
    page.click("form.search button")
    page.locator("table.people a", has_text="Maya").first.click()
    assert page.locator("h1").inner_text().startswith("Maya")
    assert page.locator("table.enrollments", has_text=CAMPAIGN).count() == 1

    page.goto("/replies")
    row = page.locator("tr[data-reply]", has_text="Yes.").first
    assert "held for review" in row.inner_text()
    row.locator("select[name=intent]").select_option("interested")
    row.locator("button", has_text="Set").click()
    page.wait_for_url(re.compile(r"/replies\?notice="))
    assert "set by " + EMAIL in page.locator("tr[data-reply]", has_text="Yes.").first.inner_text()
    page.goto("/people?q=" + MAYA)
    page.locator("table.people a").first.click()
    assert "book_call" in page.locator("table.enrollments").inner_text()  # the branch taken

    page.goto("/tasks")
    task = page.locator("tr[data-task]", has_text="Check this reply").first
    task.locator("button", has_text="Done").click()
    page.wait_for_url(re.compile(r"/tasks\?notice="))
    assert page.locator("tr[data-task]", has_text="Check this reply").count() == 0

    page.goto("/campaigns")
    section = page.locator(f"section[data-campaign='{CAMPAIGN}']")
    section.locator("button", has_text="Pause").click()
    page.wait_for_url(re.compile(r"/campaigns\?notice="))
    section = page.locator(f"section[data-campaign='{CAMPAIGN}']")
    assert section.locator(".status").inner_text() == "paused"
    section.locator("button", has_text="Resume").click()
    page.wait_for_url(re.compile(r"/campaigns\?notice="))
