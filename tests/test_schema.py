"""The mapping JSON Schema: generated from the models, shipped, and true to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sync.mapping import load_mapping
from sync.schema import mapping_schema, schema_text, shipped_schema_path
from tests.conftest import ROOT, SAMPLE_MAPPING

DESIGN_EXAMPLE = Path(__file__).parent / "data" / "design-mapping.yaml"
COPIES = [
    ROOT / "sync" / "mapping.schema.json",
    ROOT / "mappings" / "kianda-sync-mapping.schema.json",
]


def _errors(document: Any) -> list[str]:
    """The most relevant problem (what an editor shows first), or none."""
    validator = jsonschema.Draft202012Validator(mapping_schema())
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    return [] if best is None else [best.message]


@pytest.mark.parametrize("path", COPIES, ids=["package", "mappings"])
def test_schema_committed_copies_equal_the_generated_schema(path: Path) -> None:
    """The shipped files are exactly what the models generate (regenerate if not)."""
    assert path.read_text(encoding="utf-8") == schema_text(), (
        "Run: python -m sync.schema sync/mapping.schema.json "
        "mappings/kianda-sync-mapping.schema.json"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Editors can use it: it is itself a valid JSON Schema."""
    jsonschema.Draft202012Validator.check_schema(mapping_schema())


def test_schema_installed_package_holds_its_copy() -> None:
    """The package data includes the schema next to the code."""
    assert json.loads(shipped_schema_path().read_text(encoding="utf-8")) == (
        mapping_schema()
    )


@pytest.mark.parametrize(
    "path", [DESIGN_EXAMPLE, SAMPLE_MAPPING], ids=["design-example", "sample"]
)
def test_schema_accepts_documented_mappings_that_also_load(path: Path) -> None:
    """design.md's example and the sample mapping validate and load cleanly."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))

    assert _errors(document) == []
    assert load_mapping(path).process == document["process"]


def test_schema_sample_mapping_points_editors_at_the_schema() -> None:
    """The sample mapping's first line tells the YAML language server the schema."""
    first = SAMPLE_MAPPING.read_text(encoding="utf-8").splitlines()[0]

    assert first == "# yaml-language-server: $schema=kianda-sync-mapping.schema.json"
    assert (SAMPLE_MAPPING.parent / "kianda-sync-mapping.schema.json").exists()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"process": "p", "key": ["A"], "fields": {"a": "A"}, "sheets": "x"},
            "Additional properties are not allowed ('sheets' was unexpected)",
        ),
        (
            {"process": "p", "key": "A", "fields": {"a": {"column": "A", "typ": "x"}}},
            "Additional properties are not allowed ('typ' was unexpected)",
        ),
        (
            {
                "process": "p",
                "key": "A",
                "fields": {"a": {"column": "A", "type": "money"}},
            },
            "'money' is not one of ['text', 'integer', 'decimal', 'percent', 'date', "
            "'datetime', 'boolean', 'choice']",
        ),
        ({"key": "A", "fields": {"a": "A"}}, "'process' is a required property"),
    ],
    ids=["unknown-key", "unknown-field-key", "bad-type", "missing-process"],
)
def test_schema_rejects_what_load_mapping_rejects(
    document: dict[str, Any], message: str
) -> None:
    """Unknown keys, bad types and missing keys are flagged by the schema too."""
    assert _errors(document) == [message]


def test_schema_allows_short_forms_load_mapping_accepts() -> None:
    """A key as one column, a field as a column name, numbers as constants."""
    document = {
        "process": "p",
        "key": "Ref",
        "fields": {
            "ref": "Ref",
            "count": {"value": 3},
            "flag": {"column": "F", "type": "boolean", "default": False},
            "level": {"column": "L", "type": "choice", "choices": {1: "one"}},
        },
    }

    assert _errors(json.loads(json.dumps(document))) == []
