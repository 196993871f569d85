"""The recorded figures: every ``*.json`` in the results folder, and the earlier runs kept in its
``earlier/`` folder (figures of runs that a later run replaced, which the README still cites)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NotRecorded(LookupError):
    """A section asked for a results file the folder does not hold."""


@dataclass(frozen=True)
class Results:
    #: Results file name (``gas.json``) to its figures.
    files: Mapping[str, Any] = field(default_factory=dict)
    #: Results file name to why it could not be read (not JSON, not UTF-8).
    unreadable: Mapping[str, str] = field(default_factory=dict)
    #: Earlier runs, by file name in ``earlier/``.
    earlier: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name not in self.files:
            raise NotRecorded(name)
        return self.files[name]

    def has(self, *names: str) -> bool:
        return all(n in self.files for n in names)

    def earlier_run(self, name: str) -> Mapping[str, Any] | None:
        run = self.earlier.get(name)
        return run if isinstance(run, Mapping) else None


def _read(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as error:
        return None, f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})"


def _folder(folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    files: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        if not path.is_file():
            continue
        data, error = _read(path)
        if error is None:
            files[path.name] = data
        else:
            unreadable[path.name] = error
    return files, unreadable


def load(folder: Path) -> Results:
    """Every results file of ``folder`` (a missing folder holds none), and its earlier runs."""
    files, unreadable = _folder(folder)
    earlier, _ = _folder(folder / "earlier")
    return Results(files=files, unreadable=unreadable, earlier=earlier)
