"""Importing people: messy rows keep the person, Excel's encodings, hosted database URLs,
files too big for memory, cells too big for their column."""

from __future__ import annotations

from typing import Any

import pytest
from journey import Workspace

MESSY = """\
Email,Phone,Time Zone,Country,First Name,Stage
ada@example.com,12ab,Europe/Berlin,DE,Ada,
ken@example.jp,090-1234-5678,Asia/Tokio,JP,Ken,
greta@example.de,,,Germny,Greta,boss
,not a phone,,,Nobody,
grace@@navy,,,,Grace,
"""


def _talent(ws: Workspace, address: str) -> dict[str, Any]:
    return dict(ws.nurture("talents", "export", address).json()["talent"])


def test_a_bad_field_is_left_out_with_a_warning_and_the_person_kept(ws_db: Workspace) -> None:
    ws_db.write("people.csv", MESSY)
    ran = ws_db.nurture("talents", "import", "people.csv")
    assert "3 created, 0 updated, 0 unchanged, 0 duplicate rows merged, 2 rejected" in ran.out
    assert "people.csv:2: warning: phone '12ab' is not a phone number" in ran.err
    assert (
        "people.csv:3: warning: timezone 'Asia/Tokio' is not an IANA zone; "
        "did you mean 'Asia/Tokyo'?; imported without it" in ran.err
    )
    assert (
        "people.csv:4: warning: country 'Germny' is not an ISO 3166 code or a country name; "
        "did you mean 'DE' (Germany)?" in ran.err
    )
    assert "people.csv:4: warning: stage 'boss' is not one of person, prospect" in ran.err
    assert "people.csv:5: phone 'not a phone' is not a phone number" in ran.out  # rejected
    assert "people.csv:6: email 'grace@@navy' is not valid" in ran.out
    assert "Traceback" not in ran.err
    ada, ken, greta = (
        _talent(ws_db, a) for a in ("ada@example.com", "ken@example.jp", "greta@example.de")
    )
    assert (ada["phone"], ada["timezone"], ada["country"]) == (None, "Europe/Berlin", "DE")
    assert (ken["phone"], ken["timezone"]) == ("+819012345678", "Asia/Tokyo")  # from the phone
    assert (greta["country"], greta["stage"], greta["first_name"]) == (None, "person", "Greta")


EXCEL = {  # how Excel saves "CSV": file name, encoding, separator
    "unicode-text.txt": ("utf-16", "\t"),
    "csv-utf8-fr.csv": ("utf-8-sig", ";"),
    "csv-windows-de.csv": ("cp1252", ";"),
    "plain.csv": ("utf-8", ","),
}


def test_excel_encodings_and_separators_are_read(ws_db: Workspace) -> None:
    rows = [["E-mail", "Prénom", "Nom", "Ville"], ["zoe@example.fr", "Zoë", "Müller", "Besançon"]]
    for number, (name, (encoding, separator)) in enumerate(EXCEL.items()):
        text = "\r\n".join(separator.join(row) for row in rows) + "\r\n"
        (ws_db.root / name).write_bytes(text.encode(encoding))
        ran = ws_db.nurture("talents", "import", name)
        expected = "1 unchanged" if number else "1 created"  # read alike in every encoding
        assert expected in ran.out and not ran.err, ran
    zoe = _talent(ws_db, "zoe@example.fr")
    assert (zoe["first_name"], zoe["last_name"], zoe["city"]) == ("Zoë", "Müller", "Besançon")


def test_postgres_urls_as_hosting_providers_give_them(ws_db: Workspace) -> None:
    url = ws_db.env["NURTURE_DATABASE_URL"]
    if not url.startswith("postgresql+psycopg://"):
        pytest.skip("a PostgreSQL URL: set NURTURE_TEST_DATABASE_URL")
    ws_db.write("people.csv", "email,first name\nlin@example.com,Lin\n")
    bare = {"NURTURE_DATABASE_URL": url.replace("postgresql+psycopg://", "postgresql://", 1)}
    assert "1 created" in ws_db.nurture("talents", "import", "people.csv", env=bare).out
    heroku = {"NURTURE_DATABASE_URL": url.replace("postgresql+psycopg://", "postgres://", 1)}
    assert "Lin" in ws_db.nurture("talents", "show", "lin@example.com", env=heroku).out
    assert "Lin" in ws_db.nurture("talents", "show", "lin@example.com").out  # the same schema


def test_long_cells_and_nul_bytes_are_cleaned_not_fatal(ws_db: Workspace) -> None:
    long_email = "a" * 300 + "@example.com"
    note, city = "n" * 100_000, "Berlin " * 100
    ws_db.write(
        "people.csv",
        "email,phone,city,note,first name\n"
        f"{long_email},+4930123456,{city},{note},Ada\x00\n"
        f"{long_email},,,,Nobody\n"
        "ok@example.com,,,,Ok\n",
    )
    ran = ws_db.nurture("talents", "import", "people.csv")
    assert "2 created, 0 updated, 0 unchanged, 0 duplicate rows merged, 1 rejected" in ran.out
    assert "people.csv:2: warning: city: 699 characters cut to 200" in ran.err
    assert "people.csv:2: warning: note: 100,000 characters cut to 10,000" in ran.err
    assert "people.csv:2: warning: first_name: NUL bytes removed" in ran.err
    assert f"people.csv:2: warning: email '{long_email}' is not valid" in ran.err
    assert f"people.csv:3: email '{long_email}' is not valid" in ran.out
    ada = _talent(ws_db, "+4930123456")
    assert (ada["first_name"], ada["email"], len(ada["city"])) == ("Ada", None, 200)
    assert len(ada["attributes"]["note"]) == 10_000


def test_duplicates_far_apart_in_a_big_file_are_merged_once(ws_db: Workspace) -> None:
    rows = [f"p{i}@example.com,First{i},,python" for i in range(2500)]
    rows[2400] = "P1@example.com,Other,Acme,go"  # the same person as row 2, two batches later
    ws_db.write("big.csv", "email,first name,company,skills\n" + "\n".join(rows) + "\n")
    ran = ws_db.nurture("talents", "import", "big.csv")
    assert "2499 created, 0 updated, 0 unchanged, 1 duplicate rows merged, 0 rejected" in ran.out
    again = ws_db.nurture("talents", "import", "big.csv")
    assert "0 created, 0 updated, 2499 unchanged, 1 duplicate rows merged" in again.out
    shown = ws_db.nurture("talents", "export", "p1@example.com").json()
    assert (shown["talent"]["first_name"], shown["talent"]["company"]) == ("First1", "Acme")
    assert shown["skills"] == ["go", "python"]  # the first row wins, later ones fill gaps


def test_a_broken_file_or_option_names_where_and_writes_nothing(ws_db: Workspace) -> None:
    rows = [f"p{i}@example.com,First{i}" for i in range(3000)] + ['x@example.com,"Unclosed']
    ws_db.write("broken.csv", "email,first name\n" + "\n".join(rows) + "\n")
    ran = ws_db.nurture("talents", "import", "broken.csv", check=False)
    assert ran.code == 1 and "Traceback" not in ran.err
    assert "broken.csv: line 3002: a quoted cell opened in this row is never closed" in ran.err
    assert "nothing was imported" in ran.err
    assert ws_db.nurture("talents", "show", "p0@example.com", check=False).code == 1
    ran = ws_db.nurture("talents", "import", "talents.csv", "--region", "Germny", check=False)
    assert ran.code == 1 and "--region: country 'Germny' is not an ISO 3166 code" in ran.err
