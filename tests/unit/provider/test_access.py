"""POST /api/v1/access on in-memory fakes: every check of grant_access, in order, and that a refused
request leaves the consumer's nonce where it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datamarket.chain.allowlist import Allowlist
from datamarket.chain.devchain import dev_account
from datamarket.chain.events import DatasetState
from datamarket.chain.market import dataset_id
from datamarket.crypto.contexts import COMPUTE
from datamarket.crypto.keys import unwrap_key
from tests.fakes import CHAIN_ID
from tests.unit.provider.scenario import DATA_CID, DATATOKEN, OTHER_DATATOKEN, Scenario

ACCESS = "/api/v1/access"


def refused(s: Scenario, body: dict, status: int, code: str) -> dict:
    """Post ``body``; it must be refused with ``status``/``code`` and leave the nonce unchanged."""
    before = s.last_nonce()
    response = s.client.post(ACCESS, json=body)
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.json
    assert s.last_nonce() == before
    return response.json["error"]


def test_happy_path_releases_the_content_key(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    req = s.request(tx)
    response = s.client.post(ACCESS, json=s.body(req))
    assert response.status_code == 200, response.json
    context = f"access:{dataset_id(CHAIN_ID, DATATOKEN)}:{tx}"
    assert unwrap_key(response.json["wrapped_key"], s.one_time, context=context) == s.content_key
    assert response.json["file"]["cid"] == DATA_CID
    assert s.last_nonce() == req.nonce
    assert s.client.get(f"/api/v1/nonce?address={s.consumer.address}").json["nonce"] == str(req.nonce)


def test_the_same_request_twice_is_refused_the_second_time(scenario: Scenario) -> None:
    s = scenario
    body = s.body(s.request(s.order()))
    assert s.client.post(ACCESS, json=body).status_code == 200
    calls = s.chain.calls
    refused(s, body, 409, "nonce_used")
    assert s.chain.calls == calls, "a replay is refused before any chain call"


def test_any_unused_nonce_is_accepted_once_in_any_order(scenario: Scenario) -> None:
    s = scenario
    tx, t = s.order(), s.now_ms
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=t))).status_code == 200
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=t - 5))).status_code == 200
    assert s.last_nonce() == t
    refused(s, s.body(s.request(tx, nonce=t)), 409, "nonce_used")
    refused(s, s.body(s.request(tx, nonce=t - 5)), 409, "nonce_used")
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=t + 1))).status_code == 200


def test_nonce_window(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    low, high = s.now_ms - 60_000, s.now_ms + 60_000
    error = refused(s, s.body(s.request(tx, nonce=high + 1)), 422, "nonce_in_future")
    assert error["details"] == {"max": high}
    error = refused(s, s.body(s.request(tx, nonce=low - 1)), 422, "nonce_expired")
    assert error["details"] == {"min": low, "nonce": low - 1}
    calls = s.chain.calls
    refused(s, s.body(s.request(tx, nonce=0)), 400, "invalid_nonce")
    assert s.chain.calls == calls, "refused before any chain call"
    for edge in (high, low):
        assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=edge))).status_code == 200


def test_the_window_moves_with_the_providers_clock(scenario: Scenario) -> None:
    s = scenario
    tx, t = s.order(), s.now_ms
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=t))).status_code == 200
    s.now[0] += 60
    assert s.last_nonce() == t, "the boundary is still in the window"
    refused(s, s.body(s.request(tx, nonce=t)), 409, "nonce_used")
    s.now[0] += 1
    assert s.last_nonce() == 0
    refused(s, s.body(s.request(tx, nonce=t)), 422, "nonce_expired")
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=s.now_ms))).status_code == 200
    s.now[0] -= 120  # the clock steps back: what the store has let expire stays expired
    error = refused(s, s.body(s.request(tx, nonce=t)), 422, "nonce_expired")
    assert error["details"]["min"] == t + 1000


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b.pop("signature"), "invalid_request"),
        (lambda b: b.update(extra=1), "invalid_request"),
        (lambda b: b["request"].update(extra=1), "invalid_request"),
        (lambda b: b["request"].pop("nonce"), "invalid_request"),
        (lambda b: b["request"].update(nonce="05"), "invalid_request"),
        (lambda b: b["request"].update(nonce="-5"), "invalid_request"),
        (lambda b: b["request"].update(nonce="5.0"), "invalid_request"),
        (lambda b: b["request"].update(orderId="01"), "invalid_request"),
        (lambda b: b["request"].update(nonce=1.5), "invalid_request"),
        (lambda b: b["request"].update(nonce=True), "invalid_request"),
        (lambda b: b["request"].update(nonce=-1), "invalid_request"),
        (lambda b: b["request"].update(serviceId=256), "invalid_request"),
        (
            lambda b: b["request"].update(consumer="0x" + b["request"]["consumer"][2:].swapcase()),
            "invalid_request",
        ),
        (lambda b: b["request"].update(datatoken="0x1234"), "invalid_request"),
        (lambda b: b["request"].update(orderTx="0x12"), "invalid_request"),
        (lambda b: b["request"].update(consumerKey="11" * 32), "invalid_request"),
        (lambda b: b.update(allowlist_proof="0x" + "00" * 32), "invalid_request"),
        (lambda b: b.update(allowlist_proof=["0x00"]), "invalid_request"),
        (lambda b: b.update(allowlist_proof=["0x" + "00" * 32] * 65), "invalid_request"),
        (lambda b: b.update(request=[]), "invalid_request"),
    ],
)
def test_malformed_bodies_are_400(scenario: Scenario, mutate, code: str) -> None:
    s = scenario
    body = s.body(s.request(s.order()))
    mutate(body)
    refused(s, body, 400, code)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"null",
        b'{"request": NaN}',
        b'{"a": 1, "a": 2}',
        b"\xff\xfe\x00",
        b"[" * 100_00 + b"]" * 10_000,
    ],
)
def test_bodies_that_are_not_a_json_object_are_invalid_json(scenario: Scenario, raw: bytes) -> None:
    response = scenario.client.post(ACCESS, data=raw, content_type="application/json")
    assert (response.status_code, response.json["error"]["code"]) == (400, "invalid_json")


def test_a_body_that_cannot_be_read_is_400_not_500(scenario: Scenario) -> None:
    """A chunked body with a bad chunk size: gunicorn raises its own error from the input stream."""

    class MalformedChunk(Exception):
        pass

    class Stream:
        def read(self, *_: object) -> bytes:
            raise MalformedChunk("Invalid chunk size: b'zz'")

        readline = readinto = read

    response = scenario.client.post(
        ACCESS, data=b"{}" * 5, content_type="application/json", environ_overrides={"wsgi.input": Stream()}
    )
    assert (response.status_code, response.json["error"]["code"]) == (400, "bad_request")
    assert "zz" not in response.json["error"]["message"]


def test_a_body_over_64_kib_is_413(scenario: Scenario) -> None:
    response = scenario.client.post(ACCESS, data=b"x" * (64 * 1024 + 1), content_type="application/json")
    assert (response.status_code, response.json["error"]["code"]) == (413, "request_too_large")


def test_signature_checks(scenario: Scenario) -> None:
    s = scenario
    req = s.request(s.order())
    good = s.body(req)
    refused(s, {**good, "signature": "0x" + "00" * 65}, 401, "invalid_signature")
    refused(s, {**good, "signature": "0x1234"}, 401, "invalid_signature")
    refused(s, s.body(req, signer=dev_account(4)), 401, "invalid_signature")
    refused(s, s.body(req, chain_id=1), 401, "invalid_signature")
    refused(s, s.body(req, market=OTHER_DATATOKEN), 401, "invalid_signature")
    # The same signature over a changed request no longer matches.
    tampered = s.body(req)
    tampered["request"]["serviceId"] = 1
    refused(s, tampered, 401, "invalid_signature")


def test_order_checks(scenario: Scenario) -> None:
    s = scenario
    other = dev_account(4)
    refused(s, s.body(s.request("0x" + "99" * 32)), 404, "order_not_found")
    refused(s, s.body(s.request(s.order(status=0))), 403, "order_reverted")
    refused(s, s.body(s.request(s.order(market=OTHER_DATATOKEN))), 403, "not_an_order")
    refused(s, s.body(s.request(s.order(datatoken=OTHER_DATATOKEN))), 403, "order_wrong_dataset")
    refused(s, s.body(s.request(s.order(service_id=1))), 403, "order_wrong_service")
    refused(s, s.body(s.request(s.order(consumer=other.address))), 403, "order_wrong_consumer")
    refused(s, s.body(s.request(s.order(provider=other.address))), 403, "order_wrong_provider")
    refused(s, s.body(s.request(s.order(), order_id=99)), 403, "order_not_in_tx")


def test_each_order_of_a_transaction_is_its_own(scenario: Scenario) -> None:
    """A contract that orders for several consumers in one transaction: each consumer's request names
    its own order id, and another's id in the same transaction is refused."""
    s = scenario
    other = dev_account(4)
    first, second = s.order(consumer=other.address), s.order()
    both = s.chain.txs[first].orders + s.chain.txs[second].orders
    s.chain.txs[first] = replace(s.chain.txs[first], orders=both)
    assert s.client.post(ACCESS, json=s.body(s.request(first, order_id=both[1].order_id))).status_code == 200
    request = s.request(first, order_id=both[0].order_id, nonce=s.request(first).nonce + 1)
    refused(s, s.body(request), 403, "order_wrong_consumer")


def test_a_dataset_moved_to_another_provider_gets_no_key_here(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    new_provider = dev_account(6).address
    s.chain.datasets[DATATOKEN] = replace(s.chain.datasets[DATATOKEN], provider=new_provider)
    error = refused(s, s.body(s.request(tx)), 403, "not_this_provider")
    assert error["details"] == {"provider": new_provider}


def test_pending_and_unconfirmed_orders_are_409(scenario: Scenario, tmp_path) -> None:
    s = scenario
    from datamarket.chain.reader import OrderTx

    tx = "0x" + "77" * 32
    s.chain.txs[tx] = OrderTx(tx, None, None, None)
    error = refused(s, s.body(s.request(tx)), 409, "order_pending")
    assert error["details"] == {"confirmations": 0, "required": 1}


def test_dataset_state_and_allowlist(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    for state in (DatasetState.PAUSED, DatasetState.RETIRED):
        s.chain.set_state(DATATOKEN, state)
        error = refused(s, s.body(s.request(tx)), 403, "dataset_not_active")
        assert error["details"] == {"state": state.name.lower()}
    s.publish(DATATOKEN, allowlist_root=Allowlist.of([s.consumer.address, dev_account(5).address]).root)
    tree = Allowlist.of([s.consumer.address, dev_account(5).address])
    refused(s, s.body(s.request(tx)), 403, "not_allowlisted")
    refused(s, s.body(s.request(tx), proof=tree.proof(dev_account(5).address)), 403, "not_allowlisted")
    response = s.client.post(ACCESS, json=s.body(s.request(tx), proof=tree.proof(s.consumer.address)))
    assert response.status_code == 200


def test_expiry_follows_the_service_timeout(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    started = s.chain.txs[tx].block_timestamp
    s.chain.latest = type(s.chain.latest)(s.chain.latest.number, started + 3600)
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=s.now_ms - 1))).status_code == 200
    s.chain.latest = type(s.chain.latest)(s.chain.latest.number, started + 3601)
    error = refused(s, s.body(s.request(tx, nonce=s.now_ms - 2)), 410, "order_expired")
    assert error["details"] == {"expired_at": started + 3600, "now": started + 3601}


def test_timeout_zero_never_expires(scenario: Scenario) -> None:
    s = scenario
    s.publish(DATATOKEN, timeout=0)
    tx = s.order()
    s.chain.mine(blocks=1, seconds=10**9)
    assert s.client.post(ACCESS, json=s.body(s.request(tx))).status_code == 200


def test_compute_orders_release_no_key(scenario: Scenario) -> None:
    s = scenario
    tx = s.order(service_id=1)
    refused(s, s.body(s.request(tx, service_id=1)), 403, "service_not_downloadable")


def test_metadata_problems(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    pointer = s.chain.pointers[DATATOKEN]
    # The chain's hash no longer matches the stored document.
    record = s.chain.datasets[DATATOKEN]
    s.chain.datasets[DATATOKEN] = type(record)(**{**record.__dict__, "metadata_hash": "0x" + "00" * 32})
    refused(s, s.body(s.request(tx)), 422, "metadata_hash_mismatch")
    s.chain.datasets[DATATOKEN] = record
    del s.store.blobs[pointer.cid]
    error = refused(s, s.body(s.request(tx)), 503, "metadata_unavailable")
    assert "/secret" not in str(error)
    del s.chain.pointers[DATATOKEN]
    refused(s, s.body(s.request(tx)), 422, "metadata_invalid")


def test_a_key_wrapped_to_another_provider_key_is_422(scenario: Scenario) -> None:
    s = scenario
    other = type(s.keys)(s.keys.directory.parent / "other")
    other.generate()
    s.keys = other  # the publish below wraps to a key this provider does not hold
    s.publish(DATATOKEN)
    refused(s, s.body(s.request(s.order())), 422, "unknown_key")


def test_a_low_order_consumer_key_is_refused(scenario: Scenario) -> None:
    s = scenario
    refused(s, s.body(s.request(s.order(), consumer_key="0x" + "00" * 32)), 400, "invalid_public_key")


def test_chain_unavailable_is_503_and_changes_nothing(scenario: Scenario) -> None:
    s = scenario
    tx = s.order()
    s.chain.down = True
    error = refused(s, s.body(s.request(tx)), 503, "chain_unavailable")
    assert error["message"] == "the chain node is unavailable"


def test_nonce_query_validates_the_address(scenario: Scenario) -> None:
    c = scenario.client
    assert c.get("/api/v1/nonce").status_code == 400
    assert c.get("/api/v1/nonce?address=0xabc").json["error"]["code"] == "invalid_request"
    address = scenario.consumer.address
    assert c.get(f"/api/v1/nonce?address=0x{address[2:].swapcase()}").status_code == 400
    for spelled in (address, address.lower(), "0x" + address[2:].upper()):
        assert c.get(f"/api/v1/nonce?address={spelled}").json == {"address": address, "nonce": "0"}


class CountingStore:
    """Wraps the scenario's store and counts reads."""

    def __init__(self, inner) -> None:
        self.inner, self.reads = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def cat(self, cid: str):
        self.reads += 1
        return self.inner.cat(cid)


def test_metadata_documents_are_cached_by_the_hash_on_chain(scenario: Scenario) -> None:
    s = scenario
    ctx = s.app.extensions["datamarket_provider"]
    counting = CountingStore(s.store)
    object.__setattr__(ctx, "store", counting)
    tx = s.order()
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=s.now_ms - 1))).status_code == 200
    assert s.client.post(ACCESS, json=s.body(s.request(tx, nonce=s.now_ms - 2))).status_code == 200
    assert counting.reads == 1, "the second access reuses the verified document"
    # A metadata update puts a new hash on chain: the next access loads the new document.
    s.publish(DATATOKEN, timeout=1)
    s.now[0] += 5
    refused(s, s.body(s.request(tx, nonce=s.now_ms)), 410, "order_expired")
    assert counting.reads == 2


def test_a_wrap_copied_into_another_publishers_dataset_does_not_open(scenario: Scenario) -> None:
    """Mallory copies Alice's public metadata (file CID and wrapped key) into her own dataset on the
    same provider and orders it: the provider must not release Alice's content key."""
    s = scenario
    from dataclasses import replace

    alice = s.chain.pointers[DATATOKEN]
    s.chain.datasets[OTHER_DATATOKEN] = s.chain.datasets[DATATOKEN]
    s.chain.pointers[OTHER_DATATOKEN] = replace(alice, publisher=dev_account(5).address)
    tx = s.order(datatoken=OTHER_DATATOKEN)
    refused(s, s.body(s.request(tx, datatoken=OTHER_DATATOKEN)), 422, "key_unwrap_failed")
    # Alice's own dataset still opens.
    assert s.client.post(ACCESS, json=s.body(s.request(s.order()))).status_code == 200


def test_a_compute_only_wrap_does_not_open_under_a_download_service(scenario: Scenario) -> None:
    """The key was wrapped for compute only; the document (which its owner or metadata updater may
    rewrite) now names a download service: the provider must still not release the key."""
    s = scenario
    s.publish(DATATOKEN, offer=COMPUTE)
    refused(s, s.body(s.request(s.order())), 422, "key_unwrap_failed")
