"""What the job store keeps of a job: its hashed parts (params) as RFC 8785 canonical JSON, read back
to values that hash the same; what it records about the job (an error's details) as plain JSON, which
may hold integers no canonical JSON can."""

from __future__ import annotations

from dataclasses import replace

from datamarket.jobs import store as J
from datamarket.jobs.spec import job_hash
from datamarket.jobs.store import JobStore
from tests.unit.jobs.conftest import address, new_job


def test_params_are_kept_canonical_and_hash_the_same_read_back(store) -> None:
    s, _ = store
    params = {"delta": 1e-7, "lr": 1.0, "scale": 5.8e16, "z": "é"}
    job, _ = s.create(
        replace(new_job(datatoken=address()), params=params),
        budget_units=0,
        chain_spent_units=0,
        chain_block=1,
    )
    back = s.get(job.id).params
    assert back == params
    spec = {"algorithm": "dp_stats", "params": params, "epsilon": None, "environment": "cpu"}
    assert job_hash({**spec, "params": back}) == job_hash(spec)


def test_an_error_with_a_uint256_in_its_details_is_recorded(store) -> None:
    s: JobStore
    s, _ = store
    job, _ = s.create(new_job(datatoken=address()), budget_units=0, chain_spent_units=0, chain_block=1)
    error = {"code": "receipt_refused", "message": "refused", "details": {"spent": 2**200}}
    assert s.finish(job.id, J.FAILED, error=error) is True
    assert s.get(job.id).error == error
