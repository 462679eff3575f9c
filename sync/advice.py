"""What a person should do next about a row that did not go through.

The results workbook's ``Needs attention`` sheet puts one of these beside each such
row: a step for each kind of problem found in the sheet, or for the way the request
ended, so the reader can fix the file and run again without reading the manual.
"""

from __future__ import annotations

from sync.convert import Slug
from sync.outcome import RowResult, Status

_FOR_PROBLEM = {
    Slug.MISSING_VALUE: "Fill in the required cell the message names.",
    Slug.BAD_NUMBER: (
        "Correct the number in the column the message names, or set the field's "
        "decimal_separator and thousands_separator in the mapping to match the sheet."
    ),
    Slug.BAD_DATE: (
        "Make the cell a real Excel date, or type it the way the mapping's "
        "input_format says."
    ),
    Slug.BAD_BOOLEAN: "Write yes or no (also true/false, y/n or 1/0) in the cell.",
    Slug.UNKNOWN_CHOICE: (
        "Use one of the choices the message lists, or add this text to the field's "
        "choices in the mapping."
    ),
    Slug.TOO_LONG: (
        "Shorten the text, or raise the field's max_length in the mapping if Kianda "
        "accepts longer text."
    ),
    Slug.BAD_PATTERN: "Correct the value so it has the form the pattern asks for.",
    Slug.EXCEL_ERROR: "Fix the formula so the cell shows a value instead of an error.",
    Slug.UNCALCULATED: (
        "Open the file in Excel, let it calculate, and save it (Excel keeps the "
        "results of formulas only when it saves)."
    ),
    Slug.MISSING_KEY: (
        "Fill in the key column, so this row can be matched to its instance on "
        "later runs."
    ),
    Slug.DUPLICATE_KEY: (
        "Keep one row per key: delete the extra row, or correct the key on the one "
        "that is wrong."
    ),
    Slug.MALFORMED_ROW: (
        "Open the file in a text editor and check this line for a stray quote or "
        "delimiter."
    ),
}

_FOR_STATUS = {
    Status.INVALID: "Correct the cell the message names.",
    Status.FAILED: (
        "Read Kianda's answer in the message. If it objects to a value, correct it in "
        "the sheet; if Kianda was busy or unreachable, just run again later."
    ),
    Status.UNKNOWN: (
        "Look for this row's instance in Kianda. If it is there, copy its ID into the "
        "'Instance ID' column (this results file can be the next input). Then run "
        "again with --retry-unknown: it creates only the rows still without an ID."
    ),
    Status.NOT_ATTEMPTED: (
        "Fix what stopped the run (the message says what), then run again: this row "
        "is sent then."
    ),
}

_THEN = {
    Status.INVALID: "Save the file and run again; rows already synced are not resent.",
    Status.FAILED: "Rows already synced are not resent.",
}


def what_to_do(result: RowResult) -> str:
    """The next step for a row that is invalid, failed, unknown or not attempted."""
    steps: list[str] = []
    if result.status is Status.INVALID:
        for slug in result.problems:
            step = _FOR_PROBLEM.get(slug)
            if step is not None and step not in steps:
                steps.append(step)
    if not steps:
        steps.append(_FOR_STATUS.get(result.status, ""))
    if result.status in _THEN:
        steps.append(_THEN[result.status])
    return " ".join(step for step in steps if step)
