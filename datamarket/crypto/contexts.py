"""The contexts every key wrap is bound to: the one place that names them.

A wrap opens only under the context it was made for (``keys.unwrap_key``), so the context is what
ties a wrapped key to its one use. Each names everything a copied wrap could be moved across:

- ``content:<offer>:eip155:<chainId>:<market>:<datatoken>``: the publisher's wrap of a dataset's
  content key to its provider. The datatoken is the dataset itself (its address is known before
  publishing, see ``DataMarket.predictDatatoken``), so a wrap copied into another dataset's metadata
  does not open, whoever publishes, owns or updates that dataset; nor on another chain or market.
  The offer is what the publisher offered when wrapping: ``download`` (the key may be released to
  buyers, and compute jobs may open it too) or ``compute`` (compute only: the provider's key release
  never opens it, only the worker does). Whoever may later change the metadata document (owner,
  metadata updater) cannot change a compute-only wrap into one that the key release opens.
- ``result:eip155:<chainId>:<market>:<datatoken>:<job id>``: the worker's wrap of a job's result key
  to the consumer's one-time key: bound to the job and the dataset it ran on.
- ``access:eip155:<chainId>/<datatoken>:<order tx>``: the provider's re-wrap of a content key to a
  consumer, bound to the order that paid for it.

Addresses are written checksummed, whatever case the caller passes, so both ends agree.
"""

from __future__ import annotations

import re

from eth_utils import to_checksum_address

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def _chain(chain_id: int) -> int:
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise ValueError(f"chain id must be a positive integer, got {chain_id!r}")
    return chain_id


#: The publisher offered the download service: the key may be released to buyers (and staged for jobs).
DOWNLOAD = "download"
#: Compute only: the key is opened by the compute worker alone, never released.
COMPUTE = "compute"
#: The offers a compute worker may open, in the order it tries them (no document tells which).
COMPUTE_OFFERS = (COMPUTE, DOWNLOAD)


def _dataset(chain_id: int, market: str, datatoken: str) -> str:
    return f"eip155:{_chain(chain_id)}:{to_checksum_address(market)}:{to_checksum_address(datatoken)}"


def content_offer(download: bool) -> str:
    """The offer a publisher wraps under: :data:`DOWNLOAD` if it publishes the download service,
    else :data:`COMPUTE`."""
    return DOWNLOAD if download else COMPUTE


def content_context(chain_id: int, market: str, datatoken: str, *, offer: str) -> str:
    """The context of a dataset's content-key wrap:
    ``content:<offer>:eip155:<chainId>:<market>:<datatoken>``, offer :data:`DOWNLOAD` or :data:`COMPUTE`."""
    if offer not in (DOWNLOAD, COMPUTE):
        raise ValueError(f"offer must be {DOWNLOAD!r} or {COMPUTE!r}, got {offer!r}")
    return f"content:{offer}:{_dataset(chain_id, market, datatoken)}"


def result_context(chain_id: int, market: str, datatoken: str, job_id: str) -> str:
    """The context of a job's result-key wrap:
    ``result:eip155:<chainId>:<market>:<datatoken>:<job id>`` (job id: 32 lowercase hex)."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError("job id must be 32 lowercase hex characters")
    return f"result:{_dataset(chain_id, market, datatoken)}:{job_id}"


def access_context(chain_id: int, datatoken: str, order_tx: str) -> str:
    """The context of a content key re-wrapped to a consumer:
    ``access:eip155:<chainId>/<datatoken>:<order tx>``."""
    if not isinstance(order_tx, str) or not _TX_HASH.fullmatch(order_tx):
        raise ValueError("order tx must be a 0x-prefixed 32-byte hex hash")
    return f"access:eip155:{_chain(chain_id)}/{to_checksum_address(datatoken)}:{order_tx}"


__all__ = [
    "COMPUTE",
    "COMPUTE_OFFERS",
    "DOWNLOAD",
    "access_context",
    "content_context",
    "content_offer",
    "result_context",
]
