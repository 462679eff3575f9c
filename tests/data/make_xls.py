"""Write tests/data/input.xls, the legacy Excel fixture (needs xlwt: pip install xlwt).

openpyxl cannot write .xls and the project does not depend on xlwt, so the file is
committed; this script says exactly what is in it. Run from the repository root.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlwt  # type: ignore[import-not-found]

HERE = Path(__file__).parent


def main() -> None:
    """Two sheets: a hidden one first, then the data with its header in row 3."""
    book = xlwt.Workbook(encoding="utf-8")
    hidden = book.add_sheet("Notes")
    hidden.write(0, 0, "This sheet is hidden and must not be read.")
    hidden.visibility = 1

    data = book.add_sheet("Requests")
    data.write(0, 0, "Training requests (export)")
    headers = ["Request Ref", "Employee ID", "Cost", "Days", "Start Date", "Approved"]
    headers += ["Reference", "Notes"]
    for column, header in enumerate(headers):
        data.write(2, column, header)
    dates = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    rows = [
        ["TR-1", "000123", 0.1, 3, dt.date(2026, 3, 4), True, "1234567890123456", ""],
        ["TR-2", "000124", 1234.5, 10, dt.date(2026, 12, 31), False, "", "Café"],
    ]
    for offset, row in enumerate(rows):
        for column, value in enumerate(row):
            style = dates if isinstance(value, dt.date) else xlwt.Style.default_style
            if value != "":
                data.write(3 + offset, column, value, style)
    # Row 6 is blank; row 7 holds one more record.
    data.write(6, 0, "TR-3")
    data.write(6, 1, "000125")

    merged = book.add_sheet("Merged")
    merged.write_merge(0, 0, 0, 1, "Name")
    merged.write(0, 2, "Ref")
    merged.write(1, 0, "Ada")
    merged.write(1, 1, "Lovelace")
    merged.write(1, 2, "R-1")
    book.save(str(HERE / "input.xls"))


if __name__ == "__main__":
    main()
