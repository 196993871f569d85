"""Which compute receipt on chain produced a released result: model provenance.

A job's receipt commits to its outputs by ``output_hash``: the sha256 of the canonical JSON of
``{"outputs": <manifest>, "salt": <output salt>}``, where the manifest lists every output file
(``path`` relative and POSIX, ``size``, ``sha256``) sorted by path. The worker computes it when it
releases a result, and this module with the same function (``datamarket.jobs.spec.output_hash``)
from the folder the consumer extracted the result into (``datamarket compute result``), so that the
hash can be looked up among the market's ``ComputeReceiptPosted`` events. The salt (32 random bytes,
given to the buyer with the result) keeps the public hash from confirming guesses about a result, so
nobody can tie a folder to its receipt without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datamarket.audit.errors import ResultFolderError
from datamarket.chain import events as ev
from datamarket.jobs.spec import output_hash
from datamarket.sdk.results import RESULT_RECORD

SALT = re.compile(r"[0-9a-f]{64}")


def manifest(folder: Path) -> list[dict[str, Any]]:
    """``[{"path", "size", "sha256"}]`` of every file under ``folder``, sorted by path; a link, a
    special file or a hard-linked file is refused (the worker releases none)."""
    folder = Path(folder)
    try:
        top = folder.lstat()
    except OSError:
        raise ResultFolderError(f"{folder} does not exist") from None
    if not stat.S_ISDIR(top.st_mode):
        raise ResultFolderError(f"{folder} is not a folder")
    entries = []
    pending = [(folder, "")]
    while pending:
        current, prefix = pending.pop()
        with os.scandir(current) as children:
            for child in children:
                relative = prefix + child.name
                if relative == RESULT_RECORD:  # the record `compute result` writes beside the outputs
                    continue
                info = child.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    pending.append((Path(child.path), relative + "/"))
                elif not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
                    raise ResultFolderError(f"{relative} is not a plain file: a released result has none")
                else:
                    entries.append(
                        {"path": relative, "size": info.st_size, "sha256": _sha256(Path(child.path))}
                    )
    return sorted(entries, key=lambda entry: entry["path"])


def saved_salt(folder: Path) -> str | None:
    """The output salt that ``datamarket compute result`` saved beside the outputs, if it is there."""
    try:
        salt = json.loads((Path(folder) / RESULT_RECORD).read_text()).get("output_salt")
    except (OSError, ValueError, AttributeError):
        return None
    return salt if isinstance(salt, str) and SALT.fullmatch(salt) else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def receipts_for(events: Iterable[Any], market: str, digest: str) -> list[ev.ComputeReceiptPosted]:
    """The market's receipts whose output hash is ``digest`` (hex, ``0x`` optional), in chain order."""
    wanted = "0x" + digest.lower().removeprefix("0x")
    return [
        e
        for e in events
        if isinstance(e, ev.ComputeReceiptPosted)
        and e.meta.address == market
        and e.output_hash.lower() == wanted
    ]


__all__ = ["SALT", "manifest", "output_hash", "receipts_for"]
