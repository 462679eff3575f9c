"""Logs for cron: JSON lines on request, and progress every tenth of a big run."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import invoke

MAPPING = """\
process: staff
key: [ID]
fields:
  id: {column: ID, required: true}
  name: {column: Name, required: true}
"""


def _input(path: Path, rows: int, *, blank_name_at: int = -1) -> Path:
    lines = ["ID,Name"]
    lines += [f"{n:05d},{'' if n == blank_name_at else f'P{n}'}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_logs_json_lines_carry_run_row_and_status(tmp_path: Path) -> None:
    """--log-format json writes one object per line with run id, row and status."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    source = _input(tmp_path / "in.csv", 3, blank_name_at=1)
    log_file = tmp_path / "run.log"

    options = ["--log-format", "json", "--log-file", str(log_file)]
    result = invoke([*options, "run", str(mapping), str(source), "--emulator"])

    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    warning = next(e for e in entries if e["level"] == "WARNING")
    assert result.exit_code == 1
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert entries[0]["message"].startswith("Starting run ")
    assert (warning["row"], warning["status"]) == (3, "invalid")
    assert warning["run_id"] == entries[0]["run_id"]
    assert warning["message"] == "Row 3: invalid. 'Name' is empty but required."
    assert entries[-1]["message"].startswith(f"Finished {warning['run_id']} in ")


def test_logs_progress_every_tenth_of_a_big_run(tmp_path: Path) -> None:
    """Off a terminal, a 1,500-row run logs progress ten times; a small run never."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    big, small = _input(tmp_path / "big.csv", 1500), _input(tmp_path / "s.csv", 45)

    for source in (big, small):
        log_file = str(source.with_suffix(".log"))
        invoke(["--log-file", log_file, "validate", str(mapping), str(source)])

    big_lines = [
        line
        for line in big.with_suffix(".log").read_text().splitlines()
        if "Progress:" in line
    ]
    assert len(big_lines) == 10
    assert big_lines[0].endswith(
        "Progress: 150 of 1500 rows (10%), 0 need attention so far"
    )
    assert big_lines[-1].endswith(
        "Progress: 1500 of 1500 rows (100%), 0 need attention so far"
    )
    assert "Progress:" not in small.with_suffix(".log").read_text()
