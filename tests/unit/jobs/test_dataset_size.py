"""The provider's default dataset cap is what the workers' default index memory takes, so that a job
the provider accepts is not refused at staging by a worker left at its defaults."""

from __future__ import annotations

from dataclasses import fields

from compute_to_data.policy.index_process import IndexLimits
from compute_to_data.settings import WorkerSettings
from datamarket.jobs.dataset_size import DEFAULT_MAX_DATASET_BYTES, MIB, max_dataset_bytes
from provider.settings import ProviderSettings


def default(cls: type, name: str) -> int:
    return next(f.default for f in fields(cls) if f.name == name)


def test_the_defaults_agree() -> None:
    worker_memory_mb = default(WorkerSettings, "raw_index_memory_mb")
    assert IndexLimits().memory_bytes == worker_memory_mb * MIB
    assert default(ProviderSettings, "max_dataset_bytes") == max_dataset_bytes(worker_memory_mb)
    assert DEFAULT_MAX_DATASET_BYTES == 64 * MIB


def test_the_cap_grows_with_the_index_memory() -> None:
    assert max_dataset_bytes(8192) == 2 * max_dataset_bytes(4096) > max_dataset_bytes(512) > 0
