"""A compute job's spec, its canonical JSON and its hash: what the consumer signs (the
``ComputeRequest``'s ``jobHash``), the provider checks and stores, and the worker runs.

Canonical JSON is RFC 8785 (:mod:`datamarket.canonical`). ``jobHash`` is ``0x`` + the sha256 of the
job's canonical JSON; the job is parsed strictly by :func:`parse_job_spec` (docs/compute.md,
docs/protocol.md).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from datamarket.auth import ComputeRequest, InvalidRequest
from datamarket.canonical import canonical_json, parse_json
from datamarket.output_spec import parse_output_spec
from datamarket.storage.base import InvalidCID
from datamarket.storage.cid import CID

MAX_PARAMS_BYTES = 16 * 1024
MAX_PARAMS_DEPTH = 32
ENVIRONMENTS = ("cpu", "gpu")
ALGORITHM_NAME = re.compile(r"[a-z0-9_]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_CID_CHARS = 128


def job_hash(job: dict[str, Any]) -> str:
    """``0x`` + the sha256 (hex) of the job's canonical JSON: the request's ``jobHash``."""
    return "0x" + hashlib.sha256(canonical_json(job, field="job")).hexdigest()


def output_hash(outputs: Sequence[Mapping[str, Any]], salt: str) -> str:
    """What a job's receipt commits to: the sha256 (hex, no ``0x``) of the canonical JSON of
    ``{"outputs": <manifest>, "salt": <output salt>}``, the manifest listing each released file's
    ``path``, ``size`` and ``sha256``. The worker computes it when it releases a result, the consumer
    when it checks one, the auditor when it traces a result to its receipt. Without the salt (32
    random bytes, hex, given only to the buyer) anyone could test a guess about a small result (a
    non-DP job's exact metrics) against the public hash."""
    manifest = {"outputs": list(outputs), "salt": salt}
    return hashlib.sha256(canonical_json(manifest, field="manifest")).hexdigest()


def verify_job_hash(req: ComputeRequest, job: dict[str, Any]) -> None:
    """InvalidRequest (field ``jobHash``) unless ``req`` names exactly this job."""
    if job_hash(job) != req.job_hash:
        raise InvalidRequest(
            "the request's jobHash is not the sha256 of the job", details={"field": "jobHash"}
        )


def parse_job_spec(data: Any) -> dict[str, Any]:
    """The job object of ``POST /compute``, checked strictly, returned as an equal new dict (same
    values, same types, so its :func:`job_hash` is the one the consumer signed)::

        {"algorithm": "<built-in name>" | {"bundle": "<CID>", "sha256": "<64 hex>"},
         "params": {...}, "epsilon": <number >= 0> | null, "environment": "cpu" | "gpu",
         "output": <datamarket.output_spec> | null}

    Every field but ``output`` is required; InvalidRequest names the offending one in
    ``details["field"]`` (InvalidOutputSpec for a malformed ``output``). ``output`` is kept only where
    it was sent, so a job without it hashes as before it existed.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("job is not a JSON object", details={"field": "job"})
    fields = {"algorithm", "params", "epsilon", "environment"}
    known = fields | {"output"}
    for problem, names in (("unknown", sorted(set(data) - known)), ("missing", sorted(fields - set(data)))):
        if names:
            raise InvalidRequest(
                f"{problem} field(s) in job: {', '.join(map(str, names))}",
                details={"field": f"job.{names[0]}", "fields": names},
            )
    parsed = {
        "algorithm": _parse_algorithm(data["algorithm"]),
        "params": _parse_params(data["params"]),
        "epsilon": _parse_epsilon(data["epsilon"]),
        "environment": _parse_environment(data["environment"]),
    }
    if "output" in data:
        parsed["output"] = None if data["output"] is None else parse_output_spec(data["output"])
    return parsed


def _parse_algorithm(value: Any) -> str | dict[str, str]:
    if isinstance(value, str):
        if ALGORITHM_NAME.fullmatch(value) is None:
            raise InvalidRequest(
                "job.algorithm is not a built-in name ([a-z0-9_], 1 to 64 characters)",
                details={"field": "job.algorithm"},
            )
        return value
    if not isinstance(value, dict):
        raise InvalidRequest(
            'job.algorithm is neither a name nor {"bundle", "sha256"}', details={"field": "job.algorithm"}
        )
    if set(value) != {"bundle", "sha256"}:
        raise InvalidRequest(
            "job.algorithm has exactly the fields bundle and sha256", details={"field": "job.algorithm"}
        )
    cid, digest = value["bundle"], value["sha256"]
    if (
        not isinstance(cid, str)
        or not 0 < len(cid) <= _MAX_CID_CHARS
        or not cid.isascii()
        or not cid.isalnum()
    ):
        raise InvalidRequest("job.algorithm.bundle is not a CID", details={"field": "job.algorithm.bundle"})
    try:
        CID.parse(cid)
    except (InvalidCID, ValueError):
        raise InvalidRequest(
            "job.algorithm.bundle is not a CID", details={"field": "job.algorithm.bundle"}
        ) from None
    if not isinstance(digest, str) or _SHA256_HEX.fullmatch(digest) is None:
        raise InvalidRequest(
            "job.algorithm.sha256 is not 64 lower-case hex digits", details={"field": "job.algorithm.sha256"}
        )
    return {"bundle": cid, "sha256": digest}


def _parse_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest("job.params is not a JSON object", details={"field": "job.params"})
    _check_json(value, "job.params", 0)
    raw = canonical_json(value, field="job.params")  # refuses integers beyond 2^53 - 1, by path
    if len(raw) > MAX_PARAMS_BYTES:
        raise InvalidRequest(
            f"job.params is larger than {MAX_PARAMS_BYTES} bytes as canonical JSON",
            details={"field": "job.params"},
        )
    return parse_json(raw)


def _check_json(value: Any, where: str, depth: int) -> None:
    """A JSON value: objects with string keys, lists, strings, finite numbers, booleans, null."""
    if depth > MAX_PARAMS_DEPTH:
        raise InvalidRequest(f"{where} is nested too deeply", details={"field": "job.params"})
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"{where} is not a finite number", details={"field": "job.params"})
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(
                    f"{where} has a key that is not a string", details={"field": "job.params"}
                )
            _check_text(key, where)
            _check_json(item, f"{where}.{key}", depth + 1)
        return
    raise InvalidRequest(f"{where} is not a JSON value", details={"field": "job.params"})


def _check_text(value: str, where: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{where} holds a string that is not UTF-8", details={"field": "job.params"}
        ) from None


def _parse_epsilon(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest("job.epsilon is not a number or null", details={"field": "job.epsilon"})
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidRequest("job.epsilon is not a finite number >= 0", details={"field": "job.epsilon"})
    return value


def _parse_environment(value: Any) -> str:
    if value not in ENVIRONMENTS:
        raise InvalidRequest(
            'job.environment is neither "cpu" nor "gpu"', details={"field": "job.environment"}
        )
    return value


__all__ = [
    "ALGORITHM_NAME",
    "ENVIRONMENTS",
    "MAX_PARAMS_BYTES",
    "canonical_json",
    "job_hash",
    "parse_job_spec",
    "verify_job_hash",
]
