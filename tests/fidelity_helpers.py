"""Small writers of real input files, and a run against a real emulator, for tests."""

from __future__ import annotations

import datetime as dt
import secrets
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import openpyxl
from click.testing import Result

from sync.emulator import Emulator
from tests.conftest import invoke

_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"'
)
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
    'manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" '
    'manifest:media-type="text/xml"/></manifest:manifest>'
)


def _ods_cell(value: object) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        word = "true" if value else "false"
        return (
            f'<table:table-cell office:value-type="boolean" office:boolean-value='
            f'"{word}"><text:p>{word.upper()}</text:p></table:table-cell>'
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value!r}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    if isinstance(value, dt.date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value='
            f'"{value.isoformat()}"><text:p>{value}</text:p></table:table-cell>'
        )
    return (
        '<table:table-cell office:value-type="string">'
        f"<text:p>{escape(str(value))}</text:p></table:table-cell>"
    )


def write_ods(
    path: Path,
    sheets: dict[str, Sequence[Sequence[object]]],
    hidden: Sequence[str] = (),
) -> Path:
    """An OpenDocument spreadsheet, as LibreOffice stores one, with typed cells."""
    tables = []
    for name, rows in sheets.items():
        style = ' table:style-name="hidden"' if name in hidden else ""
        body = "".join(
            "<table:table-row>"
            + "".join(_ods_cell(v) for v in row)
            + "</table:table-row>"
            for row in rows
        )
        tables.append(
            f"<table:table table:name={quoteattr(name)}{style}>{body}</table:table>"
        )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<office:document-content {_ODS_NS} office:version="1.2">'
        '<office:automatic-styles><style:style style:name="hidden" '
        'style:family="table"><style:table-properties table:display="false"/>'
        "</style:style></office:automatic-styles>"
        f"<office:body><office:spreadsheet>{''.join(tables)}</office:spreadsheet>"
        "</office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
        )
        archive.writestr(
            "META-INF/manifest.xml", _ODS_MANIFEST, compress_type=zipfile.ZIP_DEFLATED
        )
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[object]],
    *,
    formats: dict[str, str] | None = None,
    merges: Sequence[str] = (),
    epoch: Any = None,
) -> Path:
    """A one-sheet workbook ("Data"); ``formats`` maps cell refs to number formats."""
    book = openpyxl.Workbook()
    if epoch is not None:
        book.epoch = epoch
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    for row in rows:
        sheet.append(list(row))
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    for ref in merges:
        sheet.merge_cells(ref)
    book.save(path)
    return path


def write_mapping(path: Path, text: str) -> Path:
    """A mapping file with the given YAML."""
    path.write_text(text, encoding="utf-8")
    return path


def sync_to_emulator(
    mapping: Path, source: Path, *extra: str
) -> tuple[Result, dict[str, dict[str, dict[str, str]]]]:
    """Run ``kianda-sync run`` against a fresh emulator; the fields of each instance.

    Instances are keyed by the value of their first field in the mapping order.
    """
    token = secrets.token_urlsafe(16)
    work = source.parent
    with Emulator.from_mapping_files([mapping], token=token) as emulator:
        env = {
            "KIANDA_DOMAIN": emulator.url,
            "KIANDA_TOKEN": token,
            "KIANDA_LEDGER": str(work / "ledger.sqlite3"),
        }
        args = ["run", str(mapping), str(source), "-o", str(work / "results.xlsx")]
        result = invoke([*args, *extra], env)
        held = [inst["fields"] for inst in emulator.store.instances().values()]
    by_key = {}
    for fields in held:
        first = next(iter(fields.values()))
        by_key[first["value"]] = fields
    return result, by_key


def results_rows(path: Path) -> dict[int, dict[str, Any]]:
    """The Results sheet as {Source Row: {column: value}}."""
    sheet = openpyxl.load_workbook(path)["Results"]
    lines = list(sheet.iter_rows(values_only=True))
    header = [str(h) for h in lines[0]]
    return {
        int(str(line[header.index("Source Row")])): dict(zip(header, line, strict=True))
        for line in lines[1:]
    }
