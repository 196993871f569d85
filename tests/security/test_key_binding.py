"""A content key opens only its own dataset.

The victim is the market's compute-only dataset: its metadata document, file entry and wrapped key
included, is public, but its content key must never leave the provider. The attacker (dev account 7)
copies that file entry (CID, encryption, wrapped key) into a dataset they control and asks the
provider for the key, through ``/access`` (download service) and through a compute job:

(a) a dataset the attacker publishes themselves;
(b) a dataset of the victim's own publisher, handed to the attacker by ``transferDataset``/accept;
(c) a dataset of the victim's publisher that names the attacker its metadata updater.

Each is refused: ``/access`` answers 422 ``key_unwrap_failed`` (no key), and the compute job fails
``key_unavailable`` at staging, before any algorithm runs (no rows). Each wrap is bound to its
dataset's chain, market and datatoken (``datamarket.crypto.contexts``), so a wrap copied anywhere else
does not open, whoever publishes, owns or updates the target.

The wrap is also bound to what the publisher offered (``content:compute:…`` for a compute-only
dataset, ``content:download:…`` when it offers the download service). Whoever may rewrite a
compute-only dataset's own document (its delegated metadata updater, or a new owner after a transfer)
can make its compute service id say ``"type": "download"``, which the on-chain service bitmask still
allows: the order goes through, but ``/access`` opens only the download form, so it answers 422
``key_unwrap_failed``.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from datamarket import auth
from datamarket.chain.devchain import dev_account
from datamarket.chain.market import Market, PublishParams, epsilon_units
from datamarket.chain.quotes import SERVICE_COMPUTE, SERVICE_DOWNLOAD
from datamarket.metadata import document
from datamarket.sdk import download, jobs, orders, results
from datamarket.sdk.provider_client import ProviderRefused
from datamarket.sdk.publish import PublishRequest, publish_file
from datamarket.storage.base import add_bytes
from tests.integration.compute.market import JOBS, ONE, PUBLISHER, ComputeMarket

pytestmark = pytest.mark.integration

ATTACKER = 7
HOUR = 3600


def victim_entry(m: ComputeMarket) -> dict[str, Any]:
    """The victim dataset's file entry, as anyone reads it from its public metadata document."""
    victim = download.resolve(m.market, m.store, m.datatoken)
    assert {s["type"] for s in victim.metadata["services"]} == {"compute"}, "the victim is compute-only"
    return victim.metadata["files"][0]


def hostile_document(m: ComputeMarket, owner: str, entry: dict[str, Any]) -> tuple[str, str]:
    """A document that offers ``entry`` for download and for compute, trusting the test algorithms
    (the attacker vouches for their own code): (CID, sha256)."""
    info = m.provider.info()
    where = {"provider_url": m.provider.base_url, "provider_address": info["address"], "timeout": HOUR}
    doc = document.build_document(
        name="copied", description="someone else's file entry", tags=["attack"], license="CC0-1.0",
        publisher=owner, files=[entry], profile=None,
        services=[
            document.download_service(id=SERVICE_DOWNLOAD, **where),
            document.compute_service(
                id=SERVICE_COMPUTE, **where, epsilon_budget=10, delta=1e-5, max_epsilon_per_job=5,
                trusted_algorithms=tuple(m.trusted.values()), allow_any_algorithm=True,
            ),
        ],
    )  # fmt: skip
    raw = document.canonical_bytes(doc)
    return add_bytes(m.store, raw), "0x" + hashlib.sha256(raw).hexdigest()


def publisher_dataset(m: ComputeMarket, tmp_path: Path, *, download: bool = True) -> str:
    """Another dataset of the victim's publisher, on a file of its own, for compute and (unless
    ``download`` is false) for download. The package's shared victim, ``m.datatoken``, is left as it
    is for the other tests."""
    sample = tmp_path / "sample.csv"
    sample.write_text("a,b\n1,2\n3,4\n")
    published = publish_file(
        PublishRequest(
            path=sample, name="Sample", price=ONE, payment_token=m.local.contracts["payment_token"],
            download=download, compute=True, epsilon_budget=10, max_epsilon_per_job=5,
            trusted_algorithms=tuple(m.trusted.values()),
        ),
        market=m.market.as_account(dev_account(PUBLISHER)), store=m.store, provider_info=m.provider.info(),
        provider_url=m.provider.base_url,
    )  # fmt: skip
    return published.datatoken


def assert_no_key_and_no_rows(m: ComputeMarket, attacker: Market, datatoken: str, tmp_path: Path) -> None:
    """The attacker orders both services of ``datatoken`` and gets neither the key nor a run."""
    order = orders.order_of(orders.order(attacker, m.provider, datatoken, SERVICE_DOWNLOAD))
    with pytest.raises(ProviderRefused) as refused:
        download.request_key(attacker, m.provider, datatoken, *order)
    assert (refused.value.status, refused.value.code) == (422, "key_unwrap_failed"), refused.value

    handle = jobs.start_job(
        attacker, m.provider, m.store, datatoken, algorithm=JOBS / "slow.py", params={"seconds": 0.1},
        epsilon=None, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.2, timeout=120)
    assert final["state"] == "failed", final
    assert final["error"]["code"] == "key_unavailable", final
    assert "running" not in final["timings"], "the algorithm started"
    with pytest.raises(ProviderRefused):
        results.fetch_result(handle, m.store, tmp_path / "result")


def test_a_copied_wrap_in_the_attackers_own_dataset_does_not_open(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    attacker = m.market.as_account(dev_account(ATTACKER))
    cid, sha256 = hostile_document(m, attacker.account.address, victim_entry(m))
    published = attacker.publish(
        PublishParams(
            provider=m.provider.info()["address"], metadata_cid=cid, metadata_hash=sha256, services=0b11,
            epsilon_budget=epsilon_units(10), payment_token=m.local.contracts["payment_token"], price=ONE,
        )
    )  # fmt: skip
    assert_no_key_and_no_rows(m, attacker, published.datatoken, tmp_path)


def test_a_copied_wrap_in_a_dataset_received_by_transfer_does_not_open(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    attacker = m.market.as_account(dev_account(ATTACKER))
    datatoken = publisher_dataset(m, tmp_path)
    m.market.as_account(dev_account(PUBLISHER)).transfer_dataset(datatoken, attacker.account.address)
    attacker.accept_dataset(datatoken)
    assert m.market.dataset(datatoken).publisher == attacker.account.address

    attacker.update_metadata(datatoken, *hostile_document(m, attacker.account.address, victim_entry(m)))
    assert_no_key_and_no_rows(m, attacker, datatoken, tmp_path)


def test_a_copied_wrap_put_in_by_a_metadata_updater_does_not_open(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    attacker = m.market.as_account(dev_account(ATTACKER))
    datatoken = publisher_dataset(m, tmp_path)
    publisher = m.market.as_account(dev_account(PUBLISHER))
    publisher.set_metadata_updater(datatoken, attacker.account.address)

    # The document still names the real publisher: only the file entry is swapped.
    attacker.update_metadata(datatoken, *hostile_document(m, publisher.account.address, victim_entry(m)))
    assert_no_key_and_no_rows(m, attacker, datatoken, tmp_path)


def test_the_victims_own_wrap_still_opens_for_its_own_dataset(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    """The control: the same provider, key and flow release a dataset's key for that dataset; and a
    dataset offered for download and compute (a download-form wrap) still runs compute jobs."""
    m = compute_market
    buyer = m.market.as_account(dev_account(ATTACKER))
    datatoken = publisher_dataset(m, tmp_path)
    download.download(buyer, m.store, m.provider, datatoken, tmp_path / "got.csv")
    assert (tmp_path / "got.csv").read_bytes() == (tmp_path / "sample.csv").read_bytes()

    handle = jobs.start_job(
        buyer, m.provider, m.store, datatoken, algorithm=JOBS / "slow.py", params={"seconds": 0.1},
        epsilon=None, jobs_dir=tmp_path / "jobs",
    )  # fmt: skip
    final = jobs.wait(handle, poll_s=0.2, timeout=120)
    assert final["state"] == "succeeded", final


def compute_only_victim(m: ComputeMarket, tmp_path: Path) -> str:
    """A compute-only dataset of the victim's publisher."""
    datatoken = publisher_dataset(m, tmp_path, download=False)
    services = download.resolve(m.market, m.store, datatoken).metadata["services"]
    assert [(s["id"], s["type"]) for s in services] == [(SERVICE_COMPUTE, "compute")]
    assert m.market.dataset(datatoken).services == 1 << SERVICE_COMPUTE
    return datatoken


def compute_offered_as_download(m: ComputeMarket, datatoken: str, owner: str) -> tuple[str, str]:
    """The dataset's own document, its own file entry and wrap untouched, with its compute service id
    now offered as a download service: (CID, sha256)."""
    current = download.resolve(m.market, m.store, datatoken).metadata
    provider = m.provider.info()["address"]
    where = {"provider_url": m.provider.base_url, "provider_address": provider, "timeout": HOUR}
    doc = document.build_document(
        name=current["name"], description="now for download", tags=["attack"], license="CC0-1.0",
        publisher=owner, files=current["files"], profile=None,
        services=[document.download_service(id=SERVICE_COMPUTE, **where)],
    )  # fmt: skip
    raw = document.canonical_bytes(doc)
    return add_bytes(m.store, raw), "0x" + hashlib.sha256(raw).hexdigest()


def assert_compute_only_key_not_released(m: ComputeMarket, attacker: Market, datatoken: str) -> None:
    """The attacker orders the compute service id (now typed download) and asks ``/access`` for the key."""
    services = download.resolve(m.market, m.store, datatoken).metadata["services"]
    assert [(s["id"], s["type"]) for s in services] == [(SERVICE_COMPUTE, "download")], "the update took"
    order = orders.order_of(orders.order(attacker, m.provider, datatoken, SERVICE_COMPUTE))
    ask = download.sign_access(attacker, datatoken, *order)
    request = replace(ask.request, service_id=SERVICE_COMPUTE)
    signature = auth.sign_access_request(request, attacker.account.key, attacker.chain_id, attacker.address)
    with pytest.raises(ProviderRefused) as refused:
        m.provider.access(request.to_json(), signature)
    assert (refused.value.status, refused.value.code) == (422, "key_unwrap_failed"), refused.value


def test_a_metadata_updater_cannot_turn_a_compute_only_dataset_into_a_download(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    attacker = m.market.as_account(dev_account(ATTACKER))
    datatoken = compute_only_victim(m, tmp_path)
    publisher = m.market.as_account(dev_account(PUBLISHER))
    publisher.set_metadata_updater(datatoken, attacker.account.address)

    attacker.update_metadata(datatoken, *compute_offered_as_download(m, datatoken, publisher.account.address))
    assert_compute_only_key_not_released(m, attacker, datatoken)


def test_a_new_owner_cannot_turn_a_compute_only_dataset_into_a_download(
    compute_market: ComputeMarket, tmp_path: Path
) -> None:
    m = compute_market
    attacker = m.market.as_account(dev_account(ATTACKER))
    datatoken = compute_only_victim(m, tmp_path)
    m.market.as_account(dev_account(PUBLISHER)).transfer_dataset(datatoken, attacker.account.address)
    attacker.accept_dataset(datatoken)
    assert m.market.dataset(datatoken).publisher == attacker.account.address

    attacker.update_metadata(datatoken, *compute_offered_as_download(m, datatoken, attacker.account.address))
    assert_compute_only_key_not_released(m, attacker, datatoken)
