"""Show what a run would do with one row, and why: ``kianda-sync explain``.

It goes through the same steps as a run (the engine's read, header checks, column
scan, duplicate keys and conversion), so what it shows cannot drift from what a run
does. It never sends anything and never writes the ledger: the ledger is opened only
when its file exists, and only looked up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.client import CREATE_PATH, create_body, update_body, update_target
from sync.connect import EMULATOR_SCOPE
from sync.convert import (
    ConvertedRow,
    FieldValue,
    Slug,
    convert_checked,
    convert_row,
    repeated_keys,
)
from sync.engine import UNKNOWN_MESSAGE
from sync.errors import InputError
from sync.headers import check_headers, mapped_columns
from sync.ledger import KeyState, Ledger, default_ledger_path, fingerprint
from sync.mapping import (
    BoundMapping,
    FieldSpec,
    Mapping,
    OnExisting,
    bind,
    load_mapping,
)
from sync.profile import ColumnScan
from sync.reader import Cell, CellError, Row, Uncalculated, column_letter, open_table
from sync.settings import Settings

_ROW_LEVEL = (Slug.MISSING_KEY, Slug.DUPLICATE_KEY, Slug.MALFORMED_ROW)


@dataclass(frozen=True)
class CellReading:
    """One mapped cell as the reader gave it."""

    column: str
    letter: str
    cell: Cell


@dataclass(frozen=True)
class Conversion:
    """One field: where it comes from, and what is sent or why not."""

    field: str
    spec: FieldSpec
    sent: FieldValue | None
    problem: str | None


@dataclass
class Explanation:
    """Everything ``explain`` shows for one row."""

    input_name: str
    row: int
    process: str
    cells: list[CellReading] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    row_problems: list[str] = field(default_factory=list)
    action: str = "none"
    reason: str = ""
    method: str | None = None
    path: str | None = None
    body: dict[str, Any] | None = None


def explain_row(
    mapping_path: Path,
    input_path: Path,
    number: int,
    *,
    settings: Settings,
    emulator: bool = False,
) -> Explanation:
    """Explain row ``number`` (as the user sees it) of the input, sending nothing."""
    mapping = load_mapping(mapping_path)
    table = open_table(input_path, mapping)
    check_headers(mapping, table)
    bound = bind(mapping, table.headers, table.name)
    scan = ColumnScan(bound)
    found: list[Row] = []

    def inspect(row: Row) -> None:
        scan.add(row)
        if row.number == number:
            found.append(row)

    duplicates = repeated_keys(bound, _inspected(table.rows(), inspect))
    scan.check()
    if not found:
        raise InputError(_no_such_row(number, table.name, mapping.header_row))
    row = found[0]

    converted = convert_checked(bound, row, duplicates, table.date1904)
    result = Explanation(table.name, number, mapping.process)
    result.cells = [
        CellReading(name, column_letter(bound.index(name)), row.cell(bound.index(name)))
        for name in mapped_columns(mapping)
        if name in bound.columns
    ]
    result.conversions = [
        _conversion(bound, row, name, spec, whole=converted, date1904=table.date1904)
        for name, spec in mapping.fields.items()
    ]
    result.row_problems = [
        p.message for p in converted.problems if p.slug in _ROW_LEVEL
    ]
    if not converted.ok:
        result.reason = "The row is invalid, so nothing is sent for it."
        return result
    _decide(
        result, mapping, mapping_path, converted, settings=settings, emulator=emulator
    )
    return result


def _no_such_row(number: int, input_name: str, header_row: int) -> str:
    if number <= header_row:
        return (
            f"Row {number} of {input_name} is not a data row: the header is row "
            f"{header_row}. Give the number of a row below it."
        )
    return (
        f"Row {number} of {input_name} is blank or past the last row, so there is "
        "nothing to explain. Give the row number shown at the left in Excel (for a "
        "CSV file, the record number counting the header as 1)."
    )


def _conversion(
    bound: BoundMapping,
    row: Row,
    name: str,
    spec: FieldSpec,
    *,
    whole: ConvertedRow,
    date1904: bool,
) -> Conversion:
    """One field converted on its own, so its outcome is its own."""
    alone = BoundMapping(
        bound.mapping.model_copy(update={"fields": {name: spec}}), bound.columns
    )
    converted = convert_row(alone, row, date1904)
    sent = next((f for f in whole.fields if f.fieldname == name), None)
    problems = [p.message for p in converted.problems if p.slug not in _ROW_LEVEL]
    return Conversion(name, spec, sent, " ".join(problems) or None)


def _decide(
    result: Explanation,
    mapping: Mapping,
    mapping_path: Path,
    converted: ConvertedRow,
    *,
    settings: Settings,
    emulator: bool,
) -> None:
    """Fill in the match decision and the request, as a run would make them."""
    instance_id = converted.instance_id
    if instance_id is not None:
        why = (
            f"its '{mapping.instance_id_column}' cell holds the instance ID "
            f"{instance_id}."
        )
    else:
        instance_id, why = _ledger_decision(
            mapping, mapping_path, converted, settings, emulator
        )
        if instance_id == "":
            result.action = "unknown"
            result.reason = f"Nothing is sent: {why}"
            return

    fields = converted.fields
    if instance_id is None:
        result.action = "create"
        result.reason = f"Create a new instance: {why}"
        result.method, result.path = "POST", CREATE_PATH
        result.body = create_body(mapping.process, fields, mapping.trigger_field)
        return

    if mapping.on_existing is OnExisting.SKIP:
        result.reason = (
            f"Skip: it belongs to instance {instance_id} ({why}) and the mapping "
            "says on_existing: skip."
        )
        return
    last = _last_sent(mapping_path, settings, emulator, instance_id)
    digest = fingerprint(fields, mapping.process, mapping.trigger_field, mapping.status)
    result.action = "update"
    result.reason = f"Update instance {instance_id}: {why}"
    if last == digest:
        result.action = "none"
        result.reason += (
            " Its payload is the same as the one last sent, so a run marks it "
            "unchanged and sends nothing (--force sends it anyway)."
        )
    partial = mapping.on_existing is not OnExisting.PUT
    result.method, result.path = update_target(settings, instance_id, partial=partial)
    result.body = update_body(
        mapping.process, fields, mapping.trigger_field, mapping.status
    )


def _scope(settings: Settings, emulator: bool) -> str | None:
    return EMULATOR_SCOPE if emulator else settings.domain


def _ledger_path(mapping_path: Path, settings: Settings) -> Path:
    return settings.ledger or default_ledger_path(mapping_path)


def _ledger_decision(
    mapping: Mapping,
    mapping_path: Path,
    converted: ConvertedRow,
    settings: Settings,
    emulator: bool,
) -> tuple[str | None, str]:
    """(instance ID, why) from the ledger; the ID is "" for an unknown create."""
    key = converted.key
    path = _ledger_path(mapping_path, settings)
    scope = _scope(settings, emulator)
    if key is None:
        return None, "the row has no key, so the ledger cannot know it."
    if scope is None:
        return None, (
            f"KIANDA_DOMAIN is not set and --emulator was not given, so the ledger "
            f"was not consulted; a run finds the key '{key}' there if an earlier run "
            "created it."
        )
    if not path.exists():
        return None, f"the ledger {path} does not exist yet, so no row is known."
    with Ledger(path, scope) as ledger:
        entry = ledger.lookup(mapping.process, key)
    where = f"the ledger {path} (workspace {scope}, process '{mapping.process}')"
    if entry is None:
        return None, f"{where} has no entry for the key '{key}'."
    if entry.state is KeyState.PENDING:
        return "", (
            f"{where} holds a create for the key '{key}' sent by run {entry.run_id} "
            f"whose answer never came back, so a run reports the row unknown and "
            f"sends nothing. {UNKNOWN_MESSAGE}"
        )
    return entry.instance_id, (
        f"{where} remembers that the key '{key}' is instance {entry.instance_id} "
        f"(run {entry.run_id})."
    )


def _last_sent(
    mapping_path: Path, settings: Settings, emulator: bool, instance_id: str
) -> str | None:
    path, scope = _ledger_path(mapping_path, settings), _scope(settings, emulator)
    if scope is None or not path.exists():
        return None
    with Ledger(path, scope) as ledger:
        return ledger.last_sent(instance_id)


# --- text ----------------------------------------------------------------------------


def render(result: Explanation) -> str:
    """The explanation as plain text for a terminal."""
    lines = [f"Row {result.row} of {result.input_name}, process '{result.process}'", ""]
    lines.append("Cells as read:")
    for reading in result.cells:
        lines.append(
            f"  {reading.column} (column {reading.letter}): {_cell(reading.cell)}"
        )
    lines += ["", "Conversions:"]
    for conversion in result.conversions:
        lines.append(f"  {_conversion_line(conversion)}")
    if result.row_problems:
        lines += ["", "Row problems:"]
        lines += [f"  {message}" for message in result.row_problems]
    lines += ["", f"Match: {result.reason}"]
    if result.body is not None:
        label = "Request" if result.action != "none" else "Request (only with --force)"
        lines += ["", f"{label}: {result.method} {result.path}"]
        lines.append(json.dumps(result.body, indent=2, ensure_ascii=False))
    return "\n".join(lines)


def _cell(cell: Cell) -> str:
    value = cell.value
    if value is None:
        return "empty"
    if isinstance(value, CellError):
        return f"the Excel error {cell.text}"
    if isinstance(value, Uncalculated):
        return f"a formula whose result was never saved ({cell.text})"
    kind = {
        bool: "boolean",
        int: "number",
        float: "number",
        dt.datetime: "date-time",
        dt.date: "date",
        dt.time: "time",
    }.get(type(value), "text")
    typed = value if kind != "text" else json.dumps(str(value), ensure_ascii=False)
    text = f"{kind} {typed}, shown as {json.dumps(cell.text, ensure_ascii=False)}"
    if cell.number_format not in (None, "General"):
        text += f", number format {json.dumps(cell.number_format)}"
    return text


def _conversion_line(conversion: Conversion) -> str:
    spec = conversion.spec
    source = (
        f"column '{spec.column}'"
        if spec.column is not None
        else f"template '{spec.template}'"
        if spec.template is not None
        else "a constant"
    )
    head = f"{conversion.field} ({spec.type.value}, from {source}): "
    if conversion.problem is not None:
        return head + f"invalid. {conversion.problem}"
    sent = conversion.sent
    if sent is None:
        return head + "the cell is empty, so the field is left out (empty: keep)."
    if sent.text == sent.value:
        return head + f"sends {json.dumps(sent.value, ensure_ascii=False)}"
    text = json.dumps(sent.text, ensure_ascii=False)
    value = json.dumps(sent.value, ensure_ascii=False)
    return head + f"sends text {text}, value {value}"


def _inspected(rows: Iterator[Row], inspect: Callable[[Row], None]) -> Iterator[Row]:
    """The rows, each shown to ``inspect`` on its way."""
    for row in rows:
        inspect(row)
        yield row
