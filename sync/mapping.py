"""The mapping file: which spreadsheet column feeds which Kianda field, and how.

The YAML is loaded with PyYAML's safe loader and validated into pydantic models. Every
error names the mapping file and the line of the offending key, so a user can go
straight to it. Column names are checked against the sheet later, by ``bind``, once the
header row is known.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sync.errors import MappingError

_WHITESPACE = re.compile(r"\s+")
# The column in which results workbooks give each row's instance ID.
RESULTS_ID_COLUMN = "Instance ID"


class FieldType(StrEnum):
    """How a cell is read and what is sent for it."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class EmptyPolicy(StrEnum):
    """What an empty cell does to its field: leave Kianda's value alone, or clear it."""

    KEEP = "keep"
    CLEAR = "clear"


class OnExisting(StrEnum):
    """What to do with a row whose instance already exists."""

    PATCH = "patch"
    PUT = "put"
    SKIP = "skip"


class HeaderMatch(StrEnum):
    """How mapping column names are compared with the sheet's headers."""

    EXACT = "exact"
    LOOSE = "loose"


def _also_scalars(schema: dict[str, Any]) -> None:
    """YAML numbers and booleans are taken as their text, so the schema allows them."""
    schema["anyOf"] = [{"type": ["string", "number", "boolean"]}, {"type": "null"}]


def _choices(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        {"type": "null"},
    ]


def _key_schema(schema: dict[str, Any]) -> None:
    """One column name, or a list of them."""
    kept = ("title", "description")
    array = {key: schema.pop(key) for key in list(schema) if key not in kept}
    schema["anyOf"] = [{"type": "string", "minLength": 1}, array]


def _short_form(schema: dict[str, Any]) -> None:
    """A field is a mapping of options, or just a column name (type text)."""
    spec = schema["additionalProperties"]
    schema["additionalProperties"] = {"anyOf": [{"type": "string"}, spec]}


class FieldSpec(BaseModel):
    """Where one Kianda field's value comes from, and how it is converted."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True
    )

    column: str | None = None
    """The sheet column (its header) that holds the value."""
    template: str | None = None
    """Several columns combined, such as "{First Name} {Last Name}"."""
    value: str | None = Field(default=None, json_schema_extra=_also_scalars)
    """A constant; with column or template, the value sent instead ({Column} works)."""
    text: str | None = Field(default=None, json_schema_extra=_also_scalars)
    """The text sent instead of the converted one (may use {Column})."""
    type: FieldType = FieldType.TEXT
    """How the cell is read and what is sent."""
    required: bool = False
    """An empty cell makes the row invalid."""
    default: str | None = Field(default=None, json_schema_extra=_also_scalars)
    """Sent when the cell is empty."""
    empty: EmptyPolicy | None = None
    """An empty cell: keep (leave the field out) or clear (send it empty)."""
    trim: bool = True
    """Trim spaces (non-breaking ones too) at both ends of the text."""
    upper: bool = False
    """Send text in capitals."""
    lower: bool = False
    """Send text in small letters."""
    max_length: int | None = Field(default=None, ge=1)
    """Longer text makes the row invalid."""
    pattern: str | None = None
    """A regular expression the whole text must match."""
    input_format: str | None = None
    """How dates typed as text are written, such as "%d/%m/%Y"."""
    format: str | None = None
    """How a date is sent, such as "%Y-%m-%d" (default ISO 8601)."""
    timezone: str | None = None
    """The IANA time zone of date-times without one, such as "Europe/Dublin"."""
    true_text: str = "true"
    """The text sent for a true boolean (its value is "true")."""
    false_text: str = "false"
    """The text sent for a false boolean (its value is "false")."""
    choices: dict[str, str] | None = Field(default=None, json_schema_extra=_choices)
    """Sheet text -> the value Kianda stores, for a choice field."""
    decimal_separator: str = "."
    """The decimal mark of numbers typed as text: "." or ","."""
    thousands_separator: str | None = None
    """The thousands mark of numbers typed as text, such as "," or "."."""

    @field_validator("value", "text", "default", mode="before")
    @classmethod
    def _scalar_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value

    @field_validator("choices", mode="before")
    @classmethod
    def _choice_keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): str(code) for key, code in value.items()}
        return value

    @field_validator("template", "text", "value")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            template_columns(value)
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [
            name for name in ("column", "template") if getattr(self, name) is not None
        ]
        if len(sources) > 1:
            raise ValueError("give either column or template, not both")
        if not sources and self.value is None:
            raise ValueError(
                "say where the value comes from: column, template or value"
            )
        if self.type is FieldType.CHOICE and not self.choices:
            raise ValueError("a choice field needs choices: {sheet text: Kianda value}")
        if self.upper and self.lower:
            raise ValueError("upper and lower cannot both be set")
        return self

    def columns(self) -> list[str]:
        """The sheet columns this field reads, in the order they appear."""
        names: list[str] = []
        if self.column is not None:
            names.append(self.column)
        for part in (self.template, self.text, self.value):
            if part is not None:
                names.extend(template_columns(part))
        return names


class Mapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True
    )

    process: str = Field(min_length=1)
    """The Kianda process that receives the rows."""
    sheet: str | None = None
    """The worksheet to read; default: the first visible one."""
    header_row: int = Field(default=1, ge=1)
    """The row (counting from 1) that holds the column names."""
    key: list[str] = Field(min_length=1, json_schema_extra=_key_schema)
    """The column(s) that identify a row from one run to the next."""
    instance_id_column: str | None = None
    """The column holding a Kianda instance ID, when the sheet has one."""
    trigger_field: str = ""
    """Sent as TriggerField."""
    status: str = ""
    """Sent as Status on updates, when set."""
    on_existing: OnExisting = OnExisting.PATCH
    """What to do with a row whose instance exists: patch, put or skip."""
    empty: EmptyPolicy = EmptyPolicy.KEEP
    """What an empty cell does, unless a field says otherwise."""
    match_headers: HeaderMatch = HeaderMatch.EXACT
    """loose: headers also match ignoring case and spaces."""
    encoding: str | None = None
    """The CSV file's encoding, such as utf-8 or cp1252; found by itself if unset."""
    delimiter: str | None = None
    """The CSV field separator, such as ";"; found by itself if unset."""
    fields: dict[str, FieldSpec] = Field(min_length=1, json_schema_extra=_short_form)
    """Kianda field name -> where its value comes from (or just a column name)."""

    _source: Path | None = PrivateAttr(default=None)
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

    @field_validator("key", mode="before")
    @classmethod
    def _key_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                str(name): {"column": spec} if isinstance(spec, str) else spec
                for name, spec in value.items()
            }
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("the delimiter must be a single character, such as ';'")
        return value

    @property
    def source(self) -> str:
        """The mapping file's path as the user gave it, for messages."""
        return str(self._source) if self._source else "the mapping"

    def line_of(self, *path: str) -> int | None:
        """The 1-based line of a key in the mapping file, or of its nearest parent."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def where(self, *path: str) -> str:
        """``file, line N`` for messages about a key."""
        line = self.line_of(*path)
        return f"{self.source}, line {line}" if line else self.source

    def empty_policy(self, spec: FieldSpec) -> EmptyPolicy:
        """The field's own ``empty:`` or else the mapping's."""
        return spec.empty or self.empty


def template_columns(template: str) -> list[str]:
    """The column names a ``{Column}`` template refers to."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"the template {template!r} is not valid: {exc}") from None
    return [name for _, name, _, _ in parsed if name]


def render_template(template: str, values: dict[str, str]) -> str:
    """Fill a ``{Column}`` template; a literal brace is written ``{{`` or ``}}``."""
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name:
            out.append(values.get(name, ""))
    return "".join(out)


def normalize_header(text: str, match: HeaderMatch = HeaderMatch.EXACT) -> str:
    """A header as compared with mapping columns: trimmed, white space collapsed."""
    cleaned = _WHITESPACE.sub(" ", text.replace("\u00a0", " ")).strip()
    if match is HeaderMatch.LOOSE:
        return cleaned.replace(" ", "").casefold()
    return cleaned


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file, or raise MappingError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MappingError(
            f"The mapping file {path} does not exist. Check the path and run again."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"The mapping file {path} cannot be read: {exc}.") from None

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError(
            f"{where}: this is not valid YAML ({problem}). Fix the file and run again."
        ) from None
    if not isinstance(data, dict):
        raise MappingError(
            f"{path}: a mapping file must be a set of keys such as 'process:' and "
            "'fields:'. See mappings/training-request.yaml for an example."
        )

    lines = _key_lines(node)
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_explain(exc, path, lines)) from None
    mapping._source = path
    mapping._lines = lines
    return mapping


def _key_lines(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(current: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                path = (*prefix, str(key_node.value))
                lines[path] = key_node.start_mark.line + 1
                walk(value_node, path)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                path = (*prefix, str(index))
                lines[path] = item.start_mark.line + 1
                walk(item, path)

    if node is not None:
        walk(node, ())
    return lines


def _explain(
    exc: ValidationError, path: Path, lines: dict[tuple[str, ...], int]
) -> str:
    """One sentence per pydantic error, with the mapping file's line."""
    sentences = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        line = None
        probe = loc
        while probe and line is None:
            line = lines.get(probe)
            probe = probe[:-1]
        where = f"{path}, line {line}" if line else str(path)
        key = ".".join(loc) or "the file"
        if error["type"] == "extra_forbidden":
            known = _known_keys(loc)
            hint = difflib.get_close_matches(loc[-1], known, n=1)
            suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
            sentences.append(f"{where}: '{loc[-1]}' is not a known key.{suggestion}")
        elif error["type"] == "missing":
            sentences.append(f"{where}: '{loc[-1]}' is required but missing.")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            sentences.append(f"{where}: {key}: {message}.")
    return " ".join(sentences) + " Fix the mapping file and run again."


def _known_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = FieldSpec if loc[:1] == ("fields",) else Mapping
    return list(model.model_fields)


@dataclass(frozen=True, slots=True)
class BoundMapping:
    """A mapping whose column names have been found in a concrete header row."""

    mapping: Mapping
    columns: dict[str, int]
    """Mapping column name -> 0-based index in the sheet."""
    instance_id_column: str | None = None
    """The column holding instance IDs: the mapping's, or a results file's own."""

    def index(self, column: str) -> int:
        """The 0-based sheet position of a mapping column name."""
        return self.columns[column]


def bind(mapping: Mapping, headers: Sequence[str], input_name: str) -> BoundMapping:
    """Find every column the mapping names among the headers, or raise MappingError.

    A column missing from the sheet is reported with the nearest real header; a
    mapped header that appears twice is refused rather than guessed.
    """
    match = mapping.match_headers
    positions: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        cleaned = normalize_header(header, match)
        if cleaned:
            positions.setdefault(cleaned, []).append(index)

    wanted: list[tuple[str, tuple[str, ...]]] = []
    for name, spec in mapping.fields.items():
        for part in ("column", "template", "text", "value"):
            source = getattr(spec, part)
            if source is None:
                continue
            names = [source] if part == "column" else template_columns(source)
            wanted.extend((column, ("fields", name, part)) for column in names)
    wanted.extend((column, ("key",)) for column in mapping.key)
    if mapping.instance_id_column:
        wanted.append((mapping.instance_id_column, ("instance_id_column",)))

    columns: dict[str, int] = {}
    problems: list[str] = []
    real = [normalize_header(h) for h in headers if normalize_header(h)]
    for column, where in wanted:
        found = positions.get(normalize_header(column, match), [])
        if len(found) == 1:
            columns[column] = found[0]
            continue
        if len(found) > 1:
            from openpyxl.utils import get_column_letter

            letters = ", ".join(get_column_letter(i + 1) for i in found)
            problems.append(
                f"{mapping.where(*where)}: the column '{column}' appears "
                f"{len(found)} times in {input_name} (columns {letters}), so it is "
                "not clear which one to use. Rename one of them in the sheet."
            )
            continue
        if column == mapping.instance_id_column:
            continue  # an instance ID column is optional: a first run has none
        nearest = difflib.get_close_matches(
            normalize_header(column), real, n=1, cutoff=0
        )
        hint = f" The nearest header is '{nearest[0]}'." if nearest else ""
        problems.append(
            f"{mapping.where(*where)}: the column '{column}' is not in the header "
            f"row (row {mapping.header_row}) of {input_name}.{hint}"
        )

    if problems:
        unique = list(dict.fromkeys(problems))
        hint = ""
        if len(columns) < len(unique):  # most names missing: likely the wrong row
            hint = (
                f" If the column names are not on row {mapping.header_row}, set "
                "header_row: (and sheet:) in the mapping."
            )
        raise MappingError(
            " ".join(unique) + hint + " Fix the mapping or the sheet and run again."
        )

    id_column = _instance_id_column(mapping, positions, columns)
    return BoundMapping(mapping=mapping, columns=columns, instance_id_column=id_column)


def _instance_id_column(
    mapping: Mapping, positions: dict[str, list[int]], columns: dict[str, int]
) -> str | None:
    """The mapping's instance ID column if the sheet has it; else a results file's."""
    if mapping.instance_id_column is not None:
        return (
            mapping.instance_id_column
            if mapping.instance_id_column in columns
            else None
        )
    found = positions.get(
        normalize_header(RESULTS_ID_COLUMN, mapping.match_headers), []
    )
    if len(found) != 1:
        return None
    columns[RESULTS_ID_COLUMN] = found[0]
    return RESULTS_ID_COLUMN
