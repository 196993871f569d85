"""Opening a compute job's result: fetch it, decrypt it, check it, install its files.

The result is a tar of the job's ``/out``, encrypted with the stream format under a fresh content
key wrapped to the job's one-time X25519 key (context ``result:<job id>``, bound to the chain, market
and dataset), so only the consumer that started the job opens it. Nothing is trusted on the
provider's word: the archive must hash to the result's ``plaintext_sha256``, hold exactly the files
its manifest lists (each with its size and sha256), and the manifest must hash, with its salt, to the
``output_hash`` that the job's receipt on chain commits to.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from datamarket.atomic_files import write_atomically
from datamarket.crypto import keys, stream
from datamarket.jobs import spec as job_spec
from datamarket.sdk.job_files import ComputeError, JobHandle
from datamarket.sdk.provider_client import ProviderClient
from datamarket.storage.base import ChunkReader, ContentNotFound, ContentStore, StoreUnavailable

_SHA256 = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")
_NAME_BYTES = 255
_PATH_BYTES = 4096


class ResultError(ComputeError, ValueError):
    """A result that does not check out: a bad manifest, an archive that is not what the result
    says (sha256, files, sizes), or a member that is not a plain file under the output folder."""

    code = "invalid_result"


@dataclass(frozen=True)
class _Output:
    path: PurePosixPath
    size: int
    sha256: str


def fetch_result(
    handle: JobHandle,
    store: ContentStore | None,
    out_dir: Path,
    *,
    provider: ProviderClient | None = None,
) -> list[Path]:
    """Fetch, decrypt, check and extract the job's result into ``out_dir``; the files written.

    The ciphertext comes from ``store`` by its CID, or from the provider's archive endpoint when the
    store does not hold it. The archive's plaintext must hash to the result's ``plaintext_sha256``
    and hold exactly the files of ``outputs`` (regular files, relative paths without ``..``), each
    with its size and sha256; nothing lands in ``out_dir`` unless all of it checks out.
    """
    client = provider or handle.provider()
    result = client.compute_result(handle.job_id, handle.token)
    cid, size, plaintext_sha256, plaintext_size, outputs = _parse_result(result)
    content_key = keys.unwrap_key(result["wrapped_key"], handle.x25519(), context=handle.result_context())

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".datamarket-result-") as tmp:
        staging = Path(tmp)
        archive = staging / "result.tar"
        got = _decrypt_archive(handle, client, store, cid, size, content_key, archive, plaintext_sha256)
        if plaintext_size is not None and got != plaintext_size:
            raise ResultError(f"the decrypted result is {got} bytes, the result states {plaintext_size}")
        del content_key
        files = staging / "files"
        files.mkdir()
        _extract(archive, files, outputs)
        written = _install(files, out_dir, outputs)
    # What ties the folder to its receipt on chain (``datamarket audit result FOLDER`` reads it).
    record = {
        "job_id": handle.job_id,
        "output_hash": result.get("output_hash"),
        "output_salt": result["output_salt"],
    }
    write_atomically(out_dir / RESULT_RECORD, json.dumps(record, sort_keys=True).encode())
    return written


#: The file beside a result's outputs that holds its job id, output hash and output salt; it is not
#: one of the outputs (the receipt's hash leaves it out).
RESULT_RECORD = ".datamarket-result.json"


def _parse_result(
    result: Any,
) -> tuple[str | None, int | None, str, int | None, dict[PurePosixPath, _Output]]:
    if not isinstance(result, dict) or not isinstance(result.get("wrapped_key"), dict):
        raise ResultError("the provider's result has no wrapped key")
    cid = result.get("cid")
    if cid is not None and not isinstance(cid, str):
        raise ResultError("the result's cid is not a string")
    size = result.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ResultError("the result's size is not a byte count")
    digest = result.get("plaintext_sha256")
    match = _SHA256.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise ResultError("the result's plaintext_sha256 is not a sha256")
    plain_size = result.get("plaintext_size")
    if plain_size is not None and (isinstance(plain_size, bool) or not isinstance(plain_size, int)):
        raise ResultError("the result's plaintext_size is not a byte count")
    entries = result.get("outputs")
    if not isinstance(entries, list):
        raise ResultError("the result's outputs is not a list")
    outputs: dict[PurePosixPath, _Output] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ResultError("an entry of the result's outputs is not an object")
        path = _safe_path(entry.get("path"))
        n, sha = entry.get("size"), entry.get("sha256")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ResultError(f"output {path} has no valid size")
        if not isinstance(sha, str) or _SHA256.fullmatch(sha) is None:
            raise ResultError(f"output {path} has no valid sha256")
        if path in outputs:
            raise ResultError(f"output {path} is listed twice")
        outputs[path] = _Output(path, n, _SHA256.fullmatch(sha).group(1).lower())
    _check_output_hash(result)
    return cid, size, match.group(1).lower(), plain_size, outputs


def _check_output_hash(result: dict[str, Any]) -> None:
    """The result's ``output_hash`` (what the job's receipt on chain commits to) is the sha256 of
    the canonical JSON of ``{"outputs": <its manifest>, "salt": <its output_salt>}`` (as
    ``datamarket.jobs.spec.output_hash`` makes it for the worker); the salt keeps the public hash from
    confirming guesses about the result."""
    salt = result.get("output_salt")
    if not isinstance(salt, str) or len(salt) != 64 or any(c not in "0123456789abcdef" for c in salt):
        raise ResultError("the result has no output_salt (64 lower-case hex digits)")
    try:
        expected = job_spec.output_hash(result["outputs"], salt)
    except (TypeError, ValueError, UnicodeEncodeError):
        raise ResultError("the result's outputs are not JSON") from None
    given = result.get("output_hash")
    if not isinstance(given, str) or given.lower().removeprefix("0x") != expected:
        raise ResultError("the result's output_hash is not the hash of its outputs")


def _safe_path(name: Any) -> PurePosixPath:
    """A relative path that stays below its root: no absolute path, no ``..``, no empty or ``.``
    component (one leading ``./`` is allowed), no backslash or NUL."""
    if not isinstance(name, str) or not name:
        raise ResultError("an output has no path")
    text = name.removeprefix("./")
    if (
        not text
        or text.startswith("/")
        or "\\" in text
        or "\x00" in text
        or len(text.encode("utf-8", "surrogateescape")) > _PATH_BYTES
    ):
        raise ResultError(f"output path {name!r} is not a safe relative path")
    parts = text.rstrip("/").split("/")
    if any(p in ("", ".", "..") or len(p.encode("utf-8", "surrogateescape")) > _NAME_BYTES for p in parts):
        raise ResultError(f"output path {name!r} is not a safe relative path")
    return PurePosixPath(*parts)


def _decrypt_archive(
    handle: JobHandle,
    client: ProviderClient,
    store: ContentStore | None,
    cid: str | None,
    size: int | None,
    key: bytes,
    archive: Path,
    plaintext_sha256: str,
) -> int:
    sources: list[Callable[[], Iterable[bytes]]] = []
    if store is not None and cid:
        with contextlib.suppress(StoreUnavailable, ValueError):
            if store.has(cid):
                sources.append(lambda: store.cat(cid))
    sources.append(lambda: client.compute_archive(handle.job_id, handle.token))
    for i, source in enumerate(sources):
        last = i == len(sources) - 1
        try:
            chunks = _limited(source(), size)
            reader = io.BufferedReader(ChunkReader(chunks), 1 << 20)
            return stream.decrypt_to_path(reader, archive, key, expected_sha256=plaintext_sha256)
        except stream.PlaintextMismatch:
            raise ResultError(
                "the decrypted result's sha256 differs from the result's plaintext_sha256"
            ) from None
        except (ContentNotFound, StoreUnavailable):
            if last:
                raise
    raise AssertionError("unreachable: the provider's archive is always the last source")


def _limited(chunks: Iterable[bytes], size: int | None) -> Iterator[bytes]:
    """``chunks``, checked to add up to exactly ``size`` bytes when the result states it."""
    count = 0
    for chunk in chunks:
        count += len(chunk)
        if size is not None and count > size:
            raise ResultError(f"the encrypted result is larger than the {size} bytes the result states")
        yield chunk
    if size is not None and count != size:
        raise ResultError(f"the encrypted result is {count} bytes, the result states {size}")


def _extract(archive: Path, root: Path, outputs: dict[PurePosixPath, _Output]) -> None:
    """Extract the regular files of ``archive`` below ``root``, each checked against ``outputs``."""
    seen: set[PurePosixPath] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir() and member.name in (".", "./"):
                    continue
                path = _safe_path(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise ResultError(f"result member {path} is not a regular file")
                expected = outputs.get(path)
                if expected is None:
                    raise ResultError(f"result member {path} is not among the result's outputs")
                if path in seen:
                    raise ResultError(f"result member {path} appears twice")
                seen.add(path)
                if member.size != expected.size:
                    raise ResultError(
                        f"output {path} is {member.size} bytes, the result states {expected.size}"
                    )
                target = root.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:  # pragma: no cover - isreg() members always have a file object
                    raise ResultError(f"result member {path} cannot be read")
                digest = hashlib.sha256()
                with src, open(target, "xb") as dst:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        dst.write(block)
                if digest.hexdigest() != expected.sha256:
                    raise ResultError(f"output {path}'s sha256 differs from the result's")
    except tarfile.TarError as exc:
        raise ResultError(f"the decrypted result is not a tar archive ({exc})") from None
    except OSError as exc:  # a file where another output needs a folder, a full disk
        raise ResultError(f"cannot extract the result: {exc}") from None
    missing = sorted(str(p) for p in outputs.keys() - seen)
    if missing:
        raise ResultError(f"the result archive lacks outputs: {', '.join(missing)}")


def _install(files: Path, out_dir: Path, outputs: dict[PurePosixPath, _Output]) -> list[Path]:
    """Move the checked files from the staging folder into ``out_dir``, never through a link: every
    folder on the way is checked (and made) one component at a time."""
    written = []
    for path in outputs:
        try:
            parent = out_dir
            for part in path.parts[:-1]:
                parent = parent / part
                if parent.is_symlink():
                    raise ResultError(f"output {path} would be written through the link {parent}")
                if not parent.exists():
                    parent.mkdir()
                elif not parent.is_dir():
                    raise ResultError(f"output {path} needs a folder where {parent} is a file")
            target = parent / path.name
            if target.is_dir() and not target.is_symlink():
                raise ResultError(f"output {path} is a folder in {out_dir}")
            os.replace(files.joinpath(*path.parts), target)  # replaces a link itself, never its target
        except OSError as exc:
            raise ResultError(f"cannot write output {path} to {out_dir}: {exc}") from None
        written.append(target)
    return written


__all__ = ["RESULT_RECORD", "ResultError", "fetch_result"]
