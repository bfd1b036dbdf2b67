"""Messy input: encodings, delimiters, bad files through the real CLI, HTML to text, speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog_writer.ingest.catalog import html_to_text, inspect_report, parse_mapping, read_catalog
from catalog_writer.core.errors import CatalogWriterError

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / ".venv" / "bin" / "catalog-writer"
GOOD = "Name,Description\nJar,<p>A glass jar with a clamp lid that keeps dry goods fresh for months.</p>\n"


def cli(*args: str, entry: bool = False) -> subprocess.CompletedProcess:
    """Run the real command line (the installed script when asked, else `python -m`)."""
    cmd = [str(ENTRY)] if entry else [sys.executable, "-m", "catalog_writer.app.cli"]
    return subprocess.run([*cmd, *args], check=False, capture_output=True, text=True, timeout=60, cwd=REPO)


def _xlsx_bytes() -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Name", "Description", "Material"])
    wb.active.append(["Jar", "<p>A glass jar with a clamp lid that keeps dry goods fresh for months.</p>", "Glass"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_bytes() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("catalog.csv", GOOD)
    return buf.getvalue()


ERRORS = {
    "zip-archive": (_zip_bytes(), "not a readable XLSX workbook"),
    "empty": (b"", "file is empty"),
    "binary": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "binary file"),
    "zip": (b"PK\x03\x04" + b"\x00" * 64, "not a readable XLSX"),
    "no-title": (b"Colour,Weight\nRed,3\n", "no title column"),
    "unterminated": (b'Name,Description\nA,"fine"\nB,"never closed\nC,x\n', "unterminated quoted field"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_files_give_one_line_error_exit_2(tmp_path, case):
    data, message = ERRORS[case]
    f = tmp_path / f"{case}.csv"
    f.write_bytes(data)
    result = cli("inspect", str(f), entry=case == "no-title" and ENTRY.exists())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"error: {f}") and message in lines[0]
    if case == "unterminated":
        assert "row 3" in lines[0]


def _inspect(tmp_path, name: str, data: bytes, *extra: str) -> dict:
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    f = tmp_path / name
    f.write_bytes(data)
    result = CliRunner().invoke(app, ["inspect", str(f), "--json", *extra])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_header_only_and_ragged_rows_are_reported(tmp_path):
    report = _inspect(tmp_path, "header.csv", b"Handle,Title,Body (HTML)\n")
    assert report["format"] == "shopify" and report["rows"] == 0 and report["products"] == 0
    assert "no data rows" in report["problems"][0]["message"]
    report = _inspect(tmp_path, "ragged.csv", b"Name,Description,Material\nA,d,Wool\nB,d,Cotton,EXTRA\nC\n")
    assert report["products"] == 3
    assert [(p["row"], "ragged" in p["message"]) for p in report["problems"]] == [(3, True), (4, True)]


def test_xlsx_with_csv_name_and_real_xlsx(tmp_path):
    report = _inspect(tmp_path, "workbook.csv", _xlsx_bytes())
    assert report["encoding"] == "xlsx" and report["products"] == 1 and report["with_description"] == 1
    assert "XLSX workbook despite" in report["problems"][0]["message"]
    (tmp_path / "book.xlsx").write_bytes(_xlsx_bytes())
    cat = read_catalog(tmp_path / "book.xlsx")
    assert cat.products[0].attributes == {"Material": "Glass"} and not cat.problems


def test_huge_cell_parses_and_is_reported(tmp_path):
    big = "word " * 2_000_000  # 10 MB in one cell
    f = tmp_path / "big.csv"
    f.write_text(f'Name,Description\nHuge,"{big}"\nSmall,"{"tiny " * 9}"\n')
    t = time.perf_counter()
    cat = read_catalog(f)
    assert time.perf_counter() - t < 5
    assert len(cat.table[0][1]) == 10_000_000 and len(cat.products) == 2
    assert any("very long cell" in p.message and p.row == 2 and p.column == "Description" for p in cat.problems)


@pytest.mark.parametrize("encoding,expected", [
    ("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"), ("cp1252", "cp1252"), ("utf-8-sig", "utf-8-sig"),
    ("utf-8", "utf-8"),
])
def test_encodings(tmp_path, encoding, expected):
    text = "Name\tDescription\nKäse\tWürziger Käse aus den Bergen – lange gereift, mild und cremig.\n"
    f = tmp_path / "k.tsv"
    f.write_bytes(text.encode(encoding))
    cat = read_catalog(f)
    assert cat.encoding == expected and cat.delimiter == "\t"
    assert cat.products[0].title == "Käse" and "– lange" in cat.products[0].description


def test_semicolon_and_stray_quotes(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text('Name;Description\nA;"quoted"junk\nB;"Eine; Beschreibung"\n')
    cat = read_catalog(f)
    assert cat.delimiter == ";" and [p.title for p in cat.products] == ["A", "B"]
    assert cat.products[1].description == "Eine; Beschreibung"
    assert any("malformed quoting" in p.message and p.row == 2 for p in cat.problems)


def test_missing_file_folder_and_misused_options(tmp_path):
    with pytest.raises(CatalogWriterError, match="file not found"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(CatalogWriterError, match="folder"):
        read_catalog(tmp_path)
    f = tmp_path / "c.csv"
    f.write_text(GOOD)
    with pytest.raises(CatalogWriterError, match="--map only applies to generic"):
        read_catalog(f, format="shopify", mapping={"title": "Name"})
    with pytest.raises(CatalogWriterError, match="mapping file not found"):
        parse_mapping([str(tmp_path / "cols.yaml")])


def test_html_to_text():
    html = ("<h2>Hi &amp; welcome</h2><p>One   two<br>three&nbsp;four</p>"
            "<ul><li>first</li><li> second <b>bold</b></li></ul><!-- note --><script>x()</script><p>end</p>")
    assert html_to_text(html) == "Hi & welcome\n\nOne two\nthree four\n\n- first\n- second bold\n\nend"
    # Magento's bullets written as &bull; lines, unclosed tags, and plain text.
    assert html_to_text("<p>Warm.<br />&bull; Hood.<br/>&bull; Cuffs.") == "Warm.\n- Hood.\n- Cuffs."
    assert html_to_text("<p>Para<p><ul><li>a<li>b</ul>") == "Para\n\n- a\n- b"
    assert html_to_text("Plain   text\n\n• dot item\n* star item\n-5 degrees") == (
        "Plain text\n\n- dot item\n- star item\n-5 degrees")
    assert html_to_text("") == "" and html_to_text("  <p> </p> ") == ""


def test_report_counts_usable_descriptions(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text(GOOD + "Lid,Short one\n,<p>No title but a perfectly long enough description here.</p>\n")
    report = inspect_report(read_catalog(f))
    assert report["products"] == 3 and report["with_description"] == 2 and report["empty_titles"] == 1
    assert report["problems"] == [{"row": 4, "column": "title", "message": "product without a title",
                                   "kind": "warning"}]


def test_thousands_of_rows_are_fast(tmp_path):
    lines = ["Handle,Title,Body (HTML),Vendor,Option1 Name,Option1 Value,Variant Price"]
    for i in range(1500):
        lines.append(f"p{i},Product {i},<p>Product {i} is made of wool and <b>knitted</b> by hand.</p>"
                     f"<ul><li>warm</li><li>soft</li></ul>,Acme,Size,S,10")
        lines.append(f"p{i},,,,,M,10")
    f = tmp_path / "many.csv"
    f.write_text("\n".join(lines) + "\n")
    t = time.perf_counter()
    cat = read_catalog(f)
    elapsed = time.perf_counter() - t
    assert len(cat.products) == 1500 and cat.products[-1].options == {"Size": ["S", "M"]}
    assert elapsed < 3.0, elapsed


def test_catalog_does_not_import_torch():
    code = ("import sys; from catalog_writer.ingest.catalog import read_catalog; "
            f"read_catalog({str(REPO / 'tests/fixtures/catalogs/shopify_old.csv')!r}); "
            "print('torch' in sys.modules or 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
