"""How fast a 100,000-row, 10-column workbook is read, by each way of reading it.

Writes the workbook (text IDs with leading zeros, names, whole and fractional numbers,
a zero-padded number format, percentages, dates, date-times, booleans, notes) to a
temporary folder, then times reading every cell with:

  (a) openpyxl in read-only mode, values only (the baseline);
  (b) kianda-sync's reader: ``open_table(...).rows()``, which also builds each cell's
      display text from its number format;
  (c) python-calamine directly.

and prints rows per second and each one's ratio to (a), all measured in this process.
Run: ``python benchmarks/read_speed.py [ROWS]``.

Why .xlsx stays on openpyxl although calamine is faster: calamine gives no number
formats, so ``789`` formatted ``00000`` could not be sent as the ID ``00789`` nor
``0.15`` formatted ``0%`` as ``15%``; and it reads an Excel error (``#N/A``) or a
formula without a saved result as an empty string, so a broken cell would pass for an
empty one. This script also counts, for the same file, the cells whose text calamine's
values would get wrong.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
from openpyxl.cell import WriteOnlyCell
from python_calamine import CalamineWorkbook

from sync import numfmt
from sync.mapping import Mapping
from sync.reader import _calamine_cell, open_table

COLUMNS = ["Employee ID", "Name", "Days", "Cost", "Code", "Share"]
COLUMNS += ["Start", "Logged", "Approved", "Notes"]


def write_workbook(path: Path, rows: int) -> None:
    """A realistic export: mixed text, numbers with formats, dates, booleans."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Data")
    sheet.append(COLUMNS)
    code = WriteOnlyCell(sheet)
    code.number_format = "00000"
    share = WriteOnlyCell(sheet)
    share.number_format = "0%"
    start = WriteOnlyCell(sheet)
    start.number_format = "DD/MM/YYYY"
    for n in range(rows):
        code.value, share.value = n % 90000, (n % 100) / 100
        start.value = dt.date(2020, 1, 1) + dt.timedelta(days=n % 2000)
        sheet.append(
            [
                f"{n:07d}",
                f"Employee {n}",
                n % 30,
                round(n * 1.37, 2),
                code,
                share,
                start,
                dt.datetime(2026, 3, 4, 9, 30) + dt.timedelta(minutes=n),
                n % 2 == 0,
                "" if n % 3 else f"Note {n}, with a comma",
            ]
        )
    book.save(path)
    _add_dimension(path, f"A1:{chr(ord('A') + len(COLUMNS) - 1)}{rows + 1}")


def _add_dimension(path: Path, ref: str) -> None:
    """Give the sheet the ``<dimension>`` element Excel always writes.

    openpyxl's write-only mode leaves it out, and without it openpyxl's read-only
    mode parses the whole sheet once more each time the workbook is opened, which
    would make every openpyxl figure here slower than for a file saved by Excel.
    """
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    xml = parts[member]
    cut = xml.index(b"<sheetViews")
    parts[member] = xml[:cut] + f'<dimension ref="{ref}"/>'.encode() + xml[cut:]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def read_openpyxl(path: Path) -> int:
    """(a) openpyxl read-only, values only."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = 0
    for row in book.active.iter_rows(values_only=True):
        count += len(row)
    book.close()
    return count


def read_ours(path: Path) -> int:
    """(b) kianda-sync's reader, with display text from number formats."""
    mapping = Mapping.model_validate(
        {"process": "p", "key": ["Employee ID"], "fields": {"id": "Employee ID"}}
    )
    count = 0
    for row in open_table(path, mapping).rows():
        count += len(row.cells)
    return count


def read_calamine(path: Path) -> int:
    """(c) python-calamine directly."""
    with CalamineWorkbook.from_path(str(path)) as book:
        count = 0
        for row in book.get_sheet_by_index(0).iter_rows():
            count += len(row)
    return count


def text_differences(path: Path) -> int:
    """Cells whose text from calamine's values differs from what Excel shows."""
    mapping = Mapping.model_validate(
        {"process": "p", "key": ["Employee ID"], "fields": {"id": "Employee ID"}}
    )
    ours = open_table(path, mapping).rows()
    with CalamineWorkbook.from_path(str(path)) as book:
        theirs = book.get_sheet_by_index(0).iter_rows()
        next(theirs)
        differ = 0
        for row, raw in zip(ours, theirs, strict=True):
            for cell, value in zip(row.cells, raw, strict=False):
                if cell.text != _calamine_cell(value).text:
                    differ += 1
    return differ


def timed(read: Callable[[Path], int], path: Path) -> tuple[float, int]:
    """Best of two runs, in seconds, and the number of cells read."""
    best, cells = float("inf"), 0
    for _ in range(2):
        start = time.perf_counter()
        cells = read(path)
        best = min(best, time.perf_counter() - start)
    return best, cells


def main() -> None:
    """Write the workbook, time each reader, print the table."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.xlsx"
        start = time.perf_counter()
        write_workbook(path, rows)
        size = path.stat().st_size / 1e6
        print(
            f"{rows:,} rows x {len(COLUMNS)} columns, {size:.1f} MB, written in "
            f"{time.perf_counter() - start:.1f} s"
        )
        results = []
        for label, read in (
            ("(a) openpyxl read-only values", read_openpyxl),
            ("(b) kianda-sync open_table().rows()", read_ours),
            ("(c) python-calamine iter_rows", read_calamine),
        ):
            seconds, cells = timed(read, path)
            results.append((label, seconds, cells))
        baseline = results[0][1]
        print(f"{'reader':38} {'seconds':>8} {'rows/s':>10} {'vs (a)':>7}")
        for label, seconds, _ in results:
            print(
                f"{label:38} {seconds:8.2f} {rows / seconds:10,.0f} "
                f"{baseline / seconds:6.2f}x"
            )
        differ = text_differences(path)
        print(
            f"cells whose text calamine's values get wrong (no number formats): "
            f"{differ:,} of {rows * len(COLUMNS):,}"
        )
    print(f"(display text check: 789 in 00000 is {numfmt.display(789, '00000')!r})")


if __name__ == "__main__":
    main()
