"""Eventdesk's JSON files (connections, alert rules, exports): read with an error that names
the file, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

# The hint for a settings file that cannot be read: Eventdesk writes it whole on save.
REWRITTEN_ON_SAVE = "Fix or remove the file; Eventdesk rewrites it on save."


def read_json_file(path: Path, *, what: str | None = None, hint: str | None = None) -> Any:
    """The file's JSON; a ConfigurationError "Cannot read <what, else the path>: why" if it
    cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"Cannot read {what or path}: {exc}", hint=hint) from exc


def json_text(data: Any) -> str:
    """How Eventdesk writes JSON: indented, ending in a newline."""
    return json.dumps(data, indent=2) + "\n"


def write_json_file(path: Path, data: Any) -> Path:
    return write_text_atomically(path, json_text(data))


def write_text_atomically(path: Path, text: str) -> Path:
    """Writes `text` to `path`, making its folder; a crash never leaves half a file.

    OSError is the caller's to explain.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
