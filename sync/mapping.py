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


class FieldSpec(BaseModel):
    """Where one Kianda field's value comes from, and how it is converted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str | None = None
    template: str | None = None
    value: str | None = None
    text: str | None = None
    type: FieldType = FieldType.TEXT
    required: bool = False
    default: str | None = None
    empty: EmptyPolicy | None = None
    trim: bool = True
    upper: bool = False
    lower: bool = False
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    input_format: str | None = None
    format: str | None = None
    timezone: str | None = None
    true_text: str = "true"
    false_text: str = "false"
    choices: dict[str, str] | None = None
    decimal_separator: str = "."
    thousands_separator: str | None = None

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

    model_config = ConfigDict(extra="forbid", frozen=True)

    process: str = Field(min_length=1)
    sheet: str | None = None
    header_row: int = Field(default=1, ge=1)
    key: list[str] = Field(min_length=1)
    instance_id_column: str | None = None
    trigger_field: str = ""
    status: str = ""
    on_existing: OnExisting = OnExisting.PATCH
    empty: EmptyPolicy = EmptyPolicy.KEEP
    match_headers: HeaderMatch = HeaderMatch.EXACT
    encoding: str | None = None
    delimiter: str | None = None
    fields: dict[str, FieldSpec] = Field(min_length=1)

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
            letters = ", ".join(_column_letter(i) for i in found)
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
        raise MappingError(
            " ".join(unique) + " Fix the mapping or the sheet and run again."
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


def _column_letter(index: int) -> str:
    """Excel's column letter for a 0-based index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
