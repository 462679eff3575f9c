"""Guards found by trying the tool as a new user: nothing overwritten or garbled."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import SAMPLE_MAPPING, SAMPLE_XLSX, Kianda, invoke

STAFF = """\
process: staff
key: [Ref]
fields:
  ref: {column: Ref, required: true}
  name: {column: Name, required: true}
"""


def _mapping(folder: Path) -> Path:
    path = folder / "staff.yaml"
    path.write_text(STAFF, encoding="utf-8")
    return path


def test_output_never_overwrites_the_input_or_mapping(tmp_path: Path) -> None:
    """-o naming the input or the mapping is refused before anything happens."""
    sample = Path(shutil.copy(SAMPLE_XLSX, tmp_path / "in.xlsx"))
    before = sample.read_bytes()

    over_input = invoke(
        ["validate", str(SAMPLE_MAPPING), str(sample), "-o", str(sample)]
    )
    over_mapping = invoke(
        ["validate", str(SAMPLE_MAPPING), str(sample), "-o", str(SAMPLE_MAPPING)]
    )
    wrong_kind = invoke(["validate", str(SAMPLE_MAPPING), str(sample), "-o", "out.txt"])

    assert (over_input.exit_code, over_mapping.exit_code, wrong_kind.exit_code) == (
        2,
        2,
        2,
    )
    assert f"would overwrite {sample}, which this run reads" in over_input.output
    assert "which this run reads" in over_mapping.output
    assert "must end in .xlsx or .csv" in wrong_kind.output
    assert sample.read_bytes() == before
    assert SAMPLE_MAPPING.read_text(encoding="utf-8").startswith("# yaml-language")


def test_checks_and_plans_do_not_replace_real_results(tmp_path: Path) -> None:
    """validate and --dry-run write beside the real results, not over them."""
    sample = Path(shutil.copy(SAMPLE_XLSX, tmp_path / "in.xlsx"))
    base = [str(SAMPLE_MAPPING), str(sample)]

    invoke(["run", *base, "--emulator", "--ledger", str(tmp_path / "l.sqlite3")])
    real = (tmp_path / "in.results.xlsx").read_bytes()
    invoke(["validate", *base])
    invoke(
        [
            "run",
            *base,
            "--dry-run",
            "--emulator",
            "--ledger",
            str(tmp_path / "l.sqlite3"),
        ]
    )

    assert (tmp_path / "in.results.xlsx").read_bytes() == real
    assert (tmp_path / "in.validate.xlsx").exists()
    assert (tmp_path / "in.dry-run.xlsx").exists()


def test_csv_mixing_two_encodings_is_refused(tmp_path: Path) -> None:
    """A UTF-8 file with a stray Windows-1252 byte is refused, not sent garbled."""
    source = tmp_path / "mixed.csv"
    source.write_bytes(b"Ref,Name\r\nA,Jos\xc3\xa9\r\nB,Ren\xe9e\r\n")

    result = invoke(["validate", str(_mapping(tmp_path)), str(source)])

    assert result.exit_code == 2
    assert "mixed.csv is UTF-8 text except for a byte at position 24 (line 3)" in (
        result.output
    )


def test_csv_from_excel_unicode_text_is_read(tmp_path: Path) -> None:
    """Excel's 'Unicode Text' (UTF-16 with a byte-order mark) reads as written."""
    source = tmp_path / "unicode.csv"
    source.write_text("Ref,Name\nA1,Zoë Łukasz\n", encoding="utf-16")

    result = invoke(["validate", str(_mapping(tmp_path)), str(source)])

    rows = list(openpyxl.load_workbook(tmp_path / "unicode.validate.xlsx")["Results"])
    assert result.exit_code == 0
    assert [c.value for c in rows[1][:2]] == ["A1", "Zoë Łukasz"]


def test_only_failed_finds_rows_by_key_after_rows_move(tmp_path: Path) -> None:
    """--only-failed re-runs the failed keys even when rows were inserted above them."""
    mapping = _mapping(tmp_path)
    source = tmp_path / "staff.csv"
    source.write_text("Ref,Name\nA,Ann\nB,\nC,Cy\n", encoding="utf-8")
    ledger = ["--emulator", "--ledger", str(tmp_path / "l.sqlite3")]
    invoke(["run", str(mapping), str(source), *ledger, "-o", str(tmp_path / "r1.xlsx")])
    source.write_text("Ref,Name\nZ,Zed\nA,Ann\nB,Bea\nC,Cy\n", encoding="utf-8")

    again = invoke(
        [
            "run",
            str(mapping),
            str(source),
            *ledger,
            "--only-failed",
            str(tmp_path / "r1.xlsx"),
        ]
    )

    rows = list(openpyxl.load_workbook(tmp_path / "staff.retry.xlsx")["Results"].values)
    assert again.exit_code == 0
    assert rows[1][:2] == ("B", "Bea")
    assert rows[1][rows[0].index("Sync Status")] == "created"
    assert len(rows) == 2


def test_one_instance_id_on_two_rows_makes_both_invalid(tmp_path: Path) -> None:
    """Two rows naming the same Instance ID are refused, so neither overwrites it."""
    mapping = _mapping(tmp_path)
    source = tmp_path / "staff.csv"
    source.write_text(
        "Ref,Name,Instance ID\nA,Ann,staff-1\nB,Bea,staff-1\nC,Cy,\n", encoding="utf-8"
    )

    result = invoke(["validate", str(mapping), str(source)])

    assert result.exit_code == 1
    assert (
        "Row 2: The Instance ID 'staff-1' is also on row 3; two rows would overwrite "
        "one instance in turn. Keep the ID on the right row only."
    ) in result.output
    assert "Row 3: The Instance ID 'staff-1' is also on row 2" in result.output
    assert "Row 4" not in result.output


def test_domain_spellings_of_one_workspace_share_the_ledger() -> None:
    """Case, a default port and a trailing slash do not make another workspace."""
    from sync.settings import Settings

    spellings = ["HTTPS://Acme.Kianda.com:443/", "https://acme.kianda.com"]

    assert {Settings(domain=d).domain for d in spellings} == {"https://acme.kianda.com"}


def test_another_address_for_a_synced_process_is_pointed_out(
    kianda: Kianda, tmp_path: Path
) -> None:
    """A ledger that synced the process elsewhere says so before creating rows."""
    sample = Path(shutil.copy(SAMPLE_XLSX, tmp_path / "in.xlsx"))
    port = kianda.emulator.port
    base = ["run", str(SAMPLE_MAPPING), str(sample)]

    first = invoke(base, kianda.env())
    other = invoke(
        [*base, "--dry-run"], kianda.env(KIANDA_DOMAIN=f"http://localhost:{port}")
    )

    assert "has no record of 'training-request' yet" in first.output
    assert (
        f"has synced 'training-request' to http://127.0.0.1:{port} but never to "
        f"http://localhost:{port}"
    ) in other.output
    assert "42 ready" in other.output


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        (
            "--max-error-rate",
            "150%",
            "--max-error-rate: '150%' is not between 0 and 1 (0% and 100%); write a "
            "share such as 0.05, or 5%.",
        ),
        (
            "--max-error-rate",
            "50",
            "--max-error-rate: '50' is not between 0 and 1 (0% and 100%); write a "
            "share such as 0.05, or 5%.",
        ),
        (
            "--max-error-rate",
            "five",
            "--max-error-rate: 'five' is not a share; write one such as 0.05, or 5%.",
        ),
        ("--max-rps", "nan", "--max-rps: Input should be a finite number."),
        ("--max-rps", "inf", "--max-rps: Input should be a finite number."),
    ],
)
def test_run_limits_out_of_range_are_refused_naming_the_option(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    """A share above 100% or a rate that is not a real number stops the run before
    anything is read or sent, naming the option the user typed."""
    result = invoke(
        [
            "run",
            str(SAMPLE_MAPPING),
            str(SAMPLE_XLSX),
            "--emulator",
            "-o",
            str(tmp_path / "r.xlsx"),
            option,
            value,
        ]
    )

    assert result.exit_code == 2
    assert f"The configuration is not valid: {said} Fix the" in result.output
    assert not (tmp_path / "r.xlsx").exists()


def test_max_error_rate_from_the_environment_is_named_as_the_variable(
    tmp_path: Path,
) -> None:
    """Set in the environment, the bad value is named by its variable."""
    result = invoke(
        ["run", str(SAMPLE_MAPPING), str(SAMPLE_XLSX), "--emulator"],
        {"KIANDA_MAX_ERROR_RATE": "120%"},
    )

    assert result.exit_code == 2
    assert "KIANDA_MAX_ERROR_RATE: '120%' is not between 0 and 1" in result.output


def test_max_rps_too_small_is_refused_by_option_and_variable() -> None:
    """A cap below 0.01 requests per second (one every 100 s) is refused either way."""
    args = ["run", str(SAMPLE_MAPPING), str(SAMPLE_XLSX), "--emulator"]

    typed = invoke([*args, "--max-rps", "1e-9"])
    set_in_env = invoke(args, {"KIANDA_MAX_RPS": "1e-9"})

    assert (typed.exit_code, set_in_env.exit_code) == (2, 2)
    assert "Invalid value for '--max-rps': 1e-09 is not in the range x>=0.01" in (
        typed.output
    )
    assert "KIANDA_MAX_RPS: Input should be greater than or equal to 0.01" in (
        set_in_env.output
    )
