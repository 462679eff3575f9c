"""How much memory writing a results workbook takes, from 2,000 to 200,000 rows.

Each size is written in a fresh Python process, so one measurement cannot inherit
another's peak. The process first imports everything and writes a ten-row workbook
(the baseline, measured in that same process), then streams N result rows through
``ResultsWriter``; the figure is its peak resident memory over that baseline. Bounded
memory shows as a growth that does not rise with N. For comparison, the same cells
are written at 20,000 rows as plain values, unstyled and unchecked, with openpyxl's
write-only workbook (the floor for speed) and its ordinary workbook (held in memory).

    python benchmarks/results_memory.py            # all sizes (about two minutes)
    python benchmarks/results_memory.py 2000 20000 # chosen sizes
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.outcome import RowResult

SIZES = (2_000, 20_000, 200_000)
COMPARE_SIZE = 20_000
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


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _results(count: int) -> Iterator[RowResult]:
    """Result rows like a real run's: text cells, a date, 2 % of them invalid."""
    from sync.convert import Slug
    from sync.outcome import Action, RowResult, Status
    from sync.reader import Cell, Row

    start = dt.datetime(2026, 1, 1)
    for number in range(2, count + 2):
        day = start + dt.timedelta(days=number % 700)
        notes = "Travel to Cork.\nHotel booked." if number % 5 == 0 else ""
        cells = (
            Cell(f"TR-{number:07d}", f"TR-{number:07d}"),
            Cell(f"{number % 9999:06d}", f"{number % 9999:06d}"),
            Cell("Siobhán", "Siobhán"),
            Cell(f"Ó Súilleabháin {number}", f"Ó Súilleabháin {number}"),
            Cell("Human Resources", "Human Resources"),
            Cell("Project Management Fundamentals", "Project Management Fundamentals"),
            Cell(day, day.strftime("%d/%m/%Y"), "DD/MM/YYYY"),
            Cell(1250.5, "1,250.50", "#,##0.00"),
            Cell("Yes", "Yes"),
            Cell(notes, notes),
        )
        row = Row(number, cells)
        if number % 50 == 0:
            yield RowResult(
                row,
                Action.NONE,
                Status.INVALID,
                "'Employee ID' is empty but required.",
                problems=(Slug.MISSING_VALUE,),
            )
        else:
            yield RowResult(row, Action.CREATE, Status.CREATED, "", f"p-{number}")


def _write_results(path: Path, count: int) -> None:
    from sync.outcome import RunSummary
    from sync.results import ResultsWriter

    summary = RunSummary(
        run_id="benchmark",
        command="run",
        input_path=Path(__file__),
        mapping_path=Path("mapping.yaml"),
        results_path=path,
        started=dt.datetime.now(dt.UTC),
    )
    with ResultsWriter(path, HEADERS, key_columns=[0]) as writer:
        for result in _results(count):
            summary.add(result)
            writer.write(result)
        summary.ended = dt.datetime.now(dt.UTC)
        writer.close(summary)


def _write_plain(path: Path, count: int, *, write_only: bool) -> None:
    """The same cells as plain values, with no styles, no checks and one sheet."""
    from openpyxl import Workbook

    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("Results")
    sheet.append([*HEADERS, "Instance ID", "Sync Action", "Sync Status"])
    for result in _results(count):
        texts = [cell.text for cell in result.row.cells]
        sheet.append([*texts, result.instance_id, "create", result.status.value])
    book.save(path)


def child(kind: str, count: int) -> None:
    """Runs in a fresh process: baseline, then the measured write; prints JSON."""
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder, "warm.xlsx")
        _write_results(warm, 10)
        if kind != "results":
            _write_plain(warm, 10, write_only=kind == "plain")
        baseline = _peak_mib()

        path = Path(folder, "results.xlsx")
        started = time.perf_counter()
        if kind == "results":
            _write_results(path, count)
        else:
            _write_plain(path, count, write_only=kind == "plain")
        seconds = time.perf_counter() - started
        figures = {
            "kind": kind,
            "rows": count,
            "baseline_mib": baseline,
            "peak_mib": _peak_mib(),
            "seconds": seconds,
            "file_mib": path.stat().st_size / 2**20,
        }
    print(json.dumps(figures))


def _measure(kind: str, count: int) -> dict[str, float]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(answer.stdout)
    return result


def main(sizes: list[int]) -> None:
    """Measure each size in its own process and print one line per size."""
    print(
        f"{'writer':<22}{'rows':>9}{'baseline MiB':>14}{'peak MiB':>10}"
        f"{'growth MiB':>12}{'seconds':>9}{'rows/s':>9}{'file MiB':>10}"
    )
    runs = [("ResultsWriter", "results", n) for n in sizes]
    runs.append(("openpyxl write-only", "plain", COMPARE_SIZE))
    runs.append(("openpyxl ordinary", "ordinary", COMPARE_SIZE))
    for label, kind, count in runs:
        f = _measure(kind, count)
        growth = f["peak_mib"] - f["baseline_mib"]
        print(
            f"{label:<22}{count:>9,}{f['baseline_mib']:>14.1f}{f['peak_mib']:>10.1f}"
            f"{growth:>12.1f}{f['seconds']:>9.1f}{count / f['seconds']:>9,.0f}"
            f"{f['file_mib']:>10.1f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main([int(a) for a in sys.argv[1:]] or list(SIZES))
