"""The results workbook: safe to open, readable, and pointing at what needs a person."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import openpyxl
import pytest

from sync.convert import Slug
from sync.outcome import Action, RowResult, RunSummary, Status
from sync.reader import Cell, Row
from sync.results import ResultsWriter
from sync.sheets import CUT_NOTE, EXCEL_CELL_LIMIT, MAX_WIDTH
from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, Kianda, invoke

HEADERS = ["Ref", "Name", "Notes"]


def _row(number: int, *texts: str) -> Row:
    return Row(number, tuple(Cell(text, text) for text in texts))


def _summary(tmp_path: Path) -> RunSummary:
    source = tmp_path / "input.csv"
    source.write_text("Ref,Name,Notes\n", encoding="utf-8")
    started = dt.datetime(2026, 3, 4, 9, 30, tzinfo=dt.UTC)
    return RunSummary(
        run_id="run-1",
        command="run",
        input_path=source,
        mapping_path=tmp_path / "mapping.yaml",
        results_path=None,
        started=started,
        ended=started + dt.timedelta(seconds=2),
        domain="https://acme.kianda.com",
    )


def _write(path: Path, results: list[RowResult], tmp_path: Path) -> RunSummary:
    summary = _summary(tmp_path)
    with ResultsWriter(path, HEADERS, key_columns=[0]) as writer:
        for result in results:
            summary.add(result)
            writer.write(result)
        writer.close(summary)
    return summary


def _sheet(path: Path, name: str) -> list[tuple[object, ...]]:
    return list(openpyxl.load_workbook(path)[name].iter_rows(values_only=True))


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1+1", "-5 days", "@Ops", "\tx", "=1+2"],
    ids=["hyperlink", "plus", "minus", "at", "tab", "equals"],
)
def test_results_formula_like_text_stays_text(tmp_path: Path, text: str) -> None:
    """A cell that looks like a formula comes back as the same text, type 's'."""
    path = tmp_path / "out.xlsx"
    _write(
        path,
        [RowResult(_row(2, "A-1", text, text), Action.CREATE, Status.CREATED)],
        tmp_path,
    )

    sheet = openpyxl.load_workbook(path)["Results"]
    cells = [sheet["B2"], sheet["C2"]]
    assert [(c.value, c.data_type) for c in cells] == [(text, "s"), (text, "s")]


def test_results_csv_neutralises_formula_starts(tmp_path: Path) -> None:
    """CSV results put a quote before text a spreadsheet would run as a formula."""
    path = tmp_path / "out.csv"
    _write(
        path,
        [
            RowResult(_row(2, "A-1", "+1+1", "plain"), Action.CREATE, Status.CREATED),
            RowResult(_row(3, "A-2", "@Ops", "-5"), Action.CREATE, Status.CREATED),
        ],
        tmp_path,
    )

    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert [line[:3] for line in lines[1:]] == [
        ["A-1", "'+1+1", "plain"],
        ["A-2", "'@Ops", "'-5"],
    ]


def test_results_overlong_cell_is_cut_with_a_note(tmp_path: Path) -> None:
    """Text over Excel's 32,767 characters is cut to fit and says it was cut."""
    path = tmp_path / "out.xlsx"
    long_text = "x" * 40_000
    _write(
        path,
        [RowResult(_row(2, "A-1", "n", long_text), Action.CREATE, Status.CREATED)],
        tmp_path,
    )

    value = openpyxl.load_workbook(path)["Results"]["C2"].value
    assert len(value) == EXCEL_CELL_LIMIT
    assert value.endswith(CUT_NOTE)
    assert value.startswith("x" * 1000)


def test_results_status_cells_are_coloured(tmp_path: Path) -> None:
    """Sync Status is green when fine, amber when untouched, red when it needs a fix."""
    path = tmp_path / "out.xlsx"
    statuses = [
        Status.CREATED,
        Status.UNCHANGED,
        Status.SKIPPED,
        Status.INVALID,
        Status.FAILED,
        Status.UNKNOWN,
        Status.NOT_ATTEMPTED,
    ]
    _write(
        path,
        [
            RowResult(_row(n, f"A-{n}", "n", ""), Action.NONE, status)
            for n, status in enumerate(statuses, start=2)
        ],
        tmp_path,
    )

    sheet = openpyxl.load_workbook(path)["Results"]
    fills = {
        sheet.cell(row, 6).value: sheet.cell(row, 6).fill.fgColor.rgb[-6:]
        for row in range(2, len(statuses) + 2)
    }
    assert fills == {
        "created": "C6EFCE",
        "unchanged": "FFEB9C",
        "skipped": "FFEB9C",
        "invalid": "FFC7CE",
        "failed": "FFC7CE",
        "unknown": "FFC7CE",
        "not attempted": "FFC7CE",
    }


def test_results_needs_attention_lists_only_rows_to_fix(tmp_path: Path) -> None:
    """Only invalid, failed, unknown and not attempted rows appear, with a next step."""
    path = tmp_path / "out.xlsx"
    _write(
        path,
        [
            RowResult(_row(2, "A-1", "n", ""), Action.CREATE, Status.CREATED),
            RowResult(
                _row(3, "A-2", "n", ""),
                Action.NONE,
                Status.INVALID,
                "The key 'A-2' is also on row 4.",
                problems=(Slug.DUPLICATE_KEY,),
            ),
            RowResult(_row(4, "A-3", "n", ""), Action.NONE, Status.UNCHANGED),
            RowResult(
                _row(5, "A-4", "n", ""),
                Action.UPDATE,
                Status.FAILED,
                "Kianda refused the request (HTTP 400).",
                "p-7",
            ),
            RowResult(_row(6, "A-5", "n", ""), Action.CREATE, Status.UNKNOWN, "?"),
        ],
        tmp_path,
    )

    lines = _sheet(path, "Needs attention")
    assert lines[0] == (
        "Source Row",
        "Ref",
        "Instance ID",
        "Sync Status",
        "Sync Message",
        "What to do",
    )
    assert [line[:4] for line in lines[1:]] == [
        (3, "A-2", None, "invalid"),
        (5, "A-4", "p-7", "failed"),
        (6, "A-5", None, "unknown"),
    ]
    advice = [line[5] for line in lines[1:]]
    assert str(advice[0]).startswith("Keep one row per key")
    assert "just run again later" in str(advice[1])
    assert "--retry-unknown" in str(advice[2])


def test_results_needs_attention_says_so_when_empty(tmp_path: Path) -> None:
    """With every row fine, the sheet holds one line saying nothing needs a person."""
    path = tmp_path / "out.xlsx"
    _write(
        path,
        [RowResult(_row(2, "A-1", "n", ""), Action.CREATE, Status.CREATED)],
        tmp_path,
    )

    lines = _sheet(path, "Needs attention")
    assert lines[1][4] == "No row is invalid, failed, unknown or not attempted."
    assert len(lines) == 2


def test_results_layout_is_frozen_filtered_and_sized(tmp_path: Path) -> None:
    """The header is bold and frozen, rows filter, and columns fit their text."""
    path = tmp_path / "out.xlsx"
    _write(
        path,
        [
            RowResult(_row(2, "A-1", "Ann", "n" * 200), Action.CREATE, Status.CREATED),
            RowResult(_row(3, "A-2", "Bartholomew", ""), Action.CREATE, Status.CREATED),
        ],
        tmp_path,
    )

    sheet = openpyxl.load_workbook(path)["Results"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:H3"
    assert all(cell.font.bold for cell in sheet[1])
    widths = {c: sheet.column_dimensions[c].width for c in "ABC"}
    assert widths == {"A": 6.0, "B": 13.0, "C": MAX_WIDTH}
    assert [sheet.title for sheet in openpyxl.load_workbook(path)] == [
        "Results",
        "Needs attention",
        "Summary",
    ]


def test_results_summary_sheet_describes_the_run(
    kianda: Kianda, tmp_path: Path
) -> None:
    """Summary names the run, the input's checksum, Kianda, timing, counts, command."""
    sample = Path(shutil.copy(SAMPLE_XLSX, tmp_path / "requests.xlsx"))
    args = ["run", str(SAMPLE_MAPPING), str(sample), "--summary-json", "s.json"]

    invoke(args, kianda.env())

    path = sample.with_name("requests.results.xlsx")
    values = {
        str(name): value
        for name, value, *_ in _sheet(path, "Summary")[2:]
        if name is not None
    }
    lines = {name: str(value) for name, value in values.items()}
    assert lines["Input SHA-256"] == hashlib.sha256(sample.read_bytes()).hexdigest()
    assert lines["Kianda"] == kianda.emulator.url
    assert lines["Command line"] == "kianda-sync " + " ".join(args)
    assert lines["Needs attention"] == "3 rows: see the 'Needs attention' sheet"
    assert lines["Started"].endswith(" UTC")
    # Counts are numbers, not text (no "number stored as text" marks in Excel).
    assert values["Rows"] == 45
    assert values["Status: created"] == 42
    assert values["Status: invalid"] == 3
    assert values["Action: create"] == 42
    assert values["Requests sent"] == 42
    # A whole rate such as 397.0 reads back from the workbook as the int 397.
    rate = values["Rows per second"]
    assert isinstance(rate, int | float)
    assert not isinstance(rate, bool)
    assert rate > 0
    every_text = [
        str(value)
        for sheet in openpyxl.load_workbook(path)
        for line in sheet.iter_rows(values_only=True)
        for value in line
    ]
    assert not any(kianda.token in text for text in every_text)
    monitored = json.loads(Path("s.json").read_text(encoding="utf-8"))
    assert monitored["input_sha256"] == lines["Input SHA-256"]
    assert monitored["command_line"] == lines["Command line"]


def test_results_large_file_is_written_completely(tmp_path: Path) -> None:
    """20,000 rows come back in order, each with its text, status and row number."""
    path = tmp_path / "large.xlsx"
    count = 20_000
    results = (
        RowResult(
            _row(n, f"REF-{n:06d}", f"=name {n}", "line 1\nline 2" if n % 7 else ""),
            Action.CREATE,
            Status.INVALID if n % 1000 == 0 else Status.CREATED,
            "bad" if n % 1000 == 0 else "",
            f"p-{n}",
            (Slug.MISSING_VALUE,) if n % 1000 == 0 else (),
        )
        for n in range(2, count + 2)
    )
    _write(path, list(results), tmp_path)

    book = openpyxl.load_workbook(path, read_only=True)
    lines = list(book["Results"].iter_rows(values_only=True))
    attention = list(book["Needs attention"].iter_rows(values_only=True))
    book.close()
    assert len(lines) == count + 1
    assert lines[1] == (
        "REF-000002",
        "=name 2",
        "line 1\nline 2",
        "p-2",
        "create",
        "created",
        None,
        2,
    )
    assert lines[-1][0] == f"REF-{count + 1:06d}"
    assert [line[7] for line in lines[1:]] == list(range(2, count + 2))
    assert [line[0] for line in attention[1:]] == list(range(1000, count + 2, 1000))


def test_rows_per_second_leaves_out_rows_a_stopped_run_never_sent(
    tmp_path: Path,
) -> None:
    """Six rows in 2 s, of which two were never sent: 2 rows per second, not 3."""
    summary = _summary(tmp_path)
    for number, status in enumerate(
        [Status.CREATED] * 3 + [Status.FAILED] + [Status.NOT_ATTEMPTED] * 2, start=2
    ):
        summary.add(RowResult(_row(number, "A", "B", ""), Action.CREATE, status))

    assert summary.rows == 6
    assert summary.rows_per_second == 2.0


def test_history_writes_results_again_with_typed_dates_and_numbers(
    kianda: Kianda, tmp_path: Path
) -> None:
    """Results written again from the ledger hold the same typed cells as the first
    time (a real date stays a date, an amount a number), so they too can be the
    next input: every row comes out as it did when the first results were fed back."""
    sample = Path(shutil.copy(SAMPLE_XLSX, tmp_path / "requests.xlsx"))
    first = tmp_path / "first.xlsx"
    invoke(["run", str(SAMPLE_MAPPING), str(sample), "-o", str(first)], kianda.env())
    listing = invoke(["history", "--ledger", str(kianda.ledger)])
    run_id = listing.output.split()[0]
    again = tmp_path / "again.xlsx"

    rewrite = invoke(
        ["history", run_id, "--ledger", str(kianda.ledger), "-o", str(again)]
    )
    fed_back = invoke(
        ["run", str(SAMPLE_MAPPING), str(again), "-o", str(tmp_path / "r.xlsx")],
        kianda.env(),
    )

    def results(path: Path) -> list[tuple[object, ...]]:
        sheet = openpyxl.load_workbook(path)["Results"]
        return [line[:-5] for line in sheet.iter_rows(values_only=True)]

    original = results(first)
    assert rewrite.exit_code == 0, rewrite.output
    assert results(again) == original
    assert any(isinstance(v, dt.datetime) for line in original for v in line)
    assert any(isinstance(v, float) for line in original for v in line)
    assert fed_back.exit_code == 1, fed_back.output
    assert "42 unchanged, 3 invalid" in fed_back.output
