"""A compute job's spec and hash: strict parsing, canonical JSON, the hash the ComputeRequest signs."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamarket.auth import (
    ComputeRequest,
    InvalidRequest,
)
from datamarket.jobs.spec import MAX_PARAMS_BYTES, job_hash, parse_job_spec, verify_job_hash
from tests.fakes import compute_request_json as sample
from tests.fakes import job_spec as job

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BUNDLE_CID = "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe"


def test_job_hash_is_sha256_of_canonical_json() -> None:
    spec = job(params={"b": 1, "a": "é"})
    canonical = '{"algorithm":"train_tabular","environment":"cpu","epsilon":1,"params":{"a":"é","b":1}}'
    assert job_hash(spec) == "0x" + hashlib.sha256(canonical.encode()).hexdigest()
    reordered = dict(reversed(list(spec.items())))
    assert job_hash(reordered) == job_hash(spec)


@pytest.mark.parametrize(
    ("delta", "written"), [(1e-5, "0.00001"), (1e-7, "1e-7"), (1e-6, "0.000001"), (2.5e-10, "2.5e-10")]
)
def test_job_hash_writes_numbers_as_javascript_does(delta: float, written: str) -> None:
    # The bytes a browser computes: canonicalize(job), the same as JSON.stringify for these numbers.
    spec = job(algorithm="dp_stats", epsilon=0.5, params={"delta": delta, "columns": ["age"]})
    expected = (
        '{"algorithm":"dp_stats","environment":"cpu","epsilon":0.5,'
        f'"params":{{"columns":["age"],"delta":{written}}}}}'
    ).encode()
    assert job_hash(spec) == "0x" + hashlib.sha256(expected).hexdigest()
    assert job_hash(parse_job_spec(json.loads(expected))) == job_hash(spec)


def test_a_job_json_cannot_hash_exactly_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_job_spec(job(params={"seed": 2**53}))
    assert caught.value.details["field"] == "job.params.seed"
    assert "2^53" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        job_hash(job(epsilon=float("nan")))
    assert caught.value.details["field"] == "job.epsilon"


def test_a_tampered_job_does_not_match_its_hash() -> None:
    req = ComputeRequest.from_json(sample())
    verify_job_hash(req, job())
    for tampered in (job(epsilon=2.0), job(params={}), job(environment="gpu"), job(algorithm="dp_stats")):
        with pytest.raises(InvalidRequest) as caught:
            verify_job_hash(req, tampered)
        assert caught.value.details["field"] == "jobHash"


def test_the_parsed_job_hashes_as_the_sent_one() -> None:
    spec = job(algorithm={"bundle": BUNDLE_CID, "sha256": "ab" * 32}, epsilon=None)
    received = json.loads(json.dumps(spec))  # as the provider reads the body
    parsed = parse_job_spec(received)
    assert parsed == spec
    assert job_hash(parsed) == job_hash(spec)
    assert parse_job_spec(job(epsilon=0))["epsilon"] == 0


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ([], "job"),
        ({k: v for k, v in job().items() if k != "params"}, "job.params"),
        (job(extra=1), "job.extra"),
        (job(algorithm="Train"), "job.algorithm"),
        (job(algorithm="x" * 65), "job.algorithm"),
        (job(algorithm=""), "job.algorithm"),
        (job(algorithm="../x"), "job.algorithm"),
        (job(algorithm=7), "job.algorithm"),
        (job(algorithm={"bundle": BUNDLE_CID}), "job.algorithm"),
        (job(algorithm={"bundle": BUNDLE_CID, "sha256": "ab" * 32, "x": 1}), "job.algorithm"),
        (job(algorithm={"bundle": "not a cid", "sha256": "ab" * 32}), "job.algorithm.bundle"),
        (job(algorithm={"bundle": "b" + "a" * 200, "sha256": "ab" * 32}), "job.algorithm.bundle"),
        (job(algorithm={"bundle": "bafyzzzz", "sha256": "ab" * 32}), "job.algorithm.bundle"),
        (job(algorithm={"bundle": BUNDLE_CID, "sha256": "AB" * 32}), "job.algorithm.sha256"),
        (job(algorithm={"bundle": BUNDLE_CID, "sha256": "ab" * 31}), "job.algorithm.sha256"),
        (job(params=[]), "job.params"),
        (job(params={"x": float("nan")}), "job.params"),
        (job(params={"x": [1, float("inf")]}), "job.params"),
        (job(params={"x": {1, 2}}), "job.params"),
        (job(params={"x": "\ud800"}), "job.params"),
        (job(params={"x": "a" * MAX_PARAMS_BYTES}), "job.params"),
        (
            job(params={"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
            "job.params",
        ),
        (job(epsilon=-0.1), "job.epsilon"),
        (job(epsilon=float("inf")), "job.epsilon"),
        (job(epsilon=float("nan")), "job.epsilon"),
        (job(epsilon="1"), "job.epsilon"),
        (job(epsilon=True), "job.epsilon"),
        (job(environment="tpu"), "job.environment"),
        (job(environment=None), "job.environment"),
    ],
)
def test_bad_job_fields_are_named(spec, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_job_spec(spec)
    assert caught.value.details["field"] == field


def test_params_up_to_the_cap_are_accepted() -> None:
    overhead = len('{"x":""}')
    parse_job_spec(job(params={"x": "a" * (MAX_PARAMS_BYTES - overhead)}))
    with pytest.raises(InvalidRequest):
        parse_job_spec(job(params={"x": "a" * (MAX_PARAMS_BYTES - overhead + 1)}))


@settings(max_examples=50, deadline=None)
@given(
    params=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(-(2**53 - 1), 2**53 - 1)  # beyond: refused, see below
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=4,
    )
)
def test_any_json_params_round_trip_with_the_same_hash(params: dict) -> None:
    spec = job(params=params)
    received = json.loads(json.dumps(spec))
    assert job_hash(parse_job_spec(received)) == job_hash(spec)
