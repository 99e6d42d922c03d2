"""CSV reading and row validation, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.talents.addresses import normalize_email, normalize_phone
from engine.talents.csv_import import parse_row, read_csv
from sequences.errors import InputError


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("First Name", "first_name"),
        ("first_name", "first_name"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Phone Number", "phone"),
        ("Mobile", "phone"),
        ("Job Title", "title"),
        ("Time Zone", "timezone"),
        ("Prénom", "first_name"),
        ("Favourite Editor", "favourite_editor"),
    ],
)
def test_headers_map_common_aliases(header: str, column: str) -> None:
    columns, _ = read_csv(f"{header},email\nx,a@example.com\n".encode())
    assert columns[0] == column


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_separator_is_sniffed_and_bom_ignored(separator: str) -> None:
    data = "\ufeff" + separator.join(["Email", "City"]) + "\n"
    data += separator.join(["a@example.com", "Berlin"]) + "\n"
    columns, rows = read_csv(data.encode())
    assert columns == ["email", "city"]
    assert list(rows) == [(2, {"email": "a@example.com", "city": "Berlin"})]


def test_header_without_any_address_column_is_refused() -> None:
    with pytest.raises(InputError, match="line 1: the header has no email or phone column"):
        read_csv(b"name,city\nAda,Berlin\n")


def test_line_numbers_are_where_each_row_starts_and_blank_rows_are_skipped() -> None:
    _, rows = read_csv(b'email,note\na@example.com,"two\nlines"\n\n,\nb@example.com,x\n')
    assert [line for line, _ in rows] == [2, 6]


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("raw", ["grace@@navy", "no-at-sign", "a@b"])
def test_bad_emails_name_the_value(raw: str) -> None:
    with pytest.raises(InputError, match=f"email {raw!r} is not valid"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+1 (202) 555-0143", None, "+12025550143"),
        ("090-1234-5678", "JP", "+819012345678"),
    ],
)
def test_phones_become_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


def test_local_phone_without_region_is_refused() -> None:
    with pytest.raises(InputError, match="not a phone number"):
        normalize_phone("030 1234567", None)


def test_row_infers_timezone_from_a_single_zone_phone() -> None:
    row = parse_row(2, {"email": "k@example.jp", "phone": "090-1234-5678", "country": "jp"}, None)
    assert row.profile["timezone"] == "Asia/Tokyo"
    assert row.profile["country"] == "JP"


@pytest.mark.parametrize(
    ("raw", "left_out", "warning"),
    [
        ({"country": "Germny"}, "country",
         "country 'Germny' is not an ISO 3166 code or a country name; "
         "did you mean 'DE' (Germany)?; imported without it"),
        ({"country": "XX"}, "country", "country 'XX' is not an ISO 3166 code"),
        ({"timezone": "Asia/Tokio"}, "timezone",
         "timezone 'Asia/Tokio' is not an IANA zone; did you mean 'Asia/Tokyo'?"),
        ({"timezone": "Mars/Olympus"}, "timezone", "timezone 'Mars/Olympus' is not an IANA zone"),
        ({"phone": "12ab"}, "phone", "phone '12ab' is not a phone number"),
    ],
)  # fmt: skip
def test_a_bad_field_is_left_out_with_a_warning(
    raw: dict[str, str], left_out: str, warning: str
) -> None:
    row = parse_row(2, {"email": "a@example.com", **raw}, None)
    assert row.email == "a@example.com"
    assert (row.profile | {"phone": row.phone})[left_out] is None
    assert len(row.warnings) == 1 and row.warnings[0].startswith(warning)


def test_a_bad_stage_is_left_out_and_country_names_become_codes() -> None:
    row = parse_row(2, {"email": "a@example.com", "stage": "boss", "country": "france"}, None)
    assert row.stage is None and row.warnings[0].startswith("stage 'boss' is not one of")
    assert row.profile["country"] == "FR"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"first_name": "Nobody"}, "no email and no phone"),
        ({"email": "grace@@navy", "phone": "12ab"}, "email 'grace@@navy' is not valid"),
        ({"phone": "12ab"}, "phone '12ab' is not a phone number"),
    ],
)
def test_a_row_nobody_can_be_reached_by_is_rejected(raw: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_row(2, raw, None)


def test_long_cells_are_cut_to_their_column_and_nul_bytes_removed() -> None:
    raw = {"email": "a@example.com", "city": "B" * 500, "note": "x" * 100_000, "title": "C\x00TO"}
    row = parse_row(2, raw, None)
    assert row.profile["city"] == "B" * 200 and row.profile["title"] == "CTO"
    assert len(row.attributes["note"]) == 10_000
    assert row.warnings == [
        "city: 500 characters cut to 200",
        "note: 100,000 characters cut to 10,000",
        "title: NUL bytes removed",
    ]


def test_labels_split_on_pipes_semicolons_and_commas() -> None:
    row = parse_row(2, {"email": "a@example.com", "skills": "Python| Go ,rust;SQL"}, None)
    assert row.skills == {"python", "go", "rust", "sql"}


def test_unknown_columns_become_attributes_and_full_name_is_split() -> None:
    row = parse_row(
        2, {"email": "a@example.com", "name": "Ada King Lovelace", "editor": "vim"}, None
    )
    assert (row.profile["first_name"], row.profile["last_name"]) == ("Ada", "King Lovelace")
    assert row.attributes == {"editor": "vim"}


def test_the_progress_total_counts_rows_not_lines(tmp_path: Path) -> None:
    from engine.cli.talents import _count_rows

    path = tmp_path / "notes.csv"
    path.write_bytes(b'email,note\na@example.com,"one\ntwo\nthree"\n\nb@example.com,x\n')
    assert _count_rows(path) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'email,name\na@example.com,Ada\nb@example.com,"Bob\n', "line 3: a quoted cell opened"),
        (b'email,name\na@example.com,"Ada"x\n', "line 2: this row is not valid CSV"),
    ],
)
def test_a_broken_file_names_the_line(data: bytes, message: str) -> None:
    _, rows = read_csv(data)
    with pytest.raises(InputError, match=message):
        list(rows)


def test_utf16_without_bom_and_stray_windows_bytes_are_read() -> None:
    _, rows = read_csv("email\tcity\na@example.com\tKöln\n".encode("utf-16-le"))
    assert list(rows) == [(2, {"email": "a@example.com", "city": "Köln"})]
    mixed = "email,city\na@example.com,Köln\n".encode() + b"b@example.com,Li\xe8ge\n"
    _, rows = read_csv(mixed)  # one UTF-8 row, one Windows-1252 row: both read
    assert [row["city"] for _, row in rows] == ["Köln", "Liège"]


def test_a_header_loses_nul_bytes_and_is_cut_to_100_characters() -> None:
    columns, _ = read_csv(b"email,fav\x00 editor," + b"n" * 500 + b"\na@example.com,vim,x\n")
    assert columns == ["email", "fav_editor", "n" * 100]
