"""How large a dataset a provider takes for compute, and why (docs/compute.md, "Dataset size").

Before a job's algorithm runs, the worker builds the output policy's raw-row index of the dataset in
a child process whose address space is capped (the worker's ``raw_index_memory_mb``). Building it
takes memory in proportion to the dataset's tokens: up to about :data:`INDEX_BYTES_PER_DATASET_BYTE`
bytes per byte of dataset for the shapes measured (``scripts/bench/raw_index.py``; short rows of
short cells are the worst). So a provider takes datasets of at most the index cap over that ratio:
the provider refuses a larger declared size when a job is submitted (422 ``dataset_too_large``), and
the worker refuses it again at staging, where it also stops reading the content at the declared size
(a document may declare less than its content holds).
"""

from __future__ import annotations

MIB = 1024 * 1024
#: The worker's default cap on the index builder's address space (MiB).
RAW_INDEX_MEMORY_MB = 4096
#: Address space the index builder may need per byte of dataset.
INDEX_BYTES_PER_DATASET_BYTE = 64


def max_dataset_bytes(index_memory_mb: int) -> int:
    """The largest dataset (its declared ciphertext size) an index cap of ``index_memory_mb`` takes."""
    return index_memory_mb * MIB // INDEX_BYTES_PER_DATASET_BYTE


#: 64 MiB.
DEFAULT_MAX_DATASET_BYTES = max_dataset_bytes(RAW_INDEX_MEMORY_MB)


__all__ = [
    "DEFAULT_MAX_DATASET_BYTES",
    "INDEX_BYTES_PER_DATASET_BYTE",
    "RAW_INDEX_MEMORY_MB",
    "max_dataset_bytes",
]
