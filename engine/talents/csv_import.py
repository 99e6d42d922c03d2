"""Importing talents from CSV files.

An import is one transaction, read and written a batch of rows at a time (so memory does not
grow with the file): new talents are inserted and existing ones (same email or phone) merged,
in bulk. A bad field leaves the row without it, with a warning; a row is rejected only when
nothing can reach the person. A fatal error (the file stops being CSV) rolls it all back, and
so does ``dry_run``.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import IO, Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy import String, Table, func, select, update
from sqlalchemy.orm import Session

from engine.store.database import Base
from engine.store.dialect import insert_rows
from engine.store.models import Engagement, Suppression, Talent, TalentLabel
from engine.talents import timeline
from engine.talents.addresses import (
    _e164,
    _phone_number,
    address_hash,
    normalize_email,
)
from sequences.errors import InputError
from sequences.model import STAGES
from sequences.suggest import did_you_mean

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "timezone",
    "country",
    "city",
    "company",
    "title",
    "source",
)
ALIASES: dict[str, str] = {
    alias: name
    for name, aliases in {
        "first_name": ("first name", "firstname", "given name", "forename", "prenom", "vorname"),
        "last_name": ("last name", "lastname", "surname", "family name", "nom", "nachname"),
        "name": ("name", "full name", "fullname", "display name"),
        "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email"),
        "phone": ("phone", "phone number", "mobile", "mobile phone", "cell", "telephone", "tel"),
        "timezone": ("timezone", "time zone", "tz"),
        "country": ("country", "country code", "pays", "land"),
        "city": ("city", "location", "town", "ville", "stadt"),
        "company": ("company", "employer", "organization", "organisation", "current company"),
        "title": ("title", "job title", "position", "role", "headline"),
        "source": ("source", "lead source", "origin"),
        "tags": ("tags", "tag", "labels"),
        "skills": ("skills", "skill", "technologies", "tech stack"),
        "stage": ("stage", "lifecycle stage"),
        "linkedin": ("linkedin", "linkedin url", "linkedin profile"),
        "github": ("github", "github url"),
        "website": ("website", "url", "homepage", "portfolio"),
    }.items()
    for alias in (*aliases, name)
}
LINK_FIELDS = ("linkedin", "github", "website")
_SPLIT = re.compile(r"\s*[|;,]\s*")


@dataclass
class Row:
    """One validated CSV row, ready to create or merge; ``warnings`` name what was left out."""

    line: int
    email: str | None
    phone: str | None
    profile: dict[str, Any]
    tags: set[str]
    skills: set[str]
    links: dict[str, str]
    attributes: dict[str, str]
    stage: str | None
    warnings: list[str] = field(default_factory=list)


T = TypeVar("T")
WARNINGS_KEPT = 1000  # a file whose every row warns must not hold a million messages


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # rows folded into an earlier row of the same person in the file
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)  # the first WARNINGS_KEPT
    warned: int = 0  # every warning, kept or not

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.duplicates + len(self.rejected)

    def warn(self, line: int, message: str) -> None:
        self.warned += 1
        if len(self.warnings) < WARNINGS_KEPT:
            self.warnings.append((line, message))


FIELD_BYTES = 1 << 24  # csv's default limit (128 KiB) would stop the file at one long note


def read_csv(source: bytes | IO[bytes]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Decode, sniff the delimiter, map headers; yields (first line number, row) as it reads.

    UTF-16 (Excel's "Unicode text") and UTF-8 are told by their BOM; bytes that are not UTF-8
    are read as Windows-1252. Rows are read one at a time from ``source``, so a file of any
    size takes the memory of one row."""
    text = _decoded(io.BytesIO(source) if isinstance(source, bytes) else source)
    try:
        first = text.readline()
        csv.field_size_limit(FIELD_BYTES)
        reader = csv.reader(
            itertools.chain([first], text), "excel", delimiter=_delimiter(first), strict=True
        )
        columns = [_column(name) for name in next(reader, None) or []]
        if not columns:
            raise InputError("the file is empty: expected a header row")
        if "email" not in columns and "phone" not in columns:
            raise InputError("line 1: the header has no email or phone column")
    except BaseException:
        text.detach()  # the caller's stream stays the caller's to close
        raise
    return columns, _records(text, reader, columns)


def _records(
    text: io.TextIOWrapper, reader: Any, columns: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank record with the line it starts on (a quoted cell may span lines)."""
    start = reader.line_num + 1
    try:
        while True:
            try:
                values = next(reader, None)
            except csv.Error as exc:
                raise InputError(f"line {start}: {_broken(exc)}") from exc
            if values is None:
                return
            if any(value.strip() for value in values):
                yield start, dict(zip(columns, values, strict=False))
            start = reader.line_num + 1
    finally:
        text.detach()


def _delimiter(header: str) -> str:
    """The header's separator. The rest is Excel's dialect: a dialect sniffed from a header,
    which has no quotes, would not read doubled quotes in a quoted cell."""
    try:
        return csv.Sniffer().sniff(header, ",;\t|").delimiter
    except csv.Error:
        return ","


def _broken(exc: csv.Error) -> str:
    if "end of data" in str(exc):
        return "a quoted cell opened in this row is never closed"
    return f"this row is not valid CSV ({exc})"


def _decoded(stream: IO[bytes]) -> io.TextIOWrapper:
    head = stream.read(4)
    stream.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
    if len(head) > 1 and head[0] and not head[1]:  # "e\0m\0": UTF-16 LE saved without its BOM
        return io.TextIOWrapper(stream, encoding="utf-16-le", errors="replace", newline="")
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors=_CP1252, newline="")


def _cp1252(error: UnicodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 is Windows-1252: Excel's "CSV" as saved on Windows."""
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("cp1252", "replace"), error.end


_CP1252 = "nurture.cp1252"
codecs.register_error(_CP1252, _cp1252)


def _column(header: str) -> str:
    """The field a header names; any other header names an attribute (a JSON key, where
    PostgreSQL refuses NUL and a whole note pasted as a header would be absurd)."""
    header = header.replace("\x00", "")[:100]
    key = " ".join(re.sub(r"[_\-.]+", " ", header.strip().lower()).split())
    key = key.replace("é", "e")
    return ALIASES.get(key, ALIASES.get(key.replace(" ", ""), key.replace(" ", "_")))


def parse_row(line: int, raw: Mapping[str, str], region: str | None) -> Row:
    """Validate one row: a bad field is left out with a warning; InputError only when the row
    has no usable email or phone (its message then says why)."""
    warnings: list[str] = []
    values = {key: _cell(key, value, warnings) for key, value in raw.items() if key}
    country = _valid("country", values, country_code, warnings)
    email = _valid("email", values, normalize_email, warnings)
    number = _valid("phone", values, lambda v: _phone_number(v, country or region), warnings)
    phone = _e164(number) if number is not None else None
    if email is None and phone is None:
        unusable = [w for w in warnings if w.startswith(("email", "phone"))]
        raise InputError(
            unusable[0] if unusable else "no email and no phone: nothing to reach this person by"
        )
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not (first or last) and values.get("name"):
        first, _, last = values["name"].partition(" ")
    profile = {
        "first_name": first or None,
        "last_name": last.strip() or None,
        "timezone": _valid("timezone", values, _timezone, warnings) or _phone_zone(number),
        "country": country,
        "city": values.get("city") or None,
        "company": values.get("company") or None,
        "title": values.get("title") or None,
        "source": values.get("source") or None,
    }
    known = {*ALIASES.values()}
    return Row(
        line=line,
        email=email,
        phone=phone,
        profile=profile,
        tags=_labels(values.get("tags", "")),
        skills=_labels(values.get("skills", "")),
        links={key: values[key] for key in LINK_FIELDS if values.get(key)},
        attributes={k: v for k, v in values.items() if k not in known and v},
        stage=_valid("stage", values, _stage, warnings),
        warnings=warnings,
    )


def _valid(
    name: str, values: Mapping[str, str], check: Callable[[str], T], warnings: list[str]
) -> T | None:
    """``check(value)`` of a field, or None with a warning when the value is wrong."""
    if not values.get(name):
        return None
    try:
        return check(values[name])
    except InputError as exc:
        warnings.append(f"{str(exc).rstrip('.')}; imported without it")
        return None


# Cells land in columns of these sizes (PostgreSQL refuses longer values); "name" is split
# into first and last names. Any other cell (an attribute, a link) is kept up to CELL_CHARS.
_TEXT_FIELDS = ("first_name", "last_name", "city", "company", "title", "source")


def _size(column: Any) -> int:
    assert isinstance(column.type, String) and column.type.length
    return column.type.length


_SIZES = {"name": 200, **{name: _size(Talent.__table__.c[name]) for name in _TEXT_FIELDS}}
CELL_CHARS = 10_000


def _cell(key: str, value: str | None, warnings: list[str]) -> str:
    """The cell stripped, without NUL bytes and cut to what its column holds (warning why)."""
    value = (value or "").strip()
    if "\x00" in value:  # PostgreSQL text cannot hold NUL
        value = value.replace("\x00", "").strip()
        warnings.append(f"{key}: NUL bytes removed")
    size = _SIZES.get(key) or CELL_CHARS
    if len(value) > size:
        warnings.append(f"{key}: {len(value):,} characters cut to {size:,}")
        value = value[:size].strip()
    return value


def _labels(cell: str) -> set[str]:
    return {label.lower()[:LABEL_CHARS] for label in _SPLIT.split(cell) if label}


LABEL_CHARS = _size(TalentLabel.__table__.c.value)


def country_code(value: str) -> str:
    """The ISO 3166 code of a code or a country's name (English, French or German)."""
    code = value.upper()
    if code in phonenumbers.SUPPORTED_REGIONS:
        return code
    if code := _country_codes().get(value.casefold(), ""):
        return code
    guess = difflib.get_close_matches(value.casefold(), _country_codes(), n=1)
    hint = f"; did you mean {_country_codes()[guess[0]]!r} ({guess[0].title()})?" if guess else ""
    raise InputError(f"country {value!r} is not an ISO 3166 code or a country name{hint}")


@cache
def _country_codes() -> dict[str, str]:
    """Country names in English, French and German, lower-cased, to their ISO 3166 code.

    Loaded only when a name is given: the geocoder's tables take about 90 MB."""
    from phonenumbers.geocoder import _region_display_name as region_name  # no public table

    return {
        region_name(code, language).casefold(): code
        for code in phonenumbers.SUPPORTED_REGIONS
        for language in ("en", "fr", "de")
        if region_name(code, language)
    }


def _stage(value: str) -> str:
    if value.lower() not in STAGES:
        raise InputError(f"stage {value!r} is not one of {', '.join(STAGES)}")
    return value.lower()


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        hint = did_you_mean(value, available_timezones()) or " such as Europe/Berlin"
        raise InputError(f"timezone {value!r} is not an IANA zone{hint}") from exc
    return value


def _phone_zone(number: phonenumbers.PhoneNumber | None) -> str | None:
    """The zone of a number tied to one zone: it tells us where the person lives."""
    if number is not None:
        zones = phone_timezone.time_zones_for_number(number)
        if len(zones) == 1 and zones[0] != "Etc/Unknown":
            return str(zones[0])
    return None


Progress = Callable[[int], None]
_CHUNK = 500
BATCH_ROWS = 2000


def import_talents(
    session: Session,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    now: datetime,
    region: str | None = None,
    source_name: str = "csv",
    progress: Progress | None = None,
) -> ImportReport:
    """Create or merge talents, a batch of rows at a time, inside ``session``'s transaction.

    Memory holds one batch plus one bit for each talent this import wrote: a later row of the
    same person, in any later batch, is folded into it as a duplicate (it only fills gaps),
    as within one batch."""
    report = ImportReport()
    written = TalentIds()
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH_ROWS)):
        parsed = _parsed(batch, region, report)
        _import_batch(session, parsed, written, report, now=now, source_name=source_name)
        if progress:
            progress(len(batch))
    report.rejected.sort()
    return report


class TalentIds:
    """A set of talent ids as one bit each: a million-row import remembers the talents it
    wrote in 125 KB where a set of ints takes 60 MB."""

    def __init__(self) -> None:
        self._bits = bytearray()

    def update(self, ids: Iterable[int]) -> None:
        for talent_id in ids:
            byte = talent_id >> 3
            if byte >= len(self._bits):
                self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
            self._bits[byte] |= 1 << (talent_id & 7)

    def __contains__(self, talent_id: int) -> bool:
        byte = talent_id >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & 1 << (talent_id & 7))


def _parsed(
    batch: list[tuple[int, dict[str, str]]], region: str | None, report: ImportReport
) -> list[Row]:
    valid: list[Row] = []
    for line, raw in batch:
        try:
            valid.append(parse_row(line, raw, region))
        except InputError as exc:
            report.rejected.append((line, str(exc)))
            continue
        for warning in valid[-1].warnings:
            report.warn(line, warning)
    return valid


def _import_batch(
    session: Session,
    rows: list[Row],
    written: TalentIds,
    report: ImportReport,
    *,
    now: datetime,
    source_name: str,
) -> None:
    unique = _merge_duplicates(rows, report)
    unique = _drop_suppressed(session, unique, report)
    creates, updates, folds = _match(unique, _load_existing(session, unique), written, report)
    written.update(_create(session, creates, now, source_name))
    changed = _update(session, updates, now, source_name)
    report.created += len(creates)
    report.updated += changed
    report.unchanged += len(updates) - changed
    _update(session, folds, now, source_name)
    report.duplicates += len(folds)
    written.update(current["id"] for _, current in updates)


def _merge_duplicates(rows: list[Row], report: ImportReport) -> list[Row]:
    """Fold rows of the same person (same email or phone) into the first one."""
    by_key: dict[str, Row] = {}
    kept: list[Row] = []
    for row in rows:
        keys = [key for key in (row.email, row.phone) if key]
        owners = {id(by_key[key]): by_key[key] for key in keys if key in by_key}
        if len(owners) > 1:
            lines = sorted(owner.line for owner in owners.values())
            report.rejected.append(
                (row.line, f"email and phone belong to different earlier rows {lines}")
            )
            continue
        if owners:
            first = next(iter(owners.values()))
            if row.email and first.email and row.email != first.email:
                report.rejected.append(
                    (row.line, f"phone {row.phone} is already on line {first.line} "
                     f"with another email ({first.email})")
                )  # fmt: skip
                continue
            _fold(first, row)
            report.duplicates += 1
        else:
            first = row
            kept.append(row)
        for key in (first.email, first.phone):
            if key:
                by_key[key] = first
    return kept


def _fold(into: Row, row: Row) -> None:
    """The first row of a person wins; later duplicates only fill its gaps and add labels."""
    into.email = into.email or row.email
    into.phone = into.phone or row.phone
    into.profile = {k: into.profile.get(k) or v for k, v in row.profile.items()}
    into.tags |= row.tags
    into.skills |= row.skills
    into.links = {**row.links, **into.links}
    into.attributes = {**row.attributes, **into.attributes}
    into.stage = into.stage or row.stage


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _drop_suppressed(session: Session, rows: list[Row], report: ImportReport) -> list[Row]:
    hashes = {address_hash(a) for row in rows for a in (row.email, row.phone) if a}
    found: set[str] = set()
    for chunk in _chunks(sorted(hashes)):
        query = select(Suppression.address_hash).where(Suppression.address_hash.in_(chunk))
        found.update(session.scalars(query))
    if not found:
        return rows
    kept = []
    for row in rows:
        if any(a and address_hash(a) in found for a in (row.email, row.phone)):
            report.rejected.append((row.line, "this address is suppressed (erased or opted out)"))
        else:
            kept.append(row)
    return kept


def _load_existing(session: Session, rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Existing talents keyed by email and by phone, as plain dicts with their labels."""
    columns = [Talent.id, Talent.email, Talent.phone, Talent.links, Talent.attributes]
    columns += [getattr(Talent, name) for name in PROFILE_FIELDS]
    found: dict[int, dict[str, Any]] = {}
    for column, values in ((Talent.email, [r.email for r in rows if r.email]),
                           (Talent.phone, [r.phone for r in rows if r.phone])):  # fmt: skip
        for chunk in _chunks(values):
            for found_row in session.execute(select(*columns).where(column.in_(chunk))).mappings():
                found[found_row["id"]] = {**found_row, "tag": set(), "skill": set()}
    for chunk in _chunks(list(found)):  # type: ignore[arg-type]
        query = select(TalentLabel.talent_id, TalentLabel.kind, TalentLabel.value)
        for talent_id, kind, value in session.execute(
            query.where(TalentLabel.talent_id.in_(chunk))
        ):
            found[talent_id][kind].add(value)
    by_key: dict[str, dict[str, Any]] = {}
    for record in found.values():
        for key in (record["email"], record["phone"]):
            if key:
                by_key[key] = record
    return by_key


Merge = tuple[Row, dict[str, Any]]  # a row and the existing talent it goes into


def _match(
    rows: list[Row],
    existing: dict[str, dict[str, Any]],
    written: TalentIds,
    report: ImportReport,
) -> tuple[list[Row], list[Merge], list[Merge]]:
    """Rows to create, rows to merge into talents (updates), and later rows of a talent this
    import already wrote (folds: they only fill its gaps, as duplicates within a batch do)."""
    creates: list[Row] = []
    updates: list[Merge] = []
    folds: list[Merge] = []
    for row in rows:
        try:
            target = _target(row, existing, written)
        except InputError as exc:
            report.rejected.append((row.line, str(exc)))
            continue
        if target is None:
            creates.append(row)
        elif target["id"] in written:
            folds.append((_gaps_only(row, target), target))
        else:
            updates.append((row, target))
    return creates, updates, folds


def _target(
    row: Row, existing: dict[str, dict[str, Any]], written: TalentIds
) -> dict[str, Any] | None:
    """The talent ``row`` is about, if any; InputError when its addresses disagree."""
    by_email = existing.get(row.email) if row.email else None
    by_phone = existing.get(row.phone) if row.phone else None
    if by_email and by_phone and by_email["id"] != by_phone["id"]:
        if by_email["id"] in written and by_phone["id"] in written:
            raise InputError(
                f"email and phone belong to different earlier rows (talents "
                f"#{by_email['id']} and #{by_phone['id']})"
            )
        raise InputError(
            f"email matches talent #{by_email['id']} but phone matches "
            f"talent #{by_phone['id']}: merge them by hand"
        )
    if by_phone and row.email and by_phone["email"] and row.email != by_phone["email"]:
        if by_phone["id"] in written:
            raise InputError(
                f"phone {row.phone} is already on an earlier row (talent #{by_phone['id']}) "
                f"with another email ({by_phone['email']})"
            )
        raise InputError(
            f"phone {row.phone} belongs to talent #{by_phone['id']} "
            f"who has another email ({by_phone['email']})"
        )
    return by_email or by_phone


def _gaps_only(row: Row, current: Mapping[str, Any]) -> Row:
    """``row`` keeping only what ``current`` lacks: how a later duplicate row merges."""
    links, attributes = current["links"] or {}, current["attributes"] or {}
    return replace(
        row,
        email=None if current["email"] else row.email,
        phone=None if current["phone"] else row.phone,
        profile={k: None if current[k] else v for k, v in row.profile.items()},
        links={k: v for k, v in row.links.items() if k not in links},
        attributes={k: v for k, v in row.attributes.items() if k not in attributes},
    )


def _create(session: Session, rows: list[Row], now: datetime, source_name: str) -> list[int]:
    """Insert ``rows`` as new talents, with labels and timeline; their ids, in order."""
    if not rows:
        return []
    values = [
        {
            **_NO_TALENT,
            "email": row.email,
            "phone": row.phone,
            **row.profile,
            "links": row.links,
            "attributes": row.attributes,
            "stage": row.stage or "person",
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
    ]
    # Every column named: one compiled executemany on SQLite, COPY on PostgreSQL. (The ORM's
    # bulk insert splits rows by which of their values are None: thousands of statements.)
    insert_rows(session, _table(Talent), values)
    ids = _ids_of(session, rows)
    _insert_labels(session, zip(ids, rows, strict=True))
    insert_rows(session, _table(Engagement), [
        timeline.values("imported", at=now, talent_id=talent_id, data={},
                        detail=f"imported from {source_name} line {row.line}")
        for talent_id, row in zip(ids, rows, strict=True)
    ])  # fmt: skip
    return ids


_NO_TALENT = {column.name: None for column in Talent.__table__.c if not column.primary_key}


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _ids_of(session: Session, rows: list[Row]) -> list[int]:
    """The ids of freshly inserted rows, looked up by their email (or phone)."""
    ids: dict[str, int] = {}
    for column, values in ((Talent.email, [r.email for r in rows if r.email]),
                           (Talent.phone, [r.phone for r in rows if not r.email])):  # fmt: skip
        for chunk in _chunks(values):  # type: ignore[arg-type]
            query = select(column, Talent.id).where(column.in_(chunk))
            ids.update((key, talent_id) for key, talent_id in session.execute(query))
    return [ids[row.email or row.phone] for row in rows]  # type: ignore[index]


def _insert_labels(
    session: Session, pairs: Iterator[tuple[int, Row]], known: Mapping[int, Any] | None = None
) -> None:
    labels = [
        {"talent_id": talent_id, "kind": kind, "value": value}
        for talent_id, row in pairs
        for kind, values in (("tag", row.tags), ("skill", row.skills))
        for value in sorted(values - (known[talent_id][kind] if known else set()))
    ]
    insert_rows(session, _table(TalentLabel), labels)


def _update(
    session: Session, updates: list[tuple[Row, dict[str, Any]]], now: datetime, source_name: str
) -> int:
    """Merge rows into their talents: given values win, empty cells keep what is there."""
    changes: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    label_pairs: list[tuple[int, Row]] = []
    known: dict[int, Any] = {}
    for row, current in updates:
        diff = _diff(row, current)
        new_labels = (row.tags - current["tag"]) or (row.skills - current["skill"])
        if not diff and not new_labels:
            continue
        changes.append({"id": current["id"], **diff, "updated_at": now})
        fields = sorted([*diff, *(["tags/skills"] if new_labels else [])])
        entries.append(timeline.values("updated", at=now, talent_id=current["id"],
                                       detail=f"updated from {source_name} line {row.line}",
                                       data={"fields": fields}))  # fmt: skip
        label_pairs.append((current["id"], row))
        known[current["id"]] = current
    if changes:
        session.execute(update(Talent), changes)
        insert_rows(session, _table(Engagement), entries)
        _insert_labels(session, iter(label_pairs), known)
    return len(changes)


def _diff(row: Row, current: Mapping[str, Any]) -> dict[str, Any]:
    diff = {k: v for k, v in row.profile.items() if v and v != current[k]}
    if row.email and row.email != current["email"]:
        diff["email"] = row.email
    if row.phone and row.phone != current["phone"]:
        diff["phone"] = row.phone
    for name, given in (("links", row.links), ("attributes", row.attributes)):
        merged = {**(current[name] or {}), **given}
        if merged != (current[name] or {}):
            diff[name] = merged
    return diff


def count_talents(session: Session) -> int:
    return session.scalar(select(func.count(Talent.id))) or 0
