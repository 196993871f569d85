"""The worker's settings: what the provider's workers share with it, plus their own.

The shared part (chain, market, the provider's key, key store, content store, job database, broker)
is :class:`datamarket.node_settings.NodeSettings`: ``DATAMARKET_PROVIDER_*`` variables and the top level
of the provider's TOML file. The worker's own settings below are ``DATAMARKET_WORKER_<NAME>`` variables
and keys of the file's ``[worker]`` table; the environment wins. Top-level keys the worker does not
know are the provider's: the provider checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from datamarket.config import integer, number, path, positive_up_to, setting, within
from datamarket.errors import ConfigError
from datamarket.jobs.dataset_size import RAW_INDEX_MEMORY_MB
from datamarket.node_settings import KEY_INPUTS, NodeSettings

WORKER_TABLE = "worker"


@dataclass(frozen=True, kw_only=True, repr=False)
class WorkerSettings(NodeSettings):
    ENV_PREFIX: ClassVar[str] = "DATAMARKET_WORKER_"

    #: Where jobs are staged (each job in its own 0700 directory, data and outputs on tmpfs);
    #: default ``<data_dir>/jobs``.
    jobs_dir: Path | None = setting(None, parse=path)
    job_wall_time_s: int = setting(3600, parse=integer, check=within(1, 7 * 86400 + 1))
    #: Sample and aggregate: each block's fixed time slot (seconds); the running phase of such a job
    #: always lasts k slots, however long the blocks take (docs/privacy.md).
    job_aggregate_slot_s: int = setting(60, parse=integer, check=within(1, 86400 + 1))
    job_memory_mb: int = setting(8192, parse=integer, check=within(64, 4 * 1024 * 1024))
    job_output_mb: int = setting(256, parse=integer, check=within(1, 1024 * 1024))
    job_processes: int = setting(128, parse=integer, check=within(8, 100_000))
    job_max_attempts: int = setting(2, parse=integer, check=within(1, 101))
    #: Receipts wait this long (seconds) for others to share their transaction.
    receipt_batch_delay_s: float = setting(2.0, parse=number, check=positive_up_to(3600))
    #: The child process that builds a job's raw-row index (the output policy's) before the run: its
    #: address space (MiB) and CPU seconds. Datasets of up to 1/64 of the memory are staged
    #: (``datamarket.jobs.dataset_size``); raise the provider's ``max_dataset_bytes`` with it.
    raw_index_memory_mb: int = setting(RAW_INDEX_MEMORY_MB, parse=integer, check=within(512, 1024 * 1024 + 1))
    raw_index_time_s: int = setting(300, parse=integer, check=within(1, 86400 + 1))
    #: An empty cgroup v2 folder delegated to the worker, where its own cgroup holds processes (a
    #: container's, a service's); default: ``datamarket/`` under the worker's own cgroup.
    sandbox_cgroup: Path | None = setting(None, parse=path)

    def complete(self) -> None:
        super().complete()
        if self.jobs_dir is None:
            self._set("jobs_dir", self.data_dir / "jobs")

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> dict[str, Any]:
        values = super().from_toml(data)
        own = values.pop(WORKER_TABLE, {})
        if not isinstance(own, dict):
            raise ConfigError(f"[{WORKER_TABLE}]: must be a table")
        shared = {k: v for k, v in values.items() if k in cls.own_fields(NodeSettings)}
        shared.update({k: v for k, v in values.items() if k in KEY_INPUTS})
        return {**shared, **own}


__all__ = ["WorkerSettings"]
