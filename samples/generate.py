"""Write the example training-request export used by the README.

Produces ``training-requests.xlsx`` (sheet ``Requests``) and its twin
``training-requests.csv`` beside this script. The rows come from a seeded
``random.Random``, and the workbook's timestamps are pinned, so running the script
again gives the same content and the same bytes.

Deliberately invalid rows (Excel row numbers):

* row 13: ``Employee ID`` is empty, and the mapping marks it required;
* rows 24 and 37: both carry the ``Request Ref`` ``TR-2026-0023`` (a repeated key).

Run: ``python samples/generate.py``
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from random import Random

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.xml.functions import tostring

HERE = Path(__file__).resolve().parent
XLSX_PATH = HERE / "training-requests.xlsx"
CSV_PATH = HERE / "training-requests.csv"

SEED = 20260112
ROW_COUNT = 45
FIRST_DATA_ROW = 2  # Excel row of the first request; row 1 is the header
PINNED_TIME = dt.datetime(2026, 1, 12, 8, 30, 0)  # workbook metadata

HEADERS = [
    "Request Ref",
    "Employee ID",
    "First Name",
    "Last Name",
    "Department",
    "Course",
    "Start Date",
    "Cost",
    "Approved",
    "Notes",
]
COLUMN_WIDTHS = [15, 13, 14, 22, 18, 44, 12, 11, 10, 40]

# The deliberate mistakes, by Excel row number.
MISSING_EMPLOYEE_ID_ROW = 13
DUPLICATE_REF_ROWS = (24, 37)  # the second row repeats the first row's ref

# A few notes, by Excel row number; every other Notes cell stays truly empty.
NOTES = {
    4: "Manager approved by email",
    9: "Travel to Cork required.\nHotel booked separately.",
    16: "N/A",
    21: "Second attempt; exam fee included",
    30: "Prefers evening sessions",
    41: "Funded by the EU skills grant",
}

DEPARTMENTS = ["Human Resources", "Finance", "Operations", "IT"]

COURSES = [
    ("Excel for Finance Professionals", 450.00),
    ("GDPR Essentials", 295.00),
    ("Project Management Fundamentals (PMP Prep)", 1250.50),
    ("Leadership Development Programme", 1895.00),
    ("First Aid at Work", 380.00),
    ("AWS Cloud Practitioner", 675.25),
    ("Lean Six Sigma Green Belt", 1499.99),
]

NAMES = [
    ("Zoë", "Müller"),
    ("José", "García"),
    ("Łukasz", "Kowalski"),
    ("Siobhán", "O'Brien"),
    ("Søren", "Nielsen"),
    ("Mai", "Nguyễn"),
    ("花子", "田中"),
    ("François", "Lefèvre"),
    ("Ingrid", "Ødegaard"),
    ("Aoife", "Ní Bhriain"),
    ("Jürgen", "Weiß"),
    ("Chloé", "Dubois"),
    ("Björn", "Åkesson"),
    ("Małgorzata", "Wójcik"),
    ("Seán", "Ó Súilleabháin"),
    ("Mary", "Smith"),
    ("David", "Murphy"),
    ("Ana", "Conceição"),
    ("Antonín", "Dvořák"),
    ("İlkay", "Yılmaz"),  # noqa: RUF001 - Turkish dotless i, on purpose
    ("Noémie", "Côté"),
    ("Renée", "Fitzgerald"),
]


@dataclass(frozen=True)
class Employee:
    """One person in the HR export; a person may request several courses."""

    employee_id: str
    first_name: str
    last_name: str
    department: str


@dataclass(frozen=True)
class Request:
    """One row of the export, as written to both files."""

    request_ref: str
    employee_id: str | None
    first_name: str
    last_name: str
    department: str
    course: str
    start_date: dt.date
    cost: float
    approved: str
    notes: str | None


def make_employees(rng: Random) -> list[Employee]:
    """Give every name a six-digit ID (leading zeros kept) and a department."""
    numbers = rng.sample(range(1, 5000), len(NAMES))
    return [
        Employee(f"{number:06d}", first, last, rng.choice(DEPARTMENTS))
        for number, (first, last) in zip(numbers, NAMES, strict=True)
    ]


def random_weekday(rng: Random) -> dt.date:
    """A weekday between mid-January 2026 and mid-December 2027."""
    first = dt.date(2026, 1, 12)
    day = first + dt.timedelta(days=rng.randrange(700))
    while day.weekday() >= 5:  # Saturday or Sunday
        day += dt.timedelta(days=1)
    return day


def make_requests(rng: Random) -> list[Request]:
    """Build the rows, then plant the deliberate mistakes."""
    employees = make_employees(rng)
    # Everyone appears at least once; the remaining rows go to anyone.
    people = rng.sample(employees, len(employees))
    people += [rng.choice(employees) for _ in range(ROW_COUNT - len(people))]

    requests = []
    for index, person in enumerate(people):
        excel_row = FIRST_DATA_ROW + index
        course, cost = rng.choice(COURSES)
        requests.append(
            Request(
                request_ref=f"TR-2026-{index + 1:04d}",
                employee_id=person.employee_id,
                first_name=person.first_name,
                last_name=person.last_name,
                department=person.department,
                course=course,
                start_date=random_weekday(rng),
                cost=cost,
                approved="Yes" if rng.random() < 0.75 else "No",
                notes=NOTES.get(excel_row),
            )
        )

    def at(excel_row: int) -> int:
        return excel_row - FIRST_DATA_ROW

    missing = at(MISSING_EMPLOYEE_ID_ROW)
    requests[missing] = replace(requests[missing], employee_id=None)
    original, repeat = (at(row) for row in DUPLICATE_REF_ROWS)
    requests[repeat] = replace(
        requests[repeat], request_ref=requests[original].request_ref
    )
    return requests


def write_xlsx(requests: list[Request], path: Path) -> None:
    """Write the workbook the way an HR system's export would look."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Requests"
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter_index, width in enumerate(COLUMN_WIDTHS):
        letter = chr(ord("A") + letter_index)
        sheet.column_dimensions[letter].width = width

    for row, request in enumerate(requests, start=FIRST_DATA_ROW):
        sheet.cell(row, 1, request.request_ref)
        employee_id = sheet.cell(row, 2, request.employee_id)
        employee_id.number_format = "@"  # a text column, so zeros stay
        sheet.cell(row, 3, request.first_name)
        sheet.cell(row, 4, request.last_name)
        sheet.cell(row, 5, request.department)
        sheet.cell(row, 6, request.course)
        sheet.cell(row, 7, request.start_date).number_format = "DD/MM/YYYY"
        sheet.cell(row, 8, request.cost).number_format = "#,##0.00"
        sheet.cell(row, 9, request.approved)
        if request.notes is not None:
            notes = sheet.cell(row, 10, request.notes)
            if "\n" in request.notes:
                notes.alignment = Alignment(wrap_text=True, vertical="top")

    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    workbook.properties.creator = "HR Training Export"
    workbook.properties.created = PINNED_TIME
    workbook.save(path)
    # Saving stamps "modified" with the current time; put the pinned time back.
    workbook.properties.modified = PINNED_TIME
    _pin_timestamps(path, tostring(workbook.properties.to_tree()))


def _pin_timestamps(path: Path, core_xml: bytes) -> None:
    """Rewrite the archive with fixed times so reruns give the same bytes."""
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            pinned = zipfile.ZipInfo(info.filename, PINNED_TIME.timetuple()[:6])
            pinned.compress_type = zipfile.ZIP_DEFLATED
            is_core = info.filename == "docProps/core.xml"
            target.writestr(pinned, core_xml if is_core else data)


def write_csv(requests: list[Request], path: Path) -> None:
    """Write the same rows as UTF-8 with a BOM, CRLF line ends, ISO dates."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADERS)
        for request in requests:
            writer.writerow(
                [
                    request.request_ref,
                    request.employee_id or "",
                    request.first_name,
                    request.last_name,
                    request.department,
                    request.course,
                    request.start_date.isoformat(),
                    f"{request.cost:.2f}",
                    request.approved,
                    request.notes or "",
                ]
            )


def main() -> None:
    """Generate both sample files beside this script."""
    requests = make_requests(Random(SEED))  # noqa: S311 - sample data, not secrets
    write_xlsx(requests, XLSX_PATH)
    write_csv(requests, CSV_PATH)
    print(f"wrote {len(requests)} rows to {XLSX_PATH.name} and {CSV_PATH.name}")


if __name__ == "__main__":
    main()
