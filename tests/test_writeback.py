"""Write-back: same format round trips, formula escaping, side files, csv/jsonl exports, atomicity."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from catalog_writer.ingest import writeback
from catalog_writer.ingest.catalog import parse_mapping, read_catalog
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import escape_formula, unescape_formula
from catalog_writer.ingest.writeback import write_catalog

CATS = Path(__file__).parent / "fixtures" / "catalogs"


def raw(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[list[str]]:
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter))


@pytest.mark.parametrize("name", ["shopify_old.csv", "shopify_new.csv", "woocommerce.csv", "magento.csv",
                                  "merchant.tsv"])
def test_same_format_round_trip_changes_only_description_cells(tmp_path, name):
    cat = read_catalog(CATS / name)
    texts = {p.id: f"<p>New copy for {p.title}.</p>\n<ul><li>one</li></ul>" for p in cat.products}
    texts[cat.products[0].id] = "=HYPERLINK(\"http://evil\")"  # must not become a live formula
    out = write_catalog(cat, texts, tmp_path / name)
    before, after = raw(CATS / name, cat.delimiter), raw(out, cat.delimiter)
    assert after[0] == before[0] and len(after) == len(before)
    col = before[0].index(cat.description_column)
    targets = {p.main_row for p in cat.products}
    if cat.format == "merchant":  # every item of a group carries the group's description
        targets |= {r - 2 for p in cat.products for r in p.rows}
    for i, (old, new) in enumerate(zip(before[1:], after[1:])):
        if i in targets:
            assert [c for j, c in enumerate(new) if j != col] == [c for j, c in enumerate(old) if j != col]
        else:
            assert new == old, f"row {i + 2} changed"
    first = cat.products[0]
    assert after[first.main_row + 1][col] == "'=HYPERLINK(\"http://evil\")"
    again = read_catalog(out)
    assert again.format == cat.format and [p.id for p in again.products] == [p.id for p in cat.products]
    assert {p.id: p.description_html for p in again.products} == texts  # escape stripped, \n decoded
    assert again.products[0].options == first.options and again.products[0].attributes == first.attributes


def test_untouched_cells_keep_their_leading_characters(tmp_path):
    cat = read_catalog(CATS / "shopify_old.csv")  # canvas-tote's price cell is "=1+2"
    out = write_catalog(cat, {"wool-beanie": "<p>Warm.</p>"}, tmp_path / "o.csv")
    rows = raw(out)
    assert rows[6][rows[0].index("Variant Price")] == "=1+2"
    assert out.read_text().endswith("\n") and "\r\n" not in out.read_text()  # source used LF


def test_woocommerce_writes_literal_newlines(tmp_path):
    cat = read_catalog(CATS / "woocommerce.csv")
    out = write_catalog(cat, {"104": "<p>Line one.</p>\n<p>Line two.</p>"}, tmp_path / "w.csv")
    row = raw(out)[4]
    assert row[raw(out)[0].index("Description")] == "<p>Line one.</p>\\n<p>Line two.</p>"


def test_bom_crlf_and_semicolon_are_kept(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("\ufeffName;Copy;Extra\r\nA;old text;x\r\nB;;y\r\n".encode())
    cat = read_catalog(src)
    assert (cat.encoding, cat.delimiter, cat.line_terminator) == ("utf-8-sig", ";", "\r\n")
    out = write_catalog(cat, {"row-3": "Fresh"}, tmp_path / "out.csv")
    assert out.read_bytes() == "\ufeffName;Copy;Extra\r\nA;old text;x\r\nB;Fresh;y\r\n".encode()


def test_generic_adds_missing_description_column(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("sku,Name,Mat\nS1,Board,Oak\nS2,Spoon,\n")
    cat = read_catalog(src, mapping=parse_mapping(["id=sku", "title=Name", "attr:Material=Mat"]))
    out = write_catalog(cat, {"S2": "<p>Carved.</p>"}, tmp_path / "out.csv")
    assert raw(out) == [["sku", "Name", "Mat", "description"], ["S1", "Board", "Oak", ""],
                        ["S2", "Spoon", "", "<p>Carved.</p>"]]


def test_duplicates_get_the_kept_products_text(tmp_path):
    cat = read_catalog(CATS / "generic.csv")
    assert cat.duplicate_of == {2: "A-1"}
    out = write_catalog(cat, {"A-1": "<p>Oak.</p>"}, tmp_path / "g.csv")
    rows = raw(out, ";")
    assert rows[1][2] == rows[3][2] == "<p>Oak.</p>" and rows[2] == raw(CATS / "generic.csv", ";")[2]


def test_xlsx_same_writes_a_workbook(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Name", "Description"])
    wb.active.append(["Jar", ""])
    wb.save(tmp_path / "in.xlsx")
    cat = read_catalog(tmp_path / "in.xlsx")
    out = write_catalog(cat, {cat.products[0].id: "<p>Glass jar.</p>"}, tmp_path / "out.xlsx")
    assert read_catalog(out).products[0].description == "Glass jar."


def test_flags_side_file_and_exports(tmp_path):
    cat = read_catalog(CATS / "shopify_old.csv")
    texts = {"linen-field-shirt": "<p>Linen.</p>", "wool-beanie": "-  minus start"}
    extra = {"linen-field-shirt": {"model_version": "fernhill@v1", "flags": "missing:Fabric"},
             "wool-beanie": {"model_version": "=cmd|' /C calc'!A0"}}
    out = write_catalog(cat, texts, tmp_path / "same.csv", extra=extra)
    assert raw(out)[0] == raw(CATS / "shopify_old.csv")[0]  # no extra columns in the platform file
    flags = raw(tmp_path / "same.csv.flags.csv")
    assert flags[0] == ["id", "row", "model_version", "flags"]
    assert flags[1] == ["linen-field-shirt", "2", "fernhill@v1", "missing:Fabric"]
    assert flags[2][2] == "'=cmd|' /C calc'!A0"

    exported = raw(write_catalog(cat, texts, tmp_path / "p.csv", out_format="csv", extra=extra))
    header = exported[0]
    assert header[:8] == ["id", "title", "brand", "category", "price", "rows", "description",
                          "reference_description"] and header[8:] == ["model_version", "flags"]
    tote = exported[3]
    assert tote[header.index("price")] == "'=1+2"  # every cell of a csv export is escaped
    assert exported[2][header.index("description")] == "'-  minus start"
    assert exported[1][header.index("rows")] == "2;3;4;5"
    again = {p.id: p for p in read_catalog(tmp_path / "p.csv").products}  # our own export reads back
    assert again["wool-beanie"].description_html == "-  minus start" and again["canvas-tote"].price == "=1+2"
    assert again["linen-field-shirt"].category == ["Apparel & Accessories", "Clothing", "Shirts & Tops"]
    records = [json.loads(x) for x in
               (write_catalog(cat, texts, tmp_path / "p.jsonl", out_format="jsonl", extra=extra)).read_text().splitlines()]
    assert [r["id"] for r in records] == [p.id for p in cat.products]
    assert records[0]["options"]["Size"] == ["S", "M", "L"] and records[0]["flags"] == "missing:Fabric"
    assert records[1]["description"] == "-  minus start"  # JSON is not a spreadsheet: no escaping


@pytest.mark.parametrize("cell,escaped", [
    ("=1+2", "'=1+2"), ("+41 22", "'+41 22"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("\nx", "'\nx"), ("  =1", "'  =1"), ("ok\n  =cmd()", "'ok\n  =cmd()"),
    ("<p>fine</p>", "<p>fine</p>"), ("a-b", "a-b"), ("", ""), ("'quoted", "'quoted"),
])
def test_escape_formula(cell, escaped):
    assert escape_formula(cell) == escaped
    assert unescape_formula(escaped) == cell


def test_errors_and_atomic_write(tmp_path, monkeypatch):
    cat = read_catalog(CATS / "magento.csv")
    with pytest.raises(CatalogWriterError, match="no product with id"):
        write_catalog(cat, {"NOPE": "x"}, tmp_path / "o.csv")
    with pytest.raises(CatalogWriterError, match="unknown output format"):
        write_catalog(cat, {}, tmp_path / "o.csv", out_format="xml")
    target = tmp_path / "keep.csv"
    target.write_text("previous content")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writeback.csv, "writer", boom)
    with pytest.raises(RuntimeError):
        write_catalog(cat, {"GT01": "<p>x</p>"}, target)
    assert target.read_text() == "previous content" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


@pytest.mark.parametrize("encoding,written", [("utf-16", "utf-16"), ("cp1252", "utf-8")])
def test_utf16_is_kept_and_cp1252_becomes_utf8(tmp_path, encoding, written):
    src = tmp_path / "in.tsv"
    src.write_bytes("Name\tDescription\nCafé\tCrème\n".encode(encoding))
    cat = read_catalog(src)
    out = write_catalog(cat, {"row-2": "<p>Neu – süß</p>"}, tmp_path / "out.tsv")
    assert out.read_bytes().decode(written).lstrip("\ufeff") == "Name\tDescription\nCafé\t<p>Neu – süß</p>\n"
    assert read_catalog(out).products[0].description == "Neu – süß"


def test_luma_round_trip(shared_dir, tmp_path):
    src = shared_dir / "data" / "magento-luma" / "configurable_products.csv"
    cat = read_catalog(src)
    texts = {p.id: f"<p>{p.title}, rewritten.</p>" for p in cat.products}
    out = write_catalog(cat, texts, tmp_path / "luma.csv")
    before, after = raw(src), raw(out)
    col = before[0].index("description")
    changed = {i for i, (a, b) in enumerate(zip(before, after)) if a != b}
    assert len(after) == len(before) == 1995 and changed == {p.main_row + 1 for p in cat.products}
    assert all(after[i][:col] + after[i][col + 1:] == before[i][:col] + before[i][col + 1:] for i in changed)
    assert [p.options for p in read_catalog(out).products] == [p.options for p in cat.products]
