"""What the provider asks of a job under sample and aggregate, and refuses of any other job."""

from __future__ import annotations

import pytest

from provider.errors import Unprocessable
from provider.jobs import check_aggregate

TRUSTED = "ab" * 32
COMPUTE = {"trusted_algorithms": [TRUSTED], "allow_any_algorithm": True, "privacy": {}}
SPEC = {"format": "json", "shape": [2], "lower": 0, "upper": 1}


def job(algorithm, output=None, environment="cpu") -> dict:
    spec = {"algorithm": algorithm, "params": {}, "epsilon": 1.0, "environment": environment}
    return spec if output is None else {**spec, "output": output}


UNTRUSTED = {"bundle": "bafy", "sha256": "cd" * 32}


def test_an_untrusted_bundle_with_spec_and_epsilon_passes() -> None:
    check_aggregate(job(UNTRUSTED, SPEC), COMPUTE, 1.0)


@pytest.mark.parametrize(
    ("spec", "epsilon", "code"),
    [
        (job(UNTRUSTED), 1.0, "output_spec_required"),
        (job(UNTRUSTED, SPEC), 0, "epsilon_required"),
        (job(UNTRUSTED, SPEC, environment="gpu"), 1.0, "environment_unavailable"),
        (job({"bundle": "bafy", "sha256": TRUSTED}, SPEC), 1.0, "output_spec_unexpected"),
        (job("train_tabular", SPEC), 1.0, "output_spec_unexpected"),
    ],
)
def test_refusals_name_what_is_wrong(spec: dict, epsilon: float, code: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        check_aggregate(spec, COMPUTE, epsilon)
    assert caught.value.code == code


def test_trusted_bundles_and_builtins_without_spec_pass() -> None:
    check_aggregate(job({"bundle": "bafy", "sha256": TRUSTED}), COMPUTE, 0)
    check_aggregate(job("train_tabular"), COMPUTE, 0)
