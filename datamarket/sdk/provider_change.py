"""Moving a dataset to another provider: the publisher's half of the two-step change.

1. The publisher names the new provider on chain (``proposeProvider``); nothing changes for buyers
   until the new provider accepts (``acceptProvider``, from its own key: ``datamarket provider
   accept``), so a mistyped address strands nothing.
2. The content key, kept on the publisher's machine since it published (:mod:`content_keys`), is
   wrapped to the new provider's public encryption key, under the same context as before (the
   dataset and the offer it was first published with, never a wider one).
3. A new metadata document, the same but for the file's wrap and each service's provider URL and
   address, is stored and set on chain.

From then on the old provider cannot open the document's wrap and, once the change is accepted,
refuses the dataset outright (``not_this_provider``); only the new provider's quotes and
receipts count on chain. Each step can be run again: proposing again is harmless, and the document
is rebuilt from the chain's current one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from eth_utils import to_checksum_address

from datamarket.chain.market import Market
from datamarket.crypto import keys
from datamarket.crypto.contexts import content_context
from datamarket.errors import DatamarketError
from datamarket.metadata import document
from datamarket.sdk import content_keys
from datamarket.sdk.download import resolve
from datamarket.sdk.publish import encryption_key
from datamarket.storage.base import ContentStore, add_bytes


class ProviderChangeError(DatamarketError):
    code = "provider_change_failed"


@dataclass(frozen=True)
class ProviderChange:
    datatoken: str
    new_provider: str
    propose_tx: str
    metadata_tx: str
    metadata_cid: str


def set_provider(
    market: Market,
    store: ContentStore,
    datatoken: str,
    *,
    provider_info: dict,
    provider_url: str,
    keys_folder: Path,
) -> ProviderChange:
    """Propose the provider described by ``provider_info`` (its ``/info``: address and encryption
    key) for ``datatoken``, and publish the metadata that points to it, as the dataset's publisher."""
    datatoken = to_checksum_address(datatoken)
    publisher = market.account.address
    record = market.dataset(datatoken)
    if record.publisher != publisher:
        raise ProviderChangeError(
            "only the dataset's publisher can change its provider",
            details={"publisher": record.publisher, "caller": publisher},
        )
    try:
        new_provider = to_checksum_address(provider_info["address"])
    except (KeyError, TypeError, ValueError):
        raise ProviderChangeError("the new provider's info names no valid address") from None
    if new_provider == record.provider:
        raise ProviderChangeError("the dataset already has this provider", details={"provider": new_provider})
    public_key = encryption_key(provider_info)
    # Everything that can fail off chain is done before the first transaction.
    entry = content_keys.load(keys_folder, market.chain_id, market.address, datatoken)
    context = content_context(market.chain_id, market.address, datatoken, offer=entry.offer)
    wrapped = keys.wrap_key(entry.key, public_key, context=context)
    doc = resolve(market, store, datatoken).metadata
    updated = _moved(doc, wrapped, provider_url, new_provider)
    document.validate(updated)
    raw = document.canonical_bytes(updated)
    metadata_cid = add_bytes(store, raw)

    proposed = market.propose_provider(datatoken, new_provider)
    updated_tx = market.update_metadata(datatoken, metadata_cid, hashlib.sha256(raw).hexdigest())
    return ProviderChange(datatoken, new_provider, proposed.tx_hash, updated_tx.tx_hash, metadata_cid)


def _moved(doc: dict, wrapped: dict, provider_url: str, provider_address: str) -> dict:
    """A copy of ``doc`` with every file's wrap replaced by ``wrapped`` and every service pointing
    to the new provider."""
    files = [{**f, "encryption": {**f["encryption"], "wrapped_key": wrapped}} for f in doc["files"]]
    services = [
        {**s, "provider_url": provider_url, "provider_address": provider_address} for s in doc["services"]
    ]
    return {**doc, "files": files, "services": services}


__all__ = ["ProviderChange", "ProviderChangeError", "set_provider"]
