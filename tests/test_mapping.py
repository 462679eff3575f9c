"""Tests of the mapping file: loading, error messages with lines, and header binding."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import MappingError
from sync.mapping import (
    EmptyPolicy,
    FieldSpec,
    FieldType,
    HeaderMatch,
    Mapping,
    OnExisting,
    bind,
    load_mapping,
    normalize_header,
    render_template,
    template_columns,
)


def write_mapping(tmp_path: Path, *lines: str) -> Path:
    """Write a mapping file of the given lines and return its path."""
    path = tmp_path / "mapping.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mapping_of(tmp_path: Path, *lines: str) -> Mapping:
    """Load a mapping file of the given lines."""
    return load_mapping(write_mapping(tmp_path, *lines))


def load_error(path: Path) -> str:
    """The message of the MappingError that loading (and binding) the file raises."""
    with pytest.raises(MappingError) as info:
        bind(load_mapping(path), ["Ref", "Reason"], "input.xlsx")
    return str(info.value)


def bind_error(mapping: Mapping, headers: list[str]) -> str:
    """The message of the MappingError that binding the headers raises."""
    with pytest.raises(MappingError) as info:
        bind(mapping, headers, "input.xlsx")
    return str(info.value)


FIX = "Fix the mapping file and run again."

MAPPING_ERRORS = [
    (
        ["process: leave", "key: Ref", "fields:", "  reason: Reason", "procss: x"],
        f"<file>, line 5: 'procss' is not a known key. Did you mean 'process'? {FIX}",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  reason:",
            "    column: Reason",
            "    tpye: text",
        ],
        f"<file>, line 6: 'tpye' is not a known key. Did you mean 'type'? {FIX}",
    ),
    (
        ["key: Ref", "fields:", "  reason: Reason"],
        f"<file>: 'process' is required but missing. {FIX}",
    ),
    (
        ["process: leave", "fields:", "  reason: Reason"],
        f"<file>: 'key' is required but missing. {FIX}",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  reason:",
            "    column: Reason",
            "    type: money",
        ],
        "<file>, line 6: fields.reason.type: Input should be 'text', 'integer', "
        "'decimal', 'percent', 'date', 'datetime', 'boolean' or 'choice'. "
        f"{FIX}",
    ),
    (
        ["process: leave", "key: [Ref", "fields:", "  reason: Reason"],
        "<file>, line 3: this is not valid YAML (expected ',' or ']', but got ':'). "
        "Fix the file and run again.",
    ),
    (
        ["process: leave", "key: Ref", "fields:", "\treason: Reason"],
        "<file>, line 4: this is not valid YAML (found character '\\t' that cannot "
        "start any token). Fix the file and run again.",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  reason: !!python/object/apply:os.system ['echo hacked']",
        ],
        "<file>, line 4: this is not valid YAML (could not determine a constructor "
        "for the tag 'tag:yaml.org,2002:python/object/apply:os.system'). "
        "Fix the file and run again.",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  dept:",
            "    column: Department",
            "    type: choice",
        ],
        "<file>, line 4: fields.dept: a choice field needs choices: "
        f"{{sheet text: Kianda value}}. {FIX}",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  title:",
            "    column: Reason",
            "    template: '{Ref}'",
        ],
        "<file>, line 4: fields.title: give either column or template, not both. "
        f"{FIX}",
    ),
    (
        ["process: leave", "key: Ref", "fields:", "  reason:", "    type: text"],
        "<file>, line 4: fields.reason: say where the value comes from: column, "
        f"template or value. {FIX}",
    ),
    (
        ["process: leave", "key: Ref", "header_row: 0", "fields:", "  reason: Reason"],
        "<file>, line 3: header_row: Input should be greater than or equal to 1. "
        f"{FIX}",
    ),
    (
        ["process: leave", "key: Ref", "delimiter: ';;'", "fields:", "  r: Reason"],
        "<file>, line 3: delimiter: the delimiter must be a single character, "
        f"such as ';'. {FIX}",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  reason:",
            "    column: Reason",
            "    pattern: '[a-'",
        ],
        "<file>, line 6: fields.reason.pattern: not a valid regular expression: "
        f"unterminated character set at position 0. {FIX}",
    ),
    (
        [
            "process: leave",
            "key: Ref",
            "fields:",
            "  title:",
            "    template: '{Ref} {Reason'",
        ],
        "<file>, line 5: fields.title.template: the template '{Ref} {Reason' is not "
        f"valid: expected '}}' before end of string. {FIX}",
    ),
    (
        ["- process: leave", "- key: Ref"],
        "<file>: a mapping file must be a set of keys such as 'process:' and "
        "'fields:'. See mappings/training-request.yaml for an example.",
    ),
]


@pytest.mark.parametrize(
    ("lines", "expected"),
    MAPPING_ERRORS,
    ids=[
        "unknown-top-key-suggests-process",
        "unknown-field-key-suggests-type",
        "missing-process",
        "missing-key",
        "bad-type",
        "yaml-syntax-error",
        "yaml-tab-indent",
        "python-object-tag-refused",
        "choice-without-choices",
        "column-and-template",
        "no-value-source",
        "header-row-zero",
        "two-character-delimiter",
        "bad-regular-expression",
        "broken-template",
        "list-not-mapping",
    ],
)
def test_load_mapping_error_names_file_and_line(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    """A broken mapping raises MappingError naming the file, the line and the fix."""
    path = write_mapping(tmp_path, *lines)
    assert load_error(path) == expected.replace("<file>", str(path))


def test_load_mapping_missing_file_says_so(tmp_path: Path) -> None:
    """A mapping path that does not exist raises MappingError naming the path."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    assert str(info.value) == (
        f"The mapping file {path} does not exist. Check the path and run again."
    )


def test_load_mapping_short_form_is_a_text_column(tmp_path: Path) -> None:
    """A field given as just a column name reads that column as text."""
    mapping = mapping_of(
        tmp_path, "process: leave", "key: Ref", "fields:", "  notes: Notes"
    )
    assert mapping.fields == {"notes": FieldSpec(column="Notes", type=FieldType.TEXT)}


@pytest.mark.parametrize(
    ("key_line", "expected"),
    [
        ("key: Ref", ["Ref"]),
        ("key: [Ref]", ["Ref"]),
        ("key: [Region, Ref]", ["Region", "Ref"]),
    ],
    ids=["string", "one-item-list", "two-item-list"],
)
def test_load_mapping_key_is_a_list(
    tmp_path: Path, key_line: str, expected: list[str]
) -> None:
    """The key is always a list of column names, even when written as one string."""
    mapping = mapping_of(tmp_path, "process: leave", key_line, "fields:", "  r: Reason")
    assert mapping.key == expected


def test_load_mapping_defaults_follow_design(tmp_path: Path) -> None:
    """A minimal mapping gets the defaults design.md documents."""
    mapping = mapping_of(tmp_path, "process: leave", "key: Ref", "fields:", "  r: R")
    assert (
        mapping.sheet,
        mapping.header_row,
        mapping.trigger_field,
        mapping.status,
        mapping.on_existing,
        mapping.empty,
        mapping.match_headers,
        mapping.encoding,
        mapping.delimiter,
    ) == (
        None,
        1,
        "",
        "",
        OnExisting.PATCH,
        EmptyPolicy.KEEP,
        HeaderMatch.EXACT,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("line", "attribute", "expected"),
    [
        ("    text: 42", "text", "42"),
        ("    text: true", "text", "true"),
        ("    default: 0", "default", "0"),
        ("    default: no", "default", "false"),
        ("    default: 1.50", "default", "1.5"),
    ],
    ids=["int-text", "bool-text", "zero-default", "yaml-no-default", "float-default"],
)
def test_load_mapping_scalars_become_text(
    tmp_path: Path, line: str, attribute: str, expected: str
) -> None:
    """YAML numbers and booleans in text and default are kept as JSON-ready text."""
    mapping = mapping_of(
        tmp_path, "process: leave", "key: Ref", "fields:", "  f:", "    column: C", line
    )
    assert getattr(mapping.fields["f"], attribute) == expected


def test_load_mapping_choice_codes_become_text(tmp_path: Path) -> None:
    """Choice keys and codes that YAML reads as numbers are kept as text."""
    mapping = mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "fields:",
        "  grade:",
        "    column: Grade",
        "    type: choice",
        "    choices: {1: one, Two: 2}",
    )
    assert mapping.fields["grade"].choices == {"1": "one", "Two": "2"}


def test_mapping_where_names_file_and_line(tmp_path: Path) -> None:
    """A key's location reads as the file and its 1-based line."""
    path = write_mapping(
        tmp_path,
        "process: leave",
        "key: Ref",
        "fields:",
        "  reason: Reason",
        "  days:",
        "    column: Days",
        "    type: integer",
    )
    mapping = load_mapping(path)
    assert [
        mapping.where("fields", "days", "type"),
        mapping.where("fields", "days", "nothing-here"),
        mapping.where("key", "0"),
    ] == [f"{path}, line 7", f"{path}, line 5", f"{path}, line 2"]


def test_mapping_empty_policy_field_beats_mapping(tmp_path: Path) -> None:
    """A field's own empty: wins over the mapping-wide one."""
    mapping = mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "empty: clear",
        "fields:",
        "  a: A",
        "  b:",
        "    column: B",
        "    empty: keep",
    )
    assert [mapping.empty_policy(spec) for spec in mapping.fields.values()] == [
        EmptyPolicy.CLEAR,
        EmptyPolicy.KEEP,
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{First Name} {Last Name}", ["First Name", "Last Name"]),
        ("Ref {Ref}", ["Ref"]),
        ("{{literal}} {Ref}", ["Ref"]),
        ("no columns", []),
    ],
    ids=["two-columns", "prefix", "escaped-braces", "none"],
)
def test_template_columns_lists_names(template: str, expected: list[str]) -> None:
    """The columns a template refers to are listed in order."""
    assert template_columns(template) == expected


def test_render_template_fills_columns() -> None:
    """A template is filled with the row's texts and literal braces are kept."""
    values = {"First Name": "Ann", "Last Name": "O'Neil"}
    assert render_template("{First Name} {Last Name} {{x}}", values) == "Ann O'Neil {x}"


@pytest.mark.parametrize(
    ("header", "match", "expected"),
    [
        ("  Notes  ", HeaderMatch.EXACT, "Notes"),
        ("Notes\u00a0", HeaderMatch.EXACT, "Notes"),
        ("Start\nDate", HeaderMatch.EXACT, "Start Date"),
        ("Start \u00a0\r\n Date", HeaderMatch.EXACT, "Start Date"),
        ("Start Date", HeaderMatch.LOOSE, "startdate"),
        (" START\u00a0 date ", HeaderMatch.LOOSE, "startdate"),
    ],
    ids=["spaces", "nbsp", "line-break", "mixed-run", "loose", "loose-mixed"],
)
def test_normalize_header_cleans_white_space(
    header: str, match: HeaderMatch, expected: str
) -> None:
    """Headers are trimmed and runs of white space become one space."""
    assert normalize_header(header, match) == expected


@pytest.fixture
def leave(tmp_path: Path) -> Mapping:
    """A mapping reading Ref, Reason and Start Date."""
    return mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "fields:",
        "  reason: Reason",
        "  startDate:",
        "    column: Start Date",
        "    type: date",
    )


def test_bind_finds_column_positions(leave: Mapping) -> None:
    """Every mapped column is found at its 0-based sheet position."""
    bound = bind(leave, ["Start Date", "Other", "Ref", "Reason"], "input.xlsx")
    assert bound.columns == {"Reason": 3, "Start Date": 0, "Ref": 2}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Ref", "Reasons", "Start Date"], ("Reason", 4, "Reasons")),
        (["Ref", "Reason", "StartDate", "End Date"], ("Start Date", 6, "StartDate")),
        (["Reference", "Reason", "Start Date"], ("Ref", 2, "Reference")),
    ],
    ids=["field-column", "typed-field-column", "key-column"],
)
def test_bind_missing_column_names_nearest_header(
    leave: Mapping, headers: list[str], expected: tuple[str, int, str]
) -> None:
    """A mapped column absent from the sheet is reported with the nearest header."""
    column, line, nearest = expected
    assert bind_error(leave, headers) == (
        f"{leave.source}, line {line}: the column '{column}' is not in the header "
        f"row (row 1) of input.xlsx. The nearest header is '{nearest}'. "
        "Fix the mapping or the sheet and run again."
    )


@pytest.mark.parametrize(
    "headers",
    [
        ["Ref", "Reason", "Start Date", "Reason"],
        ["Ref", "Reason", "Start Date", "Reason\u00a0"],
        ["Ref", " Reason", "Start Date", "Reason "],
    ],
    ids=["same-text", "nbsp-twin", "spaced-twin"],
)
def test_bind_refuses_mapped_duplicate_header(
    leave: Mapping, headers: list[str]
) -> None:
    """A mapped header that appears twice is refused, naming both columns."""
    assert bind_error(leave, headers) == (
        f"{leave.source}, line 4: the column 'Reason' appears 2 times in input.xlsx "
        "(columns B, D), so it is not clear which one to use. Rename one of them in "
        "the sheet. Fix the mapping or the sheet and run again."
    )


def test_bind_ignores_unmapped_duplicate_header(leave: Mapping) -> None:
    """A header that appears twice but is not mapped does not stop the run."""
    bound = bind(leave, ["Ref", "Note", "Reason", "Note", "Start Date"], "in.csv")
    assert bound.columns == {"Reason": 2, "Start Date": 4, "Ref": 0}


@pytest.mark.parametrize(
    "headers",
    [
        [" Ref ", "Reason\u00a0", "Start Date"],
        ["Ref", "Reason", "Start\nDate"],
        ["Ref", "Reason", "Start\r\nDate"],
        ["Ref", "\u00a0Reason", "Start  \u00a0 Date "],
    ],
    ids=["trimmed", "line-break", "crlf", "nbsp-run"],
)
def test_bind_matches_cleaned_headers(leave: Mapping, headers: list[str]) -> None:
    """Headers match after trimming and collapsing spaces, NBSPs and line breaks."""
    bound = bind(leave, headers, "input.xlsx")
    assert bound.columns == {"Reason": 1, "Start Date": 2, "Ref": 0}


def test_bind_exact_headers_respect_case(leave: Mapping) -> None:
    """Without loose matching, a header differing in case is not the column."""
    assert bind_error(leave, ["Ref", "Reason", "start date"]) == (
        f"{leave.source}, line 6: the column 'Start Date' is not in the header row "
        "(row 1) of input.xlsx. The nearest header is 'start date'. "
        "Fix the mapping or the sheet and run again."
    )


@pytest.mark.parametrize(
    "headers",
    [
        ["REF", "reason", "start date"],
        ["Ref", "Reason", "StartDate"],
        ["ref", "REASON", "START\u00a0\nDATE"],
    ],
    ids=["case", "no-space", "case-and-breaks"],
)
def test_bind_loose_ignores_case_and_spacing(
    tmp_path: Path, headers: list[str]
) -> None:
    """With match_headers: loose, case and spacing do not matter."""
    mapping = mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "match_headers: loose",
        "fields:",
        "  reason: Reason",
        "  startDate: Start Date",
    )
    bound = bind(mapping, headers, "input.xlsx")
    assert bound.columns == {"Reason": 1, "Start Date": 2, "Ref": 0}


def test_bind_template_columns_must_exist(tmp_path: Path) -> None:
    """A template's columns are checked like any other column."""
    mapping = mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "fields:",
        "  title:",
        "    template: '{First Name} {Last Name}'",
    )
    assert bind_error(mapping, ["Ref", "First Name", "Surname"]) == (
        f"{mapping.source}, line 5: the column 'Last Name' is not in the header row "
        "(row 1) of input.xlsx. The nearest header is 'First Name'. "
        "Fix the mapping or the sheet and run again."
    )


def test_bind_instance_id_column_is_optional(tmp_path: Path) -> None:
    """A missing instance ID column is not an error: a first run has none."""
    mapping = mapping_of(
        tmp_path,
        "process: leave",
        "key: Ref",
        "instance_id_column: Instance ID",
        "fields:",
        "  reason: Reason",
    )
    bound = bind(mapping, ["Ref", "Reason"], "input.xlsx")
    assert bound.columns == {"Reason": 1, "Ref": 0}


def test_bind_reports_every_missing_column(leave: Mapping) -> None:
    """All missing columns are reported at once, each with its own line."""
    assert bind_error(leave, ["Ref", "Motive", "Start"]) == (
        f"{leave.source}, line 4: the column 'Reason' is not in the header row "
        "(row 1) of input.xlsx. The nearest header is 'Ref'. "
        f"{leave.source}, line 6: the column 'Start Date' is not in the header row "
        "(row 1) of input.xlsx. The nearest header is 'Start'. If the column names "
        "are not on row 1, set header_row: (and sheet:) in the mapping. "
        "Fix the mapping or the sheet and run again."
    )
