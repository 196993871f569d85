"""The IPFS node killed with SIGKILL in the middle of a publish and of a download, then started again
on its repo (``scripts/ipfs/start.sh``): the client gets ``store_unavailable``; the publish left
nothing on chain and publishing again works; what the node had added before the kill is still
there, pinned; the download left no partial file, and the same order downloads once the node is
back; the catalog equals the chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from datamarket.chain.quotes import SERVICE_DOWNLOAD
from datamarket.sdk import download, orders
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage.base import StorageError, cat_bytes
from tests.integration.compute.market import ONE, PUBLISHER
from tests.integration.faults.market import FaultMarket

pytestmark = pytest.mark.integration

BUYER = 4


class KillingStore:
    """The market's store, with the node killed by ``kill`` right before the ``when``-th call of
    ``method`` (the calls before it go through)."""

    def __init__(self, m: FaultMarket, method: str, when: int) -> None:
        self._m, self._method, self._when, self.calls = m, method, when, 0
        self.added: list[str] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._m.store, name)
        if name != self._method:
            return real
        return self._counted(real)

    def _counted(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._when:
                self._m.ipfs.kill()
            answer = real(*args, **kwargs)
            if self._method == "add":
                self.added.append(answer)
            return answer

        return call


def _publish(m: FaultMarket, store: Any, name: str) -> Any:
    return publish_file(
        PublishRequest(path=m.csv, name=name, price=ONE, payment_token=m.local.contracts["payment_token"]),
        market=m.consumer(PUBLISHER), store=store, provider_info=m.provider.info(),
        provider_url=m.provider.base_url,
    )  # fmt: skip


@pytest.fixture
def ipfs_back(fault_market: FaultMarket) -> Iterator[None]:
    yield
    if not fault_market.store_answers():
        fault_market.ipfs.start()


def test_a_publish_cut_by_the_node_leaves_nothing_on_chain_and_loses_no_content(
    fault_market: FaultMarket, ipfs_back: None
) -> None:
    m = fault_market
    datasets = m.market.dataset_count()
    store = KillingStore(m, "add", when=2)  # the encrypted file goes in, then the node dies
    with pytest.raises(StorageError) as cut:
        _publish(m, store, "cut short")
    assert cut.value.code == "store_unavailable"
    assert m.market.dataset_count() == datasets
    m.ipfs.start()
    [data_cid] = store.added
    assert cat_bytes(m.store, data_cid, max_size=10 * 2**20)  # added before the kill: still there
    assert m.store.pinned(data_cid)
    published = _publish(m, m.store, "published after the restart")
    assert m.market.dataset_count() == datasets + 1 and published.data_cid != data_cid  # a new content key
    m.assert_catalog_is_chain()


def test_a_download_cut_by_the_node_leaves_no_file_and_its_order_downloads_after(
    fault_market: FaultMarket, ipfs_back: None, tmp_path: Path
) -> None:
    m = fault_market
    buyer = m.consumer(BUYER)
    order_tx, order_id = orders.order_of(
        orders.order(buyer, m.provider, m.download_datatoken, SERVICE_DOWNLOAD)
    )
    out = tmp_path / "data.csv"
    store = KillingStore(m, "cat", when=2)  # the metadata document comes, then the node dies
    with pytest.raises(StorageError) as cut:
        download.download(
            buyer, store, m.provider, m.download_datatoken, out, order_tx=order_tx, order_id=order_id
        )
    assert cut.value.code == "store_unavailable"
    assert list(tmp_path.iterdir()) == []  # no partial file
    m.ipfs.start()
    download.download(
        buyer, m.store, m.provider, m.download_datatoken, out, order_tx=order_tx, order_id=order_id
    )
    assert out.read_bytes() == m.csv.read_bytes()
    m.assert_catalog_is_chain()
