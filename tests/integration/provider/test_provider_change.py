"""A dataset moves to another provider, end to end: two served providers, the publisher's
``set_provider`` (propose on chain, content key wrapped to the new provider, new metadata), the new
provider's ``provider accept``, then downloads through the new provider while the old one refuses."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from datamarket.chain.devchain import DevChain
from datamarket.sdk import content_keys, download, publish
from datamarket.sdk.provider_change import ProviderChangeError, set_provider
from datamarket.sdk.provider_client import ProviderClient, ProviderRefused
from datamarket.storage.embedded import EmbeddedStore
from tests.conftest import World
from tests.integration.provider.serving import provider_cli, provider_env, serve_provider

pytestmark = pytest.mark.integration


def test_a_dataset_moves_to_another_provider(anvil: DevChain, world: World, tmp_path: Path) -> None:
    a = world.accounts
    shared = tmp_path / "store"  # one content store (IPFS in production) for everyone
    store = EmbeddedStore(shared)
    keys_folder = tmp_path / "publisher-keys"
    data = tmp_path / "data.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i % 7}\n" for i in range(300)))
    publisher, consumer = world.as_(a.publisher), world.as_(a.consumer)

    with (
        serve_provider(anvil, world, tmp_path / "old", a.provider, store=shared) as old_url,
        serve_provider(anvil, world, tmp_path / "new", a.stranger, store=shared) as new_url,
    ):
        old, new = ProviderClient(old_url), ProviderClient(new_url)
        published = publish.publish_file(
            publish.PublishRequest(path=data, name="moving", price=10**18, payment_token=world.usd),
            market=publisher, store=store, provider_info=old.info(), provider_url=old_url,
            keys_folder=keys_folder,
        )  # fmt: skip
        dt = published.datatoken
        kept = next(keys_folder.iterdir())
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert stat.S_IMODE(keys_folder.stat().st_mode) == 0o700
        first = download.download(consumer, store, old, dt, tmp_path / "first.csv")

        # Refusals before anything is sent: not the publisher, no key kept here, the same provider.
        with pytest.raises(ProviderChangeError, match="publisher"):
            set_provider(consumer, store, dt, provider_info=new.info(), provider_url=new_url,
                         keys_folder=keys_folder)  # fmt: skip
        with pytest.raises(content_keys.ContentKeyError, match="no content key"):
            set_provider(publisher, store, dt, provider_info=new.info(), provider_url=new_url,
                         keys_folder=tmp_path / "elsewhere")  # fmt: skip
        with pytest.raises(ProviderChangeError, match="already"):
            set_provider(publisher, store, dt, provider_info=old.info(), provider_url=old_url,
                         keys_folder=keys_folder)  # fmt: skip
        assert world.market.pending_provider(dt) == "0x" + "00" * 20

        change = set_provider(publisher, store, dt, provider_info=new.info(), provider_url=new_url,
                              keys_folder=keys_folder)  # fmt: skip
        assert world.market.pending_provider(dt) == a.stranger.address
        assert world.market.dataset(dt).provider == a.provider.address  # until the new one accepts
        doc = download.resolve(world.market, store, dt).metadata
        assert {s["provider_url"] for s in doc["services"]} == {new_url}
        assert {s["provider_address"] for s in doc["services"]} == {a.stranger.address}
        assert doc["files"][0]["cid"] == published.data_cid  # the same ciphertext, a new wrap of its key

        # Only the named provider can accept, with its own key.
        env, config = provider_env(anvil, world, tmp_path / "old", a.provider)
        refused = provider_cli(env, "accept", dt, "--config", str(config))
        assert refused.returncode == 1 and "has not named this provider" in refused.stderr
        env, config = provider_env(anvil, world, tmp_path / "new", a.stranger)
        accepted = provider_cli(env, "accept", dt, "--config", str(config))
        assert accepted.returncode == 0, accepted.stderr
        assert json.loads(accepted.stdout)["provider"] == a.stranger.address
        assert world.market.dataset(dt).provider == a.stranger.address

        second = download.download(consumer, store, new, dt, tmp_path / "second.csv")
        assert (tmp_path / "second.csv").read_bytes() == data.read_bytes()
        assert second.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
        # The old provider releases nothing for the dataset any more, not even for an old order.
        with pytest.raises(ProviderRefused) as caught:
            download.request_key(consumer, old, dt, first.order_tx, first.order_id)
        assert (caught.value.status, caught.value.code) == (403, "not_this_provider")
        assert change.metadata_cid == world.market.metadata_pointer(dt)[0]
