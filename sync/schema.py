"""The JSON Schema of mapping files, so editors can complete and check them.

The schema is generated from the pydantic models in ``sync.mapping``; the copies
shipped in the package (``sync/mapping.schema.json``) and in ``mappings/`` are this
output, and a test keeps them equal. Regenerate both after changing the models::

    python -m sync.schema sync/mapping.schema.json \
        mappings/kianda-sync-mapping.schema.json
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from sync.mapping import Mapping

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def mapping_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file (draft 2020-12)."""
    schema = Mapping.model_json_schema()
    schema["title"] = "kianda-sync mapping"
    return {"$schema": DIALECT, **schema}


def schema_text() -> str:
    """The schema as the committed files hold it."""
    return json.dumps(mapping_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_path() -> Path:
    """Where the installed package keeps its copy of the schema."""
    return Path(str(resources.files("sync") / "mapping.schema.json"))


def main(paths: list[str]) -> None:
    """Write the schema to each of the given files."""
    for path in paths:
        Path(path).write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
