"""``NURTURE_DATABASE_URL``: the URLs hosting providers hand out reach psycopg 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/talent?sslmode=require",
         "postgresql+psycopg://u:p@db:5432/talent?sslmode=require"),
        ("postgres://u@db/talent", "postgresql+psycopg://u@db/talent"),
        ("postgresql+psycopg://u@db/talent", "postgresql+psycopg://u@db/talent"),
        ("postgresql+psycopg2://u@db/talent", "postgresql+psycopg2://u@db/talent"),
        ("sqlite:////srv/nurture.db", "sqlite:////srv/nurture.db"),
    ],
)  # fmt: skip
def test_postgres_urls_name_the_installed_driver(tmp_path: Path, given: str, used: str) -> None:
    assert Config.load(tmp_path, env={"NURTURE_DATABASE_URL": given}).database_url == used


def test_the_default_is_sqlite_in_the_workspace(tmp_path: Path) -> None:
    url = Config.load(tmp_path, env={}).database_url
    assert url == f"sqlite:///{tmp_path.resolve() / 'nurture.db'}"
