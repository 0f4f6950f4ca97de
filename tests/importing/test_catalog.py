"""import-catalog end to end: the real sample MARC files, MARCXML, CSV, damaged files."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pymarc
import pytest
from sqlalchemy import func, select
from stdnum import isbn as stdnum_isbn

from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Item, Title
from kiosk.importing.catalog import cli_import_catalog

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LOC = DATA / "loc_marc21_sample_200.mrc"
CNMARC_GB = DATA / "cnmarc_12_gb18030.iso"
CNMARC_UTF8 = DATA / "cnmarc_12_utf8.iso"
ICCU = DATA / "iccu_unimarc_1.dat"

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"sample data folder {DATA} is missing (see shared/data/README.md)"
)


def run(settings, session_factory, path: Path):
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_catalog(
        settings, path, session_factory=session_factory, out=out, err=err, progress=False
    )
    return code, out.getvalue(), err.getvalue()


def count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def snapshot(session_factory) -> tuple[list[tuple], list[tuple]]:
    with session_factory() as s:
        titles = [
            (t.id, t.isbn13, t.title, t.author, t.publisher, t.year, t.call_number, t.updated_at)
            for t in s.scalars(select(Title).order_by(Title.id))
        ]
        items = [
            (i.id, i.barcode, i.title_id, i.location, i.status)
            for i in s.scalars(select(Item).order_by(Item.id))
        ]
    return titles, items


def catalog_of(session_factory) -> list[tuple]:
    with session_factory() as s:
        rows = [
            (
                t.isbn13,
                t.title,
                t.author,
                t.publisher,
                t.year,
                t.call_number,
                t.classification,
                tuple(sorted(i.barcode for i in t.items)),
            )
            for t in s.scalars(select(Title))
        ]
        return sorted(rows, key=lambda row: (row[0] or "", row[1]))


def first_isbn13(record: pymarc.Record) -> str:
    """The ISBN-13 of a record's first 020$a, worked out with stdnum alone."""
    value = record.get_fields("020")[0].get_subfields("a")[0]
    return stdnum_isbn.to_isbn13(re.match(r"[0-9Xx-]+", value).group(0)).replace("-", "")


def marc21(*fields: pymarc.Field) -> bytes:
    record = pymarc.Record()
    for f in fields:
        record.add_field(f)
    return record.as_marc()


def field(tag: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "), subfields=subfields)


@needs_data
def test_loc_marc21_sample_imports(settings, session_factory):
    with LOC.open("rb") as fh:
        records = list(pymarc.MARCReader(fh))
    code, out, err = run(settings, session_factory, LOC)
    assert (code, err) == (0, "")
    # Records 61 and 136 share their first ISBN (a volume and its set): one title.
    distinct = {first_isbn13(r) for r in records}
    assert len(distinct) == 199
    assert count(session_factory, Title) == 199
    assert count(session_factory, Item) == 199
    assert "200 records read — titles: 199 added" in out
    assert "record 136: ISBN 9784792323592 is also on record 61" in out

    first = records[0]
    expected_title = first["245"].get_subfields("a")[0].rstrip(" /:")
    with session_factory() as s:
        title = s.scalar(select(Title).where(Title.isbn13 == first_isbn13(first)))
        assert title is not None
        assert title.title == expected_title
        assert title.author == first["100"].get_subfields("a")[0].rstrip(".")
        assert title.year == 2000
        # Each book without holdings gets one made-up copy, G + ISBN-13 digits 3-12.
        assert [i.barcode for i in title.items] == ["G" + title.isbn13[2:12]]


@needs_data
def test_isbn10_record_is_found_by_the_ean13_on_the_cover(settings, session_factory):
    run(settings, session_factory, LOC)
    with LOC.open("rb") as fh:
        record = next(iter(pymarc.MARCReader(fh)))
    isbn10 = record["020"].get_subfields("a")[0]
    assert len(isbn10) == 10
    ean13 = "978" + isbn10[:9]
    ean13 += str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(ean13)) % 10) % 10)
    with session_factory() as s:
        assert s.scalar(select(Title.title).where(Title.isbn13 == ean13))


@needs_data
def test_cnmarc_gb18030_and_utf8_give_the_same_catalog(settings, tmp_path):
    catalogs = []
    for path in (CNMARC_GB, CNMARC_UTF8):
        engine = make_engine(tmp_path / f"{path.stem}.sqlite3")
        upgrade(engine)
        factory = make_session_factory(engine)
        code, out, _ = run(settings, factory, path)
        assert code == 0
        assert "12 records read — titles: 12 added" in out
        catalogs.append(catalog_of(factory))
        engine.dispose()
    gb, utf8 = catalogs
    assert gb == utf8
    huozhe = next(t for t in gb if t[1] == "活着")
    assert huozhe == (
        "9787021000004",
        "活着",
        "余华",
        "作家出版社",
        2012,
        "I247.57",
        "clc",
        ("A100000",),
    )
    assert {t[1] for t in gb} >= {"三体", "平凡的世界", "红星照耀中国"}


@needs_data
def test_cnmarc_encodings_are_sniffed_and_reported(settings, session_factory):
    code, out, _ = run(settings, session_factory, CNMARC_GB)
    assert "UNIMARC/GB18030 ×12" in out
    code, out, _ = run(settings, session_factory, CNMARC_UTF8)
    assert code == 0
    assert "UNIMARC/UTF-8 ×12" in out
    # The same books in the other encoding: nothing to change.
    assert "titles: 0 added, 0 updated, 12 unchanged; 0 items added" in out


@needs_data
def test_iccu_unimarc_record(settings, session_factory):
    code, out, _ = run(settings, session_factory, ICCU)
    assert code == 0
    assert "(ISO 2709: UNIMARC/UTF-8 ×1): 1 records read — titles: 1 added" in out
    with session_factory() as s:
        title = s.scalar(select(Title))
    assert title.isbn13 == stdnum_isbn.to_isbn13("88-04-40682-8").replace("-", "")
    assert title.title == "L'altra faccia della spirale"
    assert (title.author, title.publisher, title.year) == ("Asimov, Isaac", "A. Mondadori", 1996)


@needs_data
@pytest.mark.parametrize("namespace", [True, False])
def test_marcxml(settings, session_factory, tmp_path, namespace):
    with LOC.open("rb") as fh:
        records = [r for _, r in zip(range(3), pymarc.MARCReader(fh), strict=False)]
    path = tmp_path / "records.xml"
    if namespace:
        with path.open("wb") as fh:
            writer = pymarc.XMLWriter(fh)
            for r in records:
                writer.write(r)
            writer.close(close_fh=False)
    else:
        path.write_bytes(
            b"<collection>" + b"".join(pymarc.record_to_xml(r) for r in records) + b"</collection>"
        )
    code, out, err = run(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "(MARCXML: MARC21 ×3): 3 records read — titles: 3 added" in out
    with session_factory() as s:
        isbns = set(s.scalars(select(Title.isbn13)))
    assert isbns == {first_isbn13(r) for r in records}


def test_csv_with_chinese_headers_and_copy_rows(settings, session_factory, tmp_path):
    text = (
        "ISBN,题名,责任者,出版社,出版年,索书号,分类法,条码,馆藏地,复本数\n"
        "978-7-02-100000-4,活着,余华,作家出版社,2012,I247.57/Y77,中图法,A100001,二楼\n"
        "9787021000004,,,,,,,A100002,二楼\n"
        "7-02-100001-4,三体,刘慈欣,重庆出版社,2008,I247.55/L71,clc,,,3\n"
        ",乡土旧书,佚名,,民国,,,B000001,书库\n"
        "978-7-02-100002-8,没有条码,,,,,,,,\n"
        "978-7-02-100003-6,校验位错,,,,,,,,\n"
        "9787021000004,,,,,,,A 100003,二楼\n"
    )
    path = tmp_path / "books.csv"
    path.write_bytes(text.encode("gb18030"))
    code, out, err = run(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "7 rows read — titles: 4 added, 0 updated, 0 unchanged; 7 items added; 1 rejected" in out
    assert "books.csv line 8: 条码 (barcode) 'A 100003' contains spaces — copy skipped" in out
    assert (
        "books.csv line 7: ISBN '978-7-02-100003-6' has a bad check digit — record skipped" in out
    )
    assert "books.csv line 5: 出版年 (year) is not a year; left empty" in out
    got = {t[1]: t for t in catalog_of(session_factory)}
    assert got["活着"] == (
        "9787021000004",
        "活着",
        "余华",
        "作家出版社",
        2012,
        "I247.57/Y77",
        "clc",
        ("A100001", "A100002"),
    )
    assert got["三体"][0] == "9787021000011"
    assert len(got["三体"][7]) == 3
    assert got["乡土旧书"][0] is None
    assert got["乡土旧书"][7] == ("B000001",)
    assert got["没有条码"][7] == ("G8702100002",)

    code, out, _ = run(settings, session_factory, path)
    assert "titles: 0 added, 0 updated, 4 unchanged; 0 items added" in out


@needs_data
def test_reimport_is_idempotent(settings, session_factory):
    for path in (LOC, CNMARC_GB, ICCU):
        run(settings, session_factory, path)
    before = snapshot(session_factory)
    for path, n in ((LOC, 200), (CNMARC_GB, 12), (ICCU, 1)):
        code, out, _ = run(settings, session_factory, path)
        assert code == 0
        assert f"{n} records read — titles: 0 added, 0 updated, {n} unchanged; 0 items added" in out
    assert snapshot(session_factory) == before


@needs_data
def test_damaged_records_are_reported_and_the_rest_imports(settings, session_factory, tmp_path):
    run(settings, session_factory, CNMARC_GB)
    before = snapshot(session_factory)
    data = bytearray(LOC.read_bytes())
    ends = [i for i, b in enumerate(data) if b == 0x1D]
    # Record 5: its directory overwritten with junk.
    start5 = ends[3] + 1
    data[start5 + 30 : start5 + 42] = b"#" * 12
    # Record 10: forty bytes cut out of its middle, so it runs into record 11.
    start10 = ends[8] + 1
    del data[start10 + 100 : start10 + 140]
    path = tmp_path / "damaged.mrc"
    path.write_bytes(bytes(data))

    code, out, err = run(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "200 records read — titles: 197 added" in out
    assert "damaged.mrc record 5: damaged record: the directory is damaged — record skipped" in out
    assert "damaged.mrc record 10: damaged record: the leader says" in out
    assert "2 rejected" in out
    # Record 11, right behind the cut, is still found.
    with LOC.open("rb") as fh:
        record11 = list(pymarc.MARCReader(fh))[10]
    with session_factory() as s:
        assert s.scalar(select(Title.id).where(Title.isbn13 == first_isbn13(record11)))
    titles, items = snapshot(session_factory)
    assert titles[: len(before[0])] == before[0]
    assert items[: len(before[1])] == before[1]


def test_bad_check_digit_is_rejected_naming_the_field(settings, session_factory, tmp_path):
    good = stdnum_isbn.to_isbn13("0-306-40615-2").replace("-", "")
    path = tmp_path / "bad.mrc"
    path.write_bytes(
        marc21(field("020", "a", "0306406153 (pbk.)"), field("245", "a", "Wrong digit /"))
        + marc21(
            field("020", "a", "0306406153"),
            field("020", "a", "0306406152 (pbk.)"),
            field("245", "a", "Second ISBN is fine."),
        )
        + marc21(field("245", "a", "No ISBN, no copy"))
        + marc21(field("020", "a", "0306406152"), field("100", "a", "Nobody, A."))
    )
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "bad.mrc record 1: 020$a ISBN '0306406153' has a bad check digit — record skipped" in out
    # A record with neither ISBN nor copy is a book all the same: it gets a made-up label.
    assert "bad.mrc record 3" not in out
    assert "Copies that need labels (2)" in out
    assert "  GEN0000001  No ISBN, no copy  (record 3)" in out
    assert "bad.mrc record 4: 245$a (title) is missing — record skipped" in out
    with session_factory() as s:
        assert s.scalar(select(Title.title).where(Title.isbn13 == good)) == "Second ISBN is fine"


def test_unimarc_bad_check_digit_names_010a(settings, session_factory, tmp_path):
    path = tmp_path / "bad.iso"
    path.write_bytes(marc21(field("010", "a", "978-7-02-100000-5"), field("200", "a", "活着")))
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "record 1: 010$a ISBN '978-7-02-100000-5' has a bad check digit" in out
    assert count(session_factory, Title) == 0


def test_record_without_isbn_but_with_a_copy_is_imported(settings, session_factory, tmp_path):
    path = tmp_path / "old.mrc"
    path.write_bytes(
        marc21(field("245", "a", "An old book :", "b", "no ISBN /"), field("852", "p", "OB00001"))
    )
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    with session_factory() as s:
        title = s.scalar(select(Title))
        assert (title.isbn13, title.title) == (None, "An old book : no ISBN")
        assert [i.barcode for i in title.items] == ["OB00001"]
    code, out, _ = run(settings, session_factory, path)
    assert "0 added, 0 updated, 1 unchanged; 0 items added" in out


def test_copy_barcode_of_another_title_is_refused(settings, session_factory, tmp_path):
    first = stdnum_isbn.to_isbn13("0-306-40615-2").replace("-", "")
    path = tmp_path / "clash.mrc"
    path.write_bytes(
        marc21(field("020", "a", first), field("245", "a", "One"), field("852", "p", "X100001"))
        + marc21(
            field("020", "a", "0-19-852663-6"),
            field("245", "a", "Two"),
            field("852", "p", "X100001"),
            field("852", "p", "X100002"),
        )
    )
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "clash.mrc record 2: copy X100001 is already listed on record 1" in out
    with session_factory() as s:
        owners = dict(s.execute(select(Item.barcode, Title.title).join(Title)).all())
    assert owners == {"X100001": "One", "X100002": "Two"}


@pytest.mark.parametrize(
    "rows",
    [
        # A book with an ISBN, then one without that lists the same copy, and the other way.
        ["9787020002207,红楼梦,曹雪芹,X100001", ",老书,佚名,X100001"],
        [",老书,佚名,X100001", "9787020002207,红楼梦,曹雪芹,X100001"],
        # Two books without ISBN.
        [",老书,佚名,X100001", ",旧书,无名,X100001"],
    ],
)
def test_one_barcode_on_two_titles_rows_stays_with_the_first_on_every_import(
    settings, session_factory, tmp_path, rows
):
    path = tmp_path / "twice.csv"
    path.write_text("ISBN,题名,作者,条码\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "twice.csv line 3: copy X100001 is already listed on line 2 — copy skipped" in out
    first_title = rows[0].split(",")[1]
    with session_factory() as s:
        owners = dict(s.execute(select(Item.barcode, Title.title).join(Title)).all())
        titles = sorted(s.scalars(select(Title.title)))
    assert owners == {"X100001": first_title}
    # The second row's book is a title of its own, without the first row's copy, and no copy
    # is made up for it: the row named one.
    assert titles == sorted(row.split(",")[1] for row in rows)
    before = snapshot(session_factory)
    for _ in range(2):
        code, out, _ = run(settings, session_factory, path)
        assert code == 0
        assert "titles: 0 added, 0 updated, 2 unchanged; 0 items added" in out
        assert "line 3: copy X100001 is already listed on line 2" in out
        assert snapshot(session_factory) == before


def test_a_marc_record_without_isbn_whose_only_copy_an_earlier_record_lists_is_kept_once(
    settings, session_factory, tmp_path
):
    path = tmp_path / "shared.mrc"
    path.write_bytes(
        marc21(field("245", "a", "Old book one"), field("852", "p", "OB00001"))
        + marc21(field("245", "a", "Old book two"), field("852", "p", "OB00001"))
    )
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "shared.mrc record 2: copy OB00001 is already listed on record 1" in out
    before = snapshot(session_factory)
    assert [t[2] for t in before[0]] == ["Old book one", "Old book two"]
    assert [(i[1], i[2]) for i in before[1]] == [("OB00001", before[0][0][0])]
    code, out, _ = run(settings, session_factory, path)
    assert "0 added, 0 updated, 2 unchanged; 0 items added" in out
    assert snapshot(session_factory) == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.mrc", b"", "empty.mrc: the file is empty"),
        ("page.xml", b"<html><body>hi</body></html>", "page.xml: is XML but not MARCXML"),
        ("broken.xml", b"<collection><record><leader>", "broken.xml: is not well-formed MARCXML"),
        ("junk.dat", b"\x80\xff\xfe\x81" * 50, "junk.dat: is neither UTF-8 nor GB18030 text"),
        ("notitle.csv", "ISBN,作者\n9787021000004,余华\n".encode(), "题名 (title)"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old Excel 97-2003"),
        ("fake.xlsx", b"PK\x03\x04" + b"\0" * 100, "fake.xlsx: is a zip file but not an Excel"),
    ],
)
def test_unreadable_files_exit_2_and_change_nothing(
    settings, session_factory, tmp_path, name, content, message
):
    path = tmp_path / "ok.csv"
    path.write_text("isbn,title\n9787021000004,活着\n", encoding="utf-8")
    run(settings, session_factory, path)
    before = snapshot(session_factory)
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(settings, session_factory, path)
    assert code == 2
    assert message in err
    assert out == ""
    assert snapshot(session_factory) == before


def test_missing_file_exits_2(settings, session_factory, tmp_path):
    code, _, err = run(settings, session_factory, tmp_path / "nope.mrc")
    assert code == 2
    assert "nope.mrc: no such file" in err


def iso2709(fields: list[tuple[str, bytes]], leader9: bytes = b" ") -> bytes:
    """One hand-made ISO 2709 record, for encodings pymarc's writer never produces."""
    directory = data = b""
    for tag, body in fields:
        body += b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(body), len(data))
        data += body
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    leader = b"%05dnam " % total + leader9 + b"22%05d   4500" % base
    return leader + directory + b"\x1e" + data + b"\x1d"


@pytest.mark.parametrize(
    ("title_bytes", "encoding"),
    [
        (b"Caf\xe2e society /", "MARC-8"),  # MARC-8: the combining acute comes first
        ("Café society /".encode(), "UTF-8"),  # UTF-8 with leader/09 left blank
    ],
)
def test_marc21_text_encoding_is_sniffed(
    settings, session_factory, tmp_path, title_bytes, encoding
):
    path = tmp_path / "one.mrc"
    path.write_bytes(iso2709([("020", b"  \x1fa0306406152"), ("245", b"10\x1fa" + title_bytes)]))
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert f"MARC21/{encoding} ×1" in out
    with session_factory() as s:
        assert s.scalar(select(Title.title)) == "Café society"


@needs_data
@pytest.mark.parametrize("sample", [ICCU, LOC], ids=["unimarc", "marc21"])
def test_a_single_truncated_marc_record_is_named_as_such(
    settings, session_factory, tmp_path, sample
):
    whole = sample.read_bytes()
    first = whole[: int(whole[:5])]
    path = tmp_path / "cut.mrc"
    path.write_bytes(first[: len(first) // 2])
    code, _, err = run(settings, session_factory, path)
    assert code == 2
    assert "truncated MARC record" in err
    assert f"leader says {int(first[:5])} bytes" in err
    assert "header row" not in err
    assert count(session_factory, Title) == 0


@needs_data
def test_cnmarc_prices_from_010d(settings, session_factory):
    """CNMARC's 010$d "CNY39.80" becomes the title's price in fen (for compensation)."""
    code, _, err = run(settings, session_factory, CNMARC_UTF8)
    assert (code, err) == (0, "")
    with session_factory() as s:
        prices = dict(s.execute(select(Title.title, Title.price_fen)).all())
    assert prices["草房子"] == 3980
    assert set(prices.values()) == {3980}


def test_prices_from_marc21_020c_and_a_csv_price_column(settings, session_factory, tmp_path):
    mrc = tmp_path / "priced.mrc"
    mrc.write_bytes(
        marc21(
            field("020", "a", "9787020002207", "c", "CNY25.50"),
            field("245", "a", "红楼梦"),
        )
        + marc21(field("020", "a", "0306406152", "c", "$12.99"), field("245", "a", "Dollars"))
    )
    assert run(settings, session_factory, mrc)[0] == 0
    csv_path = tmp_path / "priced.csv"
    csv_path.write_text(
        "ISBN,题名,定价\n978-7-02-100000-4,活着,¥19.00\n7-02-100001-4,三体,二十元\n",
        encoding="utf-8",
    )
    code, out, _ = run(settings, session_factory, csv_path)
    assert code == 0
    assert "priced.csv line 3: 定价 (price) is not a price in yuan (like 25.00); left empty" in out
    # Re-importing a record without a price keeps the one already known.
    again = tmp_path / "again.csv"
    again.write_text("ISBN,题名\n978-7-02-100000-4,活着\n", encoding="utf-8")
    assert run(settings, session_factory, again)[0] == 0
    with session_factory() as s:
        prices = dict(s.execute(select(Title.title, Title.price_fen)).all())
    assert prices == {"红楼梦": 2550, "Dollars": None, "活着": 1900, "三体": None}
