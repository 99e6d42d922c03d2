"""engine/store/dialect.py: the SQL form of a rule agrees with its Python definition."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import literal, select

from engine.store.database import Database
from engine.store.dialect import WHITESPACE, address_hash, address_hash_of
from engine.talents.addresses import normalize_email, normalize_phone

# As people type them: case, plus tags, unicode local parts and domains, stray whitespace
# (tab, no-break and ideographic spaces), phones local and international.
EMAILS = [
    "Ada@Example.com",
    " ada+news@example.com ",
    "JÖRG.Müller@Exämple.de",
    "ÉLODIE+Jobs@example.fr",
    "\tgrace.hopper@navy.example\n",
    "\u00a0straße@example.de\u3000",
    "İlker@example.com.tr",
    "用户@例子.广告",
]
PHONES = [("030 1234567", "DE"), ("+33 1 42 68 53 00", None), ("(415) 555-0132", "US")]


def _sql_hash(db: Database, address: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(address_hash_of(literal(address))))


def test_whitespace_is_what_str_strip_strips() -> None:
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    assert "".join(c for c in every if c.isspace()) == WHITESPACE
    assert every.strip(WHITESPACE) == every.strip()


@pytest.mark.parametrize("raw", EMAILS)
def test_sql_address_hash_agrees_with_python_on_emails(db: Database, raw: str) -> None:
    """On the address as stored (normalized) and, but for a capital dotted I (which Python
    lower-cases to two letters), as typed."""
    stored = normalize_email(raw)
    assert _sql_hash(db, stored) == address_hash(stored) == address_hash(raw)
    if "İ" not in raw:
        assert _sql_hash(db, raw) == address_hash(raw)


@pytest.mark.parametrize(("raw", "region"), PHONES)
def test_sql_address_hash_agrees_with_python_on_phones(
    db: Database, raw: str, region: str | None
) -> None:
    stored = normalize_phone(raw, region)
    assert stored.startswith("+")
    assert _sql_hash(db, stored) == address_hash(stored)


def test_existing_keys_stay_valid() -> None:
    """Stored suppression keys were sha256 of the trimmed, lower-cased address."""
    assert address_hash(" Ada@Example.com ") == (
        "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"
    )


WORDS = ["ab", "a_b", "a%b", "a\\b", "abc", "b", "zoë", "zz\U0010fffe"]


@pytest.mark.parametrize(
    "prefix", ["a", "a_", "a%", "a\\", "ab", "abc", "abcd", "zo", "zoë", "zz", "", "%"]
)
def test_starts_with_agrees_with_str_startswith(db: Database, prefix: str) -> None:
    """A prefix match in SQL (a range on SQLite, LIKE on PostgreSQL): its wildcards are text."""
    from sqlalchemy import union_all

    from engine.store.dialect import starts_with

    words = union_all(*(select(literal(word).label("word")) for word in WORDS)).subquery()
    with db.session() as session:
        found = session.scalars(select(words.c.word).where(starts_with(words.c.word, prefix)))
        assert sorted(found) == sorted(w for w in WORDS if w.startswith(prefix))
