"""JSON Schemas of the workspace files, for editors with a YAML language server.

The generated files are committed (``nurture schema`` writes them; a test checks that they
are current). ``nurture init`` writes them into the new workspace's ``schemas/`` folder,
and each YAML file there points at its own with a first line such as::

    # yaml-language-server: $schema=../schemas/sequence.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from campaigns.model import Campaign
from campaigns.workspace import WorkspaceSettings
from sequences.model import Sequence

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS: dict[str, tuple[type[BaseModel], str, str]] = {
    "sequence.schema.json": (Sequence, "sequences/schemas", "nurture sequence"),
    "campaign.schema.json": (Campaign, "campaigns/schemas", "nurture campaign"),
    "workspace.schema.json": (WorkspaceSettings, "campaigns/schemas", "nurture.yaml settings"),
}


def schema_of(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``model`` as written in YAML (aliases)."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": title}


def render(name: str) -> str:
    model, _, title = SCHEMAS[name]
    return json.dumps(schema_of(model, title), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _schema_files(out: Path | None = None) -> dict[Path, str]:
    """Each schema file's path (in the source tree, or under ``out``) and its content."""
    return {(out or ROOT / folder) / name: render(name) for name, (_, folder, _) in SCHEMAS.items()}


def stale_schemas(out: Path | None = None) -> list[Path]:
    """Schema files missing or different from what the models generate now."""
    return [
        path
        for path, text in _schema_files(out).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def write_schemas(out: Path | None = None) -> list[Path]:
    """Write every schema file; returns the paths written."""
    written = []
    for path, text in _schema_files(out).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
