"""Check the header row for merged, blank and repeated names before binding.

pandas renames such headers quietly (``Unnamed: 1``, ``Notes.1``); here they are
reported instead. A mapped column whose header is a merged cell stops the run, since
it is not clear which of the merged columns holds the data (``bind`` already stops on
a mapped header that appears twice). The same oddities in columns the mapping does
not use are only warned about: nothing is read from those columns, so nothing can be
sent wrongly, and stopping would make users edit exports they often do not control.
The results workbook still echoes those columns as they are.
"""

from __future__ import annotations

import logging

from sync.errors import MappingError
from sync.mapping import Mapping, normalize_header, template_columns
from sync.reader import Merge, Table, column_letter

log = logging.getLogger(__name__)


def mapped_columns(mapping: Mapping) -> list[str]:
    """Every sheet column the mapping names, in the mapping's order."""
    names: list[str] = []
    for spec in mapping.fields.values():
        if spec.column is not None:
            names.append(spec.column)
        for part in (spec.template, spec.text, spec.value):
            if part is not None:
                names.extend(template_columns(part))
    names.extend(mapping.key)
    if mapping.instance_id_column:
        names.append(mapping.instance_id_column)
    return list(dict.fromkeys(names))


def check_headers(mapping: Mapping, table: Table) -> list[str]:
    """Raise MappingError for a merged mapped header; log and return the warnings."""
    match = mapping.match_headers
    wanted = {normalize_header(name, match): name for name in mapped_columns(mapping)}
    present = {normalize_header(h, match) for h in table.headers}
    problems: list[str] = []
    warnings: list[str] = []
    covered: set[int] = set()

    for merge in table.merged:
        covered.update(range(merge.left, merge.right + 1))
        name = wanted.get(normalize_header(merge.text, match))
        if name is None:
            warnings.append(_unmapped_merge(merge, table))
        elif merge.left != merge.right:
            problems.append(
                f"{_where(mapping, name)}: the column '{name}' is the merged cell "
                f"{merge.ref} of {table.name}, spread over columns "
                f"{_letters(range(merge.left, merge.right + 1))}, so it is not clear "
                "which one holds the data. Unmerge the cells and give each column "
                "its own header."
            )
        elif merge.top < table.header_row and normalize_header(name, match) not in (
            present
        ):
            problems.append(
                f"{_where(mapping, name)}: the column '{name}' is the merged cell "
                f"{merge.ref} of {table.name}, whose text is in row {merge.top}, "
                f"above the header row (row {table.header_row}). Unmerge it so that "
                f"row {table.header_row} holds the name, or set header_row."
            )
    if problems:
        raise MappingError(" ".join(problems) + " Then run again.")

    blanks = [
        index
        for index, header in enumerate(table.headers)
        if not normalize_header(header) and index not in covered
    ]
    if blanks:
        several = len(blanks) > 1
        warnings.append(
            f"In {table.name}, column{'s' if several else ''} {_letters(blanks)} of "
            f"the header row (row {table.header_row}) {'have' if several else 'has'} "
            "no name, so nothing in them can be mapped or sent. Name them if they "
            "hold data Kianda needs."
        )
    warnings.extend(_unmapped_repeats(table, wanted, mapping))
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def _unmapped_merge(merge: Merge, table: Table) -> str:
    return (
        f"In {table.name}, the header cell '{merge.text}' is merged over {merge.ref}. "
        "The mapping does not use it, so nothing is sent from those columns; unmerge "
        "it and name each column if one of them should be mapped."
    )


def _unmapped_repeats(
    table: Table, wanted: dict[str, str], mapping: Mapping
) -> list[str]:
    seen: dict[str, list[int]] = {}
    for index, header in enumerate(table.headers):
        cleaned = normalize_header(header, mapping.match_headers)
        if cleaned and cleaned not in wanted:
            seen.setdefault(cleaned, []).append(index)
    return [
        f"In {table.name}, the header '{normalize_header(table.headers[found[0]])}' "
        f"appears in columns {_letters(found)}. The mapping does not use it, so "
        "nothing is sent from them; rename one of them if it should be mapped."
        for found in seen.values()
        if len(found) > 1
    ]


def _where(mapping: Mapping, column: str) -> str:
    for name, spec in mapping.fields.items():
        if spec.column == column:
            return mapping.where("fields", name, "column")
    if column in mapping.key:
        return mapping.where("key")
    return mapping.where("instance_id_column")


def _letters(indexes: range | list[int]) -> str:
    letters = [column_letter(i) for i in indexes]
    if len(letters) == 1:
        return letters[0]
    return ", ".join(letters[:-1]) + " and " + letters[-1]
