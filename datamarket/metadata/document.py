"""The ``datamarket/dataset@1`` metadata document: build, serialize, hash, validate, load.

A document is a plain JSON-ready ``dict``. It is pinned as :func:`canonical_bytes` (RFC 8785 canonical
JSON, :mod:`datamarket.canonical`) and the chain stores the sha256 of exactly those bytes. Readers
verify the sha256 of the bytes they fetched, not of a re-serialization, so :func:`load` hashes ``raw``
as given.

Validation is the JSON Schema in ``schemas/dataset-1.json`` plus the checks a schema cannot express:
EIP-55 checksums, a real calendar date in ``created``, each file's ciphertext size agreeing with its
plaintext size and chunk size, unique service ids, ``max_epsilon_per_job <= epsilon_budget``, and the
compute declarations' own rules (:func:`datamarket.metadata.declarations.problems`).

Errors::

    MetadataError
    ├── InvalidMetadata (ValueError): not a valid document; ``details["errors"]`` lists path + reason
    └── MetadataHashMismatch (ValueError): valid or not, these are not the bytes the chain committed to
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from itertools import islice
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from datamarket.canonical import NotCanonicalJSON, canonical_json
from datamarket.crypto.stream import ALGORITHM, ciphertext_size
from datamarket.errors import DatamarketError
from datamarket.metadata import declarations

SCHEMA_ID = "datamarket/dataset@1"
MAX_DOCUMENT_BYTES = 1024 * 1024
#: How many validation errors an :class:`InvalidMetadata` reports.
MAX_REPORTED_ERRORS = 5
_MAX_REASON = 200
_MAX_COLLECTED_ERRORS = 100
#: Deepest nesting accepted when loading; a valid document nests 7 levels.
MAX_DEPTH = 32
_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class MetadataError(DatamarketError):
    code = "metadata_error"


class InvalidMetadata(MetadataError, ValueError):
    """The document is not valid JSON, too large, or breaks the schema. The message names the JSON
    path and reason of the first errors; ``details["errors"]`` holds them as ``{"path", "reason"}``."""

    code = "invalid_metadata"


class MetadataHashMismatch(MetadataError, ValueError):
    code = "metadata_hash_mismatch"


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``datamarket/dataset@1``."""
    text = resources.files("datamarket.metadata").joinpath("schemas/dataset-1.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    # No format assertions: jsonschema checks "date-time" and "uri" only when optional packages are
    # installed, and a document must be valid or invalid the same way on every machine. The schema's
    # patterns and ``_semantic_problems`` check those fields instead.
    return Draft202012Validator(schema(), format_checker=FormatChecker(formats=()))


def build_document(
    *,
    name: str,
    description: str,
    tags: Iterable[str],
    license: str,
    publisher: str,
    files: Sequence[Mapping[str, Any]],
    profile: Mapping[str, Any] | None,
    services: Sequence[Mapping[str, Any]],
    created: datetime | str | None = None,
) -> dict[str, Any]:
    """A validated document. Addresses are normalized to EIP-55 checksums; ``created`` defaults to
    now (UTC, whole seconds); ``profile`` may be None for data that cannot be profiled."""
    document: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "name": name,
        "description": description,
        "tags": list(tags),
        "license": license,
        "publisher": _checksum(publisher, "$.publisher"),
        "created": _timestamp(created),
        "files": [dict(f) for f in files],
        "services": [_normalized_service(s, i) for i, s in enumerate(services)],
    }
    if profile is not None:
        document["profile"] = dict(profile)
    validate(document)
    return document


def file_entry(
    *,
    cid: str,
    plaintext_size: int,
    plaintext_sha256: str,
    content_type: str,
    wrapped_key: Mapping[str, str],
    chunk_size: int,
) -> dict[str, Any]:
    """One ``files[]`` entry for content encrypted with :mod:`datamarket.crypto.stream`."""
    return {
        "cid": cid,
        "size": ciphertext_size(plaintext_size, chunk_size),
        "plaintext_size": plaintext_size,
        "content_type": content_type,
        "plaintext_sha256": plaintext_sha256.lower(),
        "encryption": {"algorithm": ALGORITHM, "chunk_size": chunk_size, "wrapped_key": dict(wrapped_key)},
    }


def download_service(*, id: int, provider_url: str, provider_address: str, timeout: int) -> dict[str, Any]:
    return {
        "id": id,
        "type": "download",
        "provider_url": provider_url,
        "provider_address": _checksum(provider_address, "$.provider_address"),
        "timeout": timeout,
    }


def compute_service(
    *,
    id: int,
    provider_url: str,
    provider_address: str,
    timeout: int,
    epsilon_budget: float,
    delta: float,
    max_epsilon_per_job: float,
    trusted_algorithms: Iterable[str] = (),
    allow_any_algorithm: bool = False,
    require_dp: bool = False,
    declared: Mapping[str, Any] | None = None,
    aggregate_blocks: int | None = None,
) -> dict[str, Any]:
    """A compute service; ``declared`` (:func:`datamarket.metadata.declarations.declare`) adds the
    publisher's declarations for the built-in algorithms, ``aggregate_blocks`` the k of sample and
    aggregate (docs/privacy.md)."""
    service = {
        "id": id,
        "type": "compute",
        "provider_url": provider_url,
        "provider_address": _checksum(provider_address, "$.provider_address"),
        "timeout": timeout,
        "compute": {
            "trusted_algorithms": [h.lower() for h in trusted_algorithms],
            "allow_any_algorithm": allow_any_algorithm,
            "require_dp": require_dp,
            "privacy": {
                "epsilon_budget": epsilon_budget,
                "delta": delta,
                "max_epsilon_per_job": max_epsilon_per_job,
            },
        },
    }
    for key in declarations.DECLARATION_KEYS:
        if declared and key in declared:
            service["compute"][key] = declared[key]
    if aggregate_blocks is not None:
        service["compute"]["aggregate"] = {"blocks": aggregate_blocks}
    return service


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The document's RFC 8785 canonical JSON (:mod:`datamarket.canonical`), the bytes that are pinned
    and hashed; a value JCS cannot write exactly (NaN, an infinity, an integer beyond 2^53 - 1) is refused
    with InvalidMetadata naming where it is."""
    try:
        return canonical_json(document)
    except NotCanonicalJSON as exc:
        raise _invalid(
            [(exc.details["field"], f"not serializable as canonical JSON: {exc.details['reason']}")]
        ) from None


def document_sha256(document: Mapping[str, Any]) -> str:
    """Lowercase hex sha256 of the canonical bytes (no ``0x``)."""
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def validate(document: Any) -> None:
    """Raise :class:`InvalidMetadata` unless ``document`` is a valid ``datamarket/dataset@1``."""
    errors = islice(_validator().iter_errors(document), _MAX_COLLECTED_ERRORS)
    problems = [(_json_path(e.absolute_path), _reason(e)) for e in errors]
    if not problems:
        problems = list(_semantic_problems(document))
    if problems:
        problems.sort(key=lambda p: p[0])
        raise _invalid(problems)
    size = len(canonical_bytes(document))
    if size > MAX_DOCUMENT_BYTES:
        raise _invalid([("$", f"{size} bytes serialized, more than the {MAX_DOCUMENT_BYTES} allowed")])


def load(raw: bytes, *, expected_sha256: str | None) -> dict[str, Any]:
    """Parse and check a fetched document: size, sha256 against ``expected_sha256`` (hex, ``0x``
    optional; None skips the check), JSON, schema."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _invalid([("$", f"document is {len(raw)} bytes, more than the {MAX_DOCUMENT_BYTES} allowed")])
    if expected_sha256 is not None:
        expected = expected_sha256.lower().removeprefix("0x")
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected:
            raise MetadataHashMismatch(
                f"metadata sha256 is {actual}, the chain has {expected}",
                details={"expected": expected, "actual": actual},
            )
    document = _parse_json(raw)
    validate(document)
    return document


def _parse_json(raw: bytes) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Parsers disagree on which of two equal keys wins, so a document with both means two things.
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
            raise ValueError(f"duplicate key {duplicate!r}")
        return result

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = raw.decode("utf-8")
        _check_depth(text)
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _invalid([("$", f"not a JSON document: {reason}")]) from None


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` before parsing: the C parser recurses per level
    and, under a raised recursion limit, deep input can overflow the C stack instead of raising."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    in_string = False
    for token in _TOKENS.findall(text):  # one pass: escapes are consumed whole, so quotes toggle strings
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) == 2:
            continue
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def _semantic_problems(document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for path, address in [("$.publisher", document["publisher"])] + [
        (f"$.services[{i}].provider_address", s["provider_address"])
        for i, s in enumerate(document["services"])
    ]:
        if not is_checksum_address(address):
            yield path, f"{address!r} is not an EIP-55 checksum address"
    try:
        datetime.strptime(document["created"][:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        yield "$.created", f"{document['created']!r} is not a real date and time"
    for i, f in enumerate(document["files"]):
        chunk_size = f["encryption"]["chunk_size"]
        expected = ciphertext_size(f["plaintext_size"], chunk_size)
        if f["size"] != expected:
            yield (
                f"$.files[{i}].size",
                f"{f['size']} does not match plaintext_size {f['plaintext_size']} encrypted in "
                f"{chunk_size}-byte chunks ({expected})",
            )
    seen: set[int] = set()
    for i, service in enumerate(document["services"]):
        if service["id"] in seen:
            yield f"$.services[{i}].id", f"service id {service['id']} is used twice"
        seen.add(service["id"])
        privacy = service.get("compute", {}).get("privacy")
        if privacy:
            per_job, budget = privacy["max_epsilon_per_job"], privacy["epsilon_budget"]
            if per_job > budget:
                path = f"$.services[{i}].compute.privacy.max_epsilon_per_job"
                yield path, f"{per_job} is more than the epsilon budget {budget}"
        if "compute" in service:
            yield from declarations.problems(service["compute"], f"$.services[{i}].compute")


def _invalid(problems: list[tuple[str, str]]) -> InvalidMetadata:
    shown = [(path, _shorten(reason)) for path, reason in problems[:MAX_REPORTED_ERRORS]]
    more = len(problems) - len(shown)
    message = "; ".join(f"{path}: {reason}" for path, reason in shown)
    if more:
        message += f" (and {more} more)"
    return InvalidMetadata(
        f"invalid metadata: {message}",
        details={"errors": [{"path": p, "reason": r} for p, r in shown], "count": len(problems)},
    )


def _reason(error: ValidationError) -> str:
    # jsonschema words a forbidden property as "<the whole object> should not be valid under ..."
    if error.validator == "not" and isinstance(error.validator_value, dict):
        forbidden = error.validator_value.get("required")
        if forbidden and set(error.validator_value) == {"required"}:
            return f"{', '.join(map(repr, forbidden))} is not allowed here"
    return error.message


def _json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _shorten(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."


def _checksum(address: str, path: str) -> str:
    try:
        return to_checksum_address(address)
    except (TypeError, ValueError):
        raise _invalid([(path, f"{address!r} is not an address")]) from None


def _normalized_service(service: Mapping[str, Any], index: int) -> dict[str, Any]:
    normalized = dict(service)
    if "provider_address" in normalized:
        path = f"$.services[{index}].provider_address"
        normalized["provider_address"] = _checksum(normalized["provider_address"], path)
    return normalized


def _timestamp(created: datetime | str | None) -> str:
    if isinstance(created, str):
        return created
    moment = created or datetime.now(UTC).replace(microsecond=0)
    if moment.tzinfo is None:
        raise _invalid([("$.created", "a datetime without a time zone is ambiguous")])
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
