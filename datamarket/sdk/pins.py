"""Keeping a publisher's content on IPFS through a remote pinning service (``datamarket pin``).

What to pin: a CID as it is, or a dataset, which is its encrypted file(s) and its metadata document
(without the document nobody can use the files: the provider, the indexer and buyers read it first).
Where the service gets the content from: the publisher's IPFS node, whose addresses go with each
request as its origins; the embedded store is on no network, so the service must then find the content
elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from datamarket.chain.market import Market, dataset_id
from datamarket.sdk.download import resolve
from datamarket.storage.base import ContentStore
from datamarket.storage.pin_status import MAX_NAME, Pin, PinStatus
from datamarket.storage.pinning import PinningService, is_loopback
from datamarket.storage.pinning import origins as origins_of


def dataset_pins(
    market: Market, store: ContentStore, datatoken: str, *, name: str | None = None
) -> list[Pin]:
    """The pins that keep a dataset usable: each encrypted file, then the metadata document, as the
    chain names it now (the document is fetched and checked against the hash on chain). Each is named
    ``name`` (default: the dataset's name) and tagged with the dataset's id in its ``meta``."""
    dataset = resolve(market, store, datatoken)
    label = name if name is not None else str(dataset.metadata["name"])
    tag = dataset_id(market.chain_id, datatoken)
    files = [
        Pin(cid=f["cid"], name=label[:MAX_NAME], meta={"datamarket_dataset": tag, "datamarket_part": "data"})
        for f in dataset.metadata["files"]
    ]
    document = Pin(
        cid=dataset.metadata_cid,
        name=f"{label[: MAX_NAME - 11]} (metadata)",
        meta={"datamarket_dataset": tag, "datamarket_part": "metadata"},
    )
    return [*files, document]


def node_origins(store_location: str, service_url: str) -> tuple[str, ...]:
    """The multiaddrs of the IPFS node at ``store_location`` (a kubo API URL) to give the service
    at ``service_url`` as origins; none for the embedded store, or a node that listens nowhere."""
    if not store_location.startswith(("http://", "https://")):
        return ()
    from datamarket.storage.kubo import KuboStore

    with KuboStore(store_location, timeout=10) as node:
        peer_id, addresses = node.identity()
    return origins_of(peer_id, addresses, local=is_loopback(urlsplit(service_url).hostname or ""))


def pin_all(
    service: PinningService,
    pins: list[Pin],
    *,
    origins: tuple[str, ...] = (),
    wait: bool,
    timeout: float,
    on_progress: Callable[[PinStatus], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> list[PinStatus]:
    """Ask ``service`` for every pin, each with ``origins``; with ``wait``, follow each until it is
    pinned, all within ``timeout`` seconds (PinFailed, PinWaitTimeout otherwise). Returns their last
    statuses."""
    import time

    clock = clock or time.monotonic
    deadline = clock() + timeout
    added = [service.add(replace(pin, origins=origins) if origins else pin) for pin in pins]
    if not wait:
        return added
    done = []
    for status in added:
        if status.status != "pinned":
            remaining = max(0.0, deadline - clock())
            status = service.wait(status.requestid, timeout=remaining, on_progress=on_progress, clock=clock)
        elif on_progress is not None:
            on_progress(status)
        done.append(status)
    return done


__all__ = ["dataset_pins", "node_origins", "pin_all"]
